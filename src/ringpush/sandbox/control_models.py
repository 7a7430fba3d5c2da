"""The control API's bodies, queries and answers, as pydantic models: what
:mod:`ringpush.sandbox.control_api` reads and writes, and what its OpenAPI document
shows (each field described)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    StringConstraints,
    model_validator,
)

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType

NonEmpty = Annotated[str, StringConstraints(min_length=1)]

# -- request bodies and queries ----------------------------------------------------------


class _Body(BaseModel):
    """A request body; unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore")


class TokenIn(_Body):
    """A device token to issue, as APNs would hand one to an installed app."""

    bundle_id: NonEmpty = Field(
        description="The app's bundle id; pushes to the token must use its topic"
        " (the bundle id plus the push type's suffix, e.g. `.voip`).",
        examples=["com.example.app"],
    )
    push_type: PushType = Field(
        default=PushType.VOIP,
        description="The push type the token is for (PushKit issues VoIP tokens, the"
        " UserNotifications framework alert ones); it fixes the topic.",
    )
    environment: Environment = Field(
        default=Environment.DEVELOPMENT,
        description="The APNs environment the app is signed for: a development token"
        " sent to the production port is `400 BadDeviceToken`, as on APNs.",
    )


class CertificateIn(_Body):
    """A client certificate to mint, for certificate-based (TLS) authentication."""

    bundle_id: NonEmpty = Field(
        description="The app the certificate is for; it covers the bundle id and its"
        " `.voip` and `.complication` topics.",
        examples=["com.example.app"],
    )
    environment: Environment | None = Field(
        default=None,
        description="Restrict the certificate to one environment's port (the other"
        " answers `403 BadCertificateEnvironment`); null or omitted: both, like a"
        ' "Sandbox & Production" certificate.',
    )


class KeyIn(_Body):
    """A signing key whose provider tokens (JWTs) the sandbox is to accept.

    Give the key in one of ``public_key_pem``, ``private_key_pem`` or ``pem`` (the first
    one set, in that order, is used). Only the public half is kept: the sandbox verifies
    tokens, it never signs them. Registering a key id again replaces it.
    """

    key_id: NonEmpty = Field(
        description="The key's 10-character id (upper-case letters and digits): the `kid`"
        " in the provider token's header. Another form is `422 invalid_key`.",
        examples=["ABC123DEFG"],
    )
    team_id: NonEmpty = Field(
        description="The 10-character id of the team that owns the key: the token's `iss`"
        " claim must match it (else `403 InvalidProviderToken`). Another form is"
        " `422 invalid_key`.",
        examples=["DEF123GHIJ"],
    )
    public_key_pem: NonEmpty | None = Field(
        default=None,
        description="The P-256 public key as PEM (`-----BEGIN PUBLIC KEY-----`).",
    )
    private_key_pem: NonEmpty | None = Field(
        default=None,
        description="Or the `.p8` file Apple hands out (`-----BEGIN PRIVATE KEY-----`):"
        " its public half is kept, the private key is not stored.",
    )
    pem: NonEmpty | None = Field(
        default=None,
        description="Or either kind of PEM under a neutral name.",
    )
    environment: Environment | None = Field(
        default=None,
        description="Restrict the key to one environment: its tokens on the other port"
        " get `403 BadEnvironmentKeyIdInToken`. Null or omitted: both (a team key).",
    )
    bundle_ids: list[StrictStr] | None = Field(
        default=None,
        description="Make it a topic-specific key: its tokens are accepted only for"
        " pushes to these apps (their bundle ids; each covers the app's topics), others"
        " get `403 InvalidProviderToken`. Null or omitted: every app of the team.",
    )

    @model_validator(mode="after")
    def _has_a_key(self) -> KeyIn:
        if self.key_pem is None:
            raise ValueError("give public_key_pem or private_key_pem")
        return self

    @property
    def key_pem(self) -> str | None:
        return self.public_key_pem or self.private_key_pem or self.pem


def _no_defaults(schema: dict[str, Any]) -> None:
    """An omitted knob keeps its value: the schema shows no default for any."""
    for prop in schema.get("properties", {}).values():
        prop.pop("default", None)


class FaultsIn(BaseModel):
    """The fault knobs to change: any subset, the others keep their values. A wrong value
    is `422 invalid_fault`, a knob not listed here `422 unknown_fault`; either way none
    of the changes is applied."""

    # This model documents the body only: the values go to Faults.update, whose checks
    # and error codes are the API's. Its defaults are the knobs' "off" values.
    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_defaults)

    error_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share (0..1) of otherwise-valid pushes answered with `error_status`"
        " instead of being accepted (not stored). Off: 0.",
    )
    error_status: Literal[500, 503] = Field(
        default=500,
        description="The status `error_rate` answers: 500 InternalServerError or 503"
        " ServiceUnavailable. Default: 500.",
    )
    too_many_requests_tokens: list[str] = Field(
        default_factory=list,
        description="Device tokens (hex) whose pushes get `429 TooManyRequests`; the list"
        " replaces the previous one. Off: [].",
    )
    latency_ms: float = Field(
        default=0.0,
        ge=0,
        le=60_000,
        description="Milliseconds each answer waits; other streams are not held up. Off: 0.",
    )
    goaway_after_streams: int | None = Field(
        default=None,
        ge=1,
        description="After this many streams a connection gets a graceful GOAWAY"
        ' (NO_ERROR, `{"reason":"Shutdown"}`), answers the streams up to the last one'
        " and closes: tests reconnecting. Off: null.",
    )
    reset_after_streams: int | None = Field(
        default=None,
        ge=1,
        description="The Nth accepted push of a connection is stored, then the TCP"
        " connection is dropped before the answer: taken, but the client never learns"
        " (tests resending and duplicate handling). Off: null.",
    )
    shutdown: bool = Field(
        default=False,
        description="Every otherwise-valid push is answered `503 Shutdown`. Off: false.",
    )
    reset_stream_code: int | None = Field(
        default=None,
        ge=1,
        le=13,
        description="Every push's stream is reset (RST_STREAM) with this HTTP/2 error code"
        " before it is looked at: 1 (PROTOCOL_ERROR) is what a strict peer sends for a"
        " malformed request, 7 (REFUSED_STREAM) one it did not process. Off: null.",
    )


