"""Request and response bodies of the HTTP API (validated by pydantic, shown in /docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.platforms import FCM, MAX_FCM_TOKEN_LENGTH, Channel, Platform, PushKind
from ringpush.registry.call_models import CallState
from ringpush.registry.call_models import EndReason as EndReasonName

_ID = r"^[A-Za-z0-9._:@-]{1,128}$"
_APNS_URL = r"^https://[^/\s,=]+$"


#: The largest ``apns-expiration`` taken: UNIX seconds in 32 bits (APNs keeps a push 30
#: days at most anyway); beyond it the databases' integers overflow.
MAX_EXPIRATION = 2**32 - 1


def _unencodable(value: object) -> bool:
    """A string (anywhere inside) that is not text: an unpaired surrogate such as
    ``"\\ud800"``, which JSON lets through and UTF-8 cannot carry."""
    if isinstance(value, str):
        if value.isascii():  # the usual case, without encoding it
            return False
        try:
            value.encode()
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_unencodable(k) or _unencodable(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_unencodable(item) for item in value)
    return False


class Strict(BaseModel):
    """Every request body: unknown fields refused, and every string in it real text."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _text_only(cls, value: Any) -> Any:
        if _unencodable(value):
            raise ValueError("contains an unpaired surrogate (such as \\ud800), which is not text")
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("contains a NUL character")
        return value


class ErrorDetail(BaseModel):
    code: str = Field(description="machine-readable, such as unauthorized or invalid_field")
    message: str = Field(description="for a person; names the field when one is wrong")


class ErrorOut(BaseModel):
    """Every error answer of the API, whatever its status."""

    error: ErrorDetail


class AppIn(Strict):
    bundle_id: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.-]+$")
    team_id: str | None = Field(default=None, pattern=r"^[A-Z0-9]{10}$")
    key_id: str | None = Field(default=None, pattern=r"^[A-Z0-9]{10}$")
    signing_key: str | None = Field(default=None, description=".p8 PEM; never returned")
    certificate: str | None = Field(
        default=None, description="PEM certificate and key; never returned"
    )
    default_environment: Environment = Environment.PRODUCTION
    apns_url: str | None = Field(
        default=None,
        pattern=_APNS_URL,
        description="APNs base URL (https://host[:port]) for both environments",
    )
    apns_url_development: str | None = Field(
        default=None, pattern=_APNS_URL, description="for the development environment"
    )
    apns_url_production: str | None = Field(
        default=None, pattern=_APNS_URL, description="for the production environment"
    )
    ca_pem: str | None = None
    fcm_service_account: dict[str, Any] | None = Field(
        default=None,
        description="FCM: the service account's JSON as the Firebase console gives it"
        " (project_id, private_key_id, private_key, client_email, token_uri); never"
        " returned",
    )
    fcm_url: str | None = Field(
        default=None,
        pattern=_APNS_URL,
        description="FCM HTTP v1 base URL (https://host[:port]) when not Google's (a sandbox)",
    )
    fcm_ca_pem: str | None = Field(default=None, description="a CA to trust for fcm_url")

    @field_validator("signing_key", "certificate", "ca_pem", "fcm_ca_pem", mode="after")
    @classmethod
    def _pem(cls, value: str | None) -> str | None:
        if value is not None and not value.isascii():
            raise ValueError("must be PEM text (ASCII only)")
        return value


class AppOut(BaseModel):
    app_id: str
    bundle_id: str
    team_id: str | None
    key_id: str | None
    auth: str
    default_environment: Environment
    apns_url: str | None
    apns_url_development: str | None
    apns_url_production: str | None
    fcm_project_id: str | None = Field(description="the FCM service account's project")
    fcm_client_email: str | None
    fcm_key_id: str | None = Field(description="the service account key's private_key_id")
    fcm_url: str | None
    created_at: datetime | None
    updated_at: datetime | None


class UserTokenIn(Strict):
    user_id: str = Field(pattern=_ID)
    ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)


class UserTokenOut(BaseModel):
    token: str
    user_id: str
    app_id: str
    expires_in: int


class ServiceKeyIn(Strict):
    name: str = Field(default="default", min_length=1, max_length=64)


class ServiceKeyOut(BaseModel):
    key: str
    app_id: str
    name: str


class DeviceIn(Strict):
    platform: Platform = Field(
        Platform.APNS,
        description="apns: an iPhone's token for one push type and APS environment; fcm:"
        " an Android install's FCM registration token (one per install; no push_type or"
        " environment)",
    )
    token: str = Field(
        min_length=1,
        max_length=MAX_FCM_TOKEN_LENGTH,
        description="APNs: the device token, hex; FCM: the registration token, as given",
    )
    push_type: PushType | None = Field(None, description="APNs only (default voip)")
    environment: Environment | None = Field(
        None, description="APNs only, required: the APS environment of the app's build"
    )
    install_secret: str | None = Field(
        None,
        min_length=22,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="a random secret the app makes once per install and keeps (the iOS"
        " keychain), sent with every registration: a token another user registered"
        " moves to this user only when this is the secret it was registered with (the"
        " same phone, signed in as someone else) or after APNs reported the token"
        " invalid; otherwise 409 device_token_unavailable",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _fits_its_platform(
        cls, data: Any, handler: ModelWrapValidatorHandler[DeviceIn]
    ) -> DeviceIn:
        """An APNs registration needs its environment: named beside every other invalid
        field (a 422 lists them all), so checked around the field checks."""
        missing = (
            isinstance(data, dict)
            and data.get("platform", Platform.APNS.value) != Platform.FCM.value
            and data.get("environment") is None
        )
        try:
            device = handler(data)
        except ValidationError as exc:
            if not missing:
                raise
            errors: list[Any] = [
                {"type": error["type"], "loc": error["loc"], "input": error["input"],
                 "ctx": error.get("ctx", {})}
                for error in exc.errors()
            ]  # fmt: skip
            errors.append({"type": "missing", "loc": ("environment",), "input": data})
            raise ValidationError.from_exception_data(exc.title, errors) from None
        wrong = None
        if device.platform is Platform.FCM:
            given = [name for name in ("push_type", "environment") if getattr(device, name)]
            if given:
                wrong = {
                    "type": "value_error",
                    "loc": (given[0],),
                    "input": data,
                    "ctx": {"error": ValueError("an fcm registration takes none (APNs only)")},
                }
        elif missing:
            wrong = {"type": "missing", "loc": ("environment",), "input": data}
        if wrong is not None:
            raise ValidationError.from_exception_data(cls.__name__, [wrong])  # type: ignore[list-item]
        return device

    @property
    def kind(self) -> PushKind:
        """What the registry stores it as."""
        if self.platform is Platform.FCM:
            return FCM
        return self.push_type or PushType.VOIP

    @property
    def channel(self) -> Channel:
        if self.platform is Platform.FCM or self.environment is None:
            return FCM
        return self.environment


class DeviceOut(BaseModel):
    device_id: str
    user_id: str
    platform: Platform
    push_type: PushKind = Field(description="an APNs push type, or fcm")
    token: str = Field(description="masked: its first and last four characters")
    environment: Channel = Field(description="an APS environment, or fcm")
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime


class RegistrationOut(BaseModel):
    device: DeviceOut
    created: bool
    moved_from_other_device: bool


ID_PATTERN = _ID
#: An apns-id as Apple documents it: a lowercase canonical UUID.
APNS_ID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class CallIn(Strict):
    call_id: str | None = Field(default=None, pattern=_ID, description="generated if absent")
    caller_id: str = Field(min_length=1, max_length=256)
    caller_name: str = Field(default="", max_length=256)
    callee_user_id: str = Field(pattern=_ID)
    video: bool = False
    data: dict[str, object] = Field(default_factory=dict)
    ring_timeout_seconds: int = Field(default=60, ge=5, le=600)


class DeliveryOut(BaseModel):
    push_id: str
    app_id: str
    call_id: str | None
    user_id: str
    device_id: str
    push_type: PushKind
    environment: Channel
    apns_id: str = Field(description="the push's id (its apns-id on APNs)")
    state: str
    attempts: int
    status: int | None
    reason: str | None
    updated_at: datetime


class TokenCheckOut(BaseModel):
    """What a token check found for one registration of a device."""

    device_id: str
    push_type: PushKind
    environment: Channel = Field(description="where the token works, when it does")
    valid: bool | None = Field(description="None: not known (not checked, or no answer yet)")
    verdict: str
    apns_id: str | None = Field(description="the silent push that checked it, if one went")


class CallOut(BaseModel):
    call_id: str
    state: str
    caller_id: str
    caller_name: str
    callee_user_id: str
    video: bool
    ring_until: datetime
    end_reason: str | None
    ended_by_device: str | None
    deliveries: list[DeliveryOut] = Field(default_factory=list)
    withdrawn: int = 0


class CallEventOut(BaseModel):
    """One server-sent event of ``GET /v1/calls/{call_id}/events`` (``event: call``, this
    as its ``data``): the call's state, sent first and then at every change."""

    call_id: str
    state: CallState
    reason: EndReasonName | None = Field(description="why it ended, once it has")
    device_id: str | None = Field(description="the callee's device that answered or declined")


class CallEndIn(Strict):
    reason: EndReasonName
    device_id: str | None = Field(default=None, pattern=_ID)


class DeviceActionIn(Strict):
    device_id: str = Field(pattern=_ID, description="the device the callee acted on")


class PushIn(Strict):
    user_id: str = Field(pattern=_ID)
    device_id: str | None = Field(
        default=None, pattern=_ID, description="only this device of the user (a test push)"
    )
    push_type: PushKind = Field(
        description="an APNs push type, or fcm: a data message to the user's Android devices"
    )
    payload: dict[str, object] = Field(
        description="APNs: the JSON payload; fcm: the data, a map of strings (at most 4096"
        " bytes of keys and values)"
    )
    priority: int | None = Field(
        default=None, description="10, 5 or 1; default per type (fcm: 10 is HIGH, else NORMAL)"
    )
    expiration: int | None = Field(
        default=None, ge=0, le=MAX_EXPIRATION, description="UNIX seconds; 0 = now"
    )
    #: Sent as the ``apns-collapse-id`` header: visible ASCII, at most 64 bytes.
    collapse_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[!-~]+$")


class PushOut(BaseModel):
    deliveries: list[DeliveryOut]