class NotificationsQuery(_Body):
    """Filters of GET /notifications; an empty value is no filter."""

    token: str | None = Field(
        default=None, description="Only pushes to this device token (any case)."
    )
    apns_id: str | None = Field(
        default=None, description="Only the push with this apns-id (the answer's header)."
    )
    environment: Environment | None = Field(
        default=None, description="Only pushes accepted on this environment's port."
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {name: value for name, value in data.items() if value}
        return data


# -- answers --------------------------------------------------------------------------


class _Out(BaseModel):
    """An answer's body. Its fields are what the sandbox's ``to_json`` gives: a key one
    adds that the model lacks fails the route's test rather than vanish unseen."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    code: str = Field(
        description="Stable and machine-readable: `invalid_json`, `invalid_field`,"
        " `invalid_fault`, `unknown_fault`, `unknown_token`, `invalid_key`, `not_found`,"
        " `method_not_allowed`."
    )
    message: str = Field(description="For a person; names the field when one is wrong.")


class ErrorOut(BaseModel):
    """Every error answer of the control API, whatever its status."""

    error: ErrorDetail


class HealthOut(_Out):
    status: Literal["ok"] = Field(description="Always `ok` while the sandbox runs.")
    ports: dict[str, int] = Field(
        description="The APNs (HTTP/2, TLS) port of each environment served, by name.",
        examples=[{"development": 2197}],
    )


class IssuedTokenOut(_Out):
    token: str = Field(description="The new device token: 64 lower-case hex characters.")
    bundle_id: str
    push_type: PushType
    environment: Environment
    topic: str = Field(description="The apns-topic pushes to this token must carry.")


class UninstalledOut(_Out):
    token: str = Field(description="The token, lower case.")
    uninstalled_at_ms: int = Field(
        description="When the app was uninstalled (ms since the epoch): the `timestamp`"
        " of the `410 Unregistered` answer pushes to the token get from now on."
    )


class NotificationOut(_Out):
    """One push the sandbox accepted (answered 200)."""

    environment: Environment = Field(description="The port it came in on.")
    token: str = Field(description="The device token of the request path, lower case.")
    topic: str = Field(description="Its apns-topic.")
    push_type: PushType = Field(description="Its apns-push-type.")
    apns_id: str = Field(description="The apns-id it was answered with.")
    unique_id: str | None = Field(
        description="The apns-unique-id it was answered with (development only, as APNs)."
    )
    headers: dict[str, str] = Field(
        description="The request headers as received; the provider token is redacted."
    )
    payload: Any = Field(description="The body, as JSON.")
    time: float = Field(description="When it was accepted (seconds since the epoch).")
    received_at_ms: int = Field(description="The same in milliseconds.")
    connection_id: int = Field(
        description="Which connection sent it (in order of opening, from 1)."
    )


class FaultsOut(_Out):
    """Every fault knob's current value (see POST /faults for what each does)."""

    error_rate: float
    error_status: Literal[500, 503]
    too_many_requests_tokens: list[str] = Field(description="Sorted, lower case.")
    latency_ms: float
    goaway_after_streams: int | None
    reset_after_streams: int | None
    shutdown: bool
    reset_stream_code: int | None


class ResetOut(_Out):
    status: Literal["reset"]


class CertificateOut(_Out):
    certificate_pem: str = Field(description="The client certificate, PEM.")
    key_pem: str = Field(description="Its private key, PEM (unencrypted).")
    bundle_id: str


class KeyOut(_Out):
    key_id: str
    team_id: str
    environment: Environment | None = Field(
        description="The one environment it is for; null: both."
    )


class StatsOut(_Out):
    """Counters since the start (or the last POST /reset)."""

    accepted: int = Field(description="Pushes answered 200.")
    rejected: dict[str, int] = Field(description="Pushes refused, by APNs reason.")
    rejected_total: int
    connections_opened: int
    streams_refused: int = Field(
        description="Streams over the advertised SETTINGS_MAX_CONCURRENT_STREAMS."
    )
    streams_reset: int = Field(description="Streams reset by the `reset_stream_code` fault.")
    faults_applied: dict[str, int] = Field(description="Answers a fault caused, by reason.")
    provider_tokens: dict[str, int] = Field(
        description="Distinct provider tokens (by `iat`) adopted, by key id, over all"
        " connections: whether several senders of one key behave as one provider."
    )


class DeviceOut(_Out):
    """A simulated device (made from Python with ``Sandbox.device``)."""

    name: str
    install_id: str = Field(description="Changes with every reinstall.")
    bundle_id: str
    environment: Environment
    installed: bool
    tokens: dict[str, str] = Field(description="Its tokens by push type, masked.")
    received: int = Field(description="Pushes that reached the phone.")
    dropped: int = Field(description="Of those, pushes the app never saw.")
    report_failures: list[str] = Field(
        description="Each VoIP push the app failed to report to CallKit in time, why."
    )
    voip_blocked_reason: str | None = Field(
        description="Set once iOS stops delivering VoIP pushes to this install."
    )
    ringing: list[str] = Field(description="UUIDs of the CallKit calls ringing now.")
