"""The validation chain without sockets: every rule, every reason, Pushy's order."""

from __future__ import annotations

import json

import pytest

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.apns.reasons import ApnsReason
from ringpush.sandbox import PushValidator, Rejected
from ringpush.sandbox.tokens import TokenRegistry
from ringpush.sandbox.validation import Headers

from .conftest import BUNDLE, VOIP_TOPIC

APNS_ID = "0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d"


class AllowAll:
    """An auth hook that accepts everything and remembers what it was asked."""

    authenticated = True

    def __init__(self) -> None:
        self.calls: list[tuple[bytes | None, str, str, PushType]] = []
        self._identified: tuple[bytes | None, str, PushType] | None = None

    def identify(self, authorization: bytes | None, topic: str, push_type: PushType) -> None:
        self._identified = (authorization, topic, push_type)

    def authorize(self, bundle_id: str) -> None:
        assert self._identified is not None, "authorize before identify"
        authorization, topic, push_type = self._identified
        self.calls.append((authorization, topic, bundle_id, push_type))

    def authenticate(
        self, authorization: bytes | None, topic: str, bundle_id: str, push_type: PushType
    ) -> None:
        self.identify(authorization, topic, push_type)
        self.authorize(bundle_id)


class Deny:
    authenticated = False

    def identify(self, authorization: bytes | None, topic: str, push_type: PushType) -> None:
        raise Rejected(ApnsReason.INVALID_PROVIDER_TOKEN)

    def authorize(self, bundle_id: str) -> None:
        raise Rejected(ApnsReason.INVALID_PROVIDER_TOKEN)

    def authenticate(
        self, authorization: bytes | None, topic: str, bundle_id: str, push_type: PushType
    ) -> None:
        raise Rejected(ApnsReason.INVALID_PROVIDER_TOKEN)


@pytest.fixture
def tokens() -> TokenRegistry:
    return TokenRegistry()


@pytest.fixture
def voip_token(tokens: TokenRegistry) -> str:
    return tokens.issue(BUNDLE, PushType.VOIP, Environment.DEVELOPMENT)


def request(token: str, **overrides: str | None) -> list[tuple[bytes, bytes]]:
    fields: dict[str, str | None] = {
        ":method": "POST",
        ":scheme": "https",
        ":path": f"/3/device/{token}",
        "apns-topic": VOIP_TOPIC,
        "apns-push-type": "voip",
        "authorization": "bearer x.y.z",
    }
    fields.update(overrides)
    return [(k.encode(), v.encode()) for k, v in fields.items() if v is not None]


def reject(
    tokens: TokenRegistry,
    headers: Headers,
    body: bytes = b'{"call":1}',
    environment: Environment = Environment.DEVELOPMENT,
) -> Rejected:
    with pytest.raises(Rejected) as caught:
        PushValidator(tokens, environment).validate(headers, body, AllowAll())
    return caught.value


def test_valid_voip_push_is_accepted_with_its_apns_id_echoed(
    tokens: TokenRegistry, voip_token: str
) -> None:
    """A well-formed VoIP push passes and keeps the caller's apns-id."""
    auth = AllowAll()
    push = PushValidator(tokens, Environment.DEVELOPMENT).validate(
        request(voip_token, **{"apns-id": APNS_ID}), b'{"call":1}', auth
    )
    assert push.apns_id == APNS_ID
    assert push.push_type is PushType.VOIP
    assert push.token.token == voip_token
    assert auth.calls == [(b"bearer x.y.z", VOIP_TOPIC, BUNDLE, PushType.VOIP)]


def test_missing_apns_id_is_generated_as_a_canonical_uuid(
    tokens: TokenRegistry, voip_token: str
) -> None:
    """APNs generates an apns-id when the request has none."""
    push = PushValidator(tokens, Environment.DEVELOPMENT).validate(
        request(voip_token), b"{}", AllowAll()
    )
    assert len(push.apns_id) == 36
    assert push.apns_id == push.apns_id.lower()


@pytest.mark.parametrize("bad", ["not-a-uuid", APNS_ID.upper(), APNS_ID.replace("-", "")])
def test_non_canonical_apns_id_is_bad_message_id(
    tokens: TokenRegistry, voip_token: str, bad: str
) -> None:
    """apns-id must be a lowercase 8-4-4-4-12 UUID."""
    assert reject(tokens, request(voip_token, **{"apns-id": bad})).reason is (
        ApnsReason.BAD_MESSAGE_ID
    )


def test_repeated_header_is_duplicate_headers(tokens: TokenRegistry, voip_token: str) -> None:
    """A header sent twice is 400 DuplicateHeaders, whatever the values."""
    headers = [*request(voip_token), (b"apns-topic", VOIP_TOPIC.encode())]
    assert reject(tokens, headers).reason is ApnsReason.DUPLICATE_HEADERS


def test_get_is_method_not_allowed_with_status_405(tokens: TokenRegistry, voip_token: str) -> None:
    """Only POST is allowed; the status comes from ApnsReason."""
    rejected = reject(tokens, request(voip_token, **{":method": "GET"}))
    assert rejected.reason is ApnsReason.METHOD_NOT_ALLOWED
    assert rejected.status == 405


def test_missing_topic_is_missing_topic(tokens: TokenRegistry, voip_token: str) -> None:
    assert reject(tokens, request(voip_token, **{"apns-topic": None})).reason is (
        ApnsReason.MISSING_TOPIC
    )


def test_collapse_id_over_64_bytes_is_bad_collapse_id(
    tokens: TokenRegistry, voip_token: str
) -> None:
    """The limit is in bytes: 33 two-byte characters are 66 bytes."""
    assert reject(tokens, request(voip_token, **{"apns-collapse-id": "é" * 33})).reason is (
        ApnsReason.BAD_COLLAPSE_ID
    )
    PushValidator(tokens, Environment.DEVELOPMENT).validate(
        request(voip_token, **{"apns-collapse-id": "x" * 64}), b"{}", AllowAll()
    )


@pytest.mark.parametrize("bad", ["-1", "soon", "1.5", "", "+5"])
def test_expiration_must_be_a_non_negative_integer(
    tokens: TokenRegistry, voip_token: str, bad: str
) -> None:
    assert reject(tokens, request(voip_token, **{"apns-expiration": bad})).reason is (
        ApnsReason.BAD_EXPIRATION_DATE
    )


def test_expiration_zero_is_accepted(tokens: TokenRegistry, voip_token: str) -> None:
    """0 means one delivery attempt: the usual choice for a ringing VoIP push."""
    PushValidator(tokens, Environment.DEVELOPMENT).validate(
        request(voip_token, **{"apns-expiration": "0"}), b"{}", AllowAll()
    )


@pytest.mark.parametrize("bad", ["11", "0", "high"])
def test_unknown_priority_is_bad_priority(tokens: TokenRegistry, voip_token: str, bad: str) -> None:
    assert reject(tokens, request(voip_token, **{"apns-priority": bad})).reason is (
        ApnsReason.BAD_PRIORITY
    )


def test_background_push_with_priority_10_is_bad_priority(tokens: TokenRegistry) -> None:
    """Per-type priorities come from PushType: background pushes must be priority 5."""
    token = tokens.issue(BUNDLE, PushType.ALERT, Environment.DEVELOPMENT)
    headers = request(
        token, **{"apns-topic": BUNDLE, "apns-push-type": "background", "apns-priority": "10"}
    )
    assert reject(tokens, headers).reason is ApnsReason.BAD_PRIORITY


def test_unknown_push_type_is_invalid_push_type(tokens: TokenRegistry, voip_token: str) -> None:
    assert reject(tokens, request(voip_token, **{"apns-push-type": "call"})).reason is (
        ApnsReason.INVALID_PUSH_TYPE
    )


def test_suffixed_topic_under_another_push_type_is_invalid_push_type(
    tokens: TokenRegistry, voip_token: str
) -> None:
    """A .voip topic sent as an alert push: APNs answers InvalidPushType."""
    assert reject(tokens, request(voip_token, **{"apns-push-type": "alert"})).reason is (
        ApnsReason.INVALID_PUSH_TYPE
    )


def test_voip_push_type_to_the_bare_bundle_topic_is_device_token_not_for_topic(
    tokens: TokenRegistry, voip_token: str
) -> None:
    """voip needs <bundle>.voip; without the suffix the token does not match the topic."""
    assert reject(tokens, request(voip_token, **{"apns-topic": BUNDLE})).reason is (
        ApnsReason.DEVICE_TOKEN_NOT_FOR_TOPIC
    )


def test_push_type_defaults_from_the_topic_suffix(tokens: TokenRegistry, voip_token: str) -> None:
    """Without apns-push-type a .voip topic is a VoIP push (and gets the 5120-byte limit)."""
    push = PushValidator(tokens, Environment.DEVELOPMENT).validate(
        request(voip_token, **{"apns-push-type": None}), b"{" + b" " * 5000 + b"}", AllowAll()
    )
    assert push.push_type is PushType.VOIP


def test_path_without_token_is_missing_device_token(tokens: TokenRegistry) -> None:
    assert reject(tokens, request("", **{":path": "/3/device/"})).reason is (
        ApnsReason.MISSING_DEVICE_TOKEN
    )


def test_path_outside_3_device_is_bad_path_404(tokens: TokenRegistry, voip_token: str) -> None:
    rejected = reject(tokens, request(voip_token, **{":path": f"/2/device/{voip_token}"}))
    assert rejected.reason is ApnsReason.BAD_PATH
    assert rejected.status == 404


@pytest.mark.parametrize("token", ["zz" * 32, "abc", "00" * 32, "ab/cd"])
def test_malformed_or_unknown_token_is_bad_device_token(tokens: TokenRegistry, token: str) -> None:
    """Non-hex, odd-length and never-issued tokens are all BadDeviceToken."""
    assert reject(tokens, request(token)).reason is ApnsReason.BAD_DEVICE_TOKEN


def test_upper_case_token_is_the_same_token(tokens: TokenRegistry, voip_token: str) -> None:
    PushValidator(tokens, Environment.DEVELOPMENT).validate(
        request(voip_token.upper()), b"{}", AllowAll()
    )


def test_any_even_length_token_is_accepted_once_issued(tokens: TokenRegistry) -> None:
    """Apple says not to assume 32 bytes: an 80-byte Live Activity token works."""
    token = tokens.add("ab" * 80, BUNDLE, PushType.VOIP, Environment.DEVELOPMENT)
    PushValidator(tokens, Environment.DEVELOPMENT).validate(request(token), b"{}", AllowAll())


def test_token_of_the_other_environment_is_bad_device_token(tokens: TokenRegistry) -> None:
    """A production token sent to the development host: 400 BadDeviceToken (docs/apns.md §7)."""
    token = tokens.issue(BUNDLE, PushType.VOIP, Environment.PRODUCTION)
    assert reject(tokens, request(token)).reason is ApnsReason.BAD_DEVICE_TOKEN
    PushValidator(tokens, Environment.PRODUCTION).validate(request(token), b"{}", AllowAll())


def test_uninstalled_token_is_410_unregistered_with_timestamp_in_ms(
    tokens: TokenRegistry, voip_token: str
) -> None:
    tokens.uninstall(voip_token, 1_800_000_000_123)
    rejected = reject(tokens, request(voip_token))
    assert rejected.reason is ApnsReason.UNREGISTERED
    assert rejected.status == 410
    assert rejected.timestamp_ms == 1_800_000_000_123


def test_token_of_another_app_is_device_token_not_for_topic(tokens: TokenRegistry) -> None:
    token = tokens.issue("com.other.app", PushType.VOIP, Environment.DEVELOPMENT)
    assert reject(tokens, request(token)).reason is ApnsReason.DEVICE_TOKEN_NOT_FOR_TOPIC


def test_alert_token_used_for_voip_is_device_token_not_for_topic(tokens: TokenRegistry) -> None:
    """PushKit and UserNotifications tokens differ: mixing them fails."""
    token = tokens.issue(BUNDLE, PushType.ALERT, Environment.DEVELOPMENT)
    assert reject(tokens, request(token)).reason is ApnsReason.DEVICE_TOKEN_NOT_FOR_TOPIC


def test_authentication_runs_before_any_answer_about_a_tokens_state(
    tokens: TokenRegistry, voip_token: str
) -> None:
    """As on APNs: a request that is not authenticated gets its credential's error
    whether the token exists, was uninstalled or is another app's; only the token's form
    (a path that is not hex) is checked before."""
    validator = PushValidator(tokens, Environment.DEVELOPMENT)
    gone = tokens.issue(BUNDLE, PushType.VOIP, Environment.DEVELOPMENT)
    tokens.uninstall(gone, at_ms=1_700_000_000_000)
    other = tokens.issue("com.example.other", PushType.VOIP, Environment.DEVELOPMENT)
    for token in ("00" * 32, voip_token, gone, other):
        with pytest.raises(Rejected) as caught:
            validator.validate(request(token), b"{}", Deny())
        assert caught.value.reason is ApnsReason.INVALID_PROVIDER_TOKEN, token
    with pytest.raises(Rejected) as caught:
        validator.validate(request("zz"), b"{}", Deny())
    assert caught.value.reason is ApnsReason.BAD_DEVICE_TOKEN  # form, not state


def test_empty_body_is_payload_empty(tokens: TokenRegistry, voip_token: str) -> None:
    assert reject(tokens, request(voip_token), b"").reason is ApnsReason.PAYLOAD_EMPTY


@pytest.mark.parametrize("body", [b"[1,2]", b'"text"', b"{broken", b"\xff\xfe"])
def test_body_that_is_not_a_json_object_is_payload_empty(
    tokens: TokenRegistry, voip_token: str, body: bytes
) -> None:
    """Documented choice: the reason ringpush's client raises for the same body."""
    assert reject(tokens, request(voip_token), body).reason is ApnsReason.PAYLOAD_EMPTY


def test_voip_payload_limit_is_5120_bytes(tokens: TokenRegistry, voip_token: str) -> None:
    validator = PushValidator(tokens, Environment.DEVELOPMENT)
    fits = json.dumps({"pad": "x" * (5120 - 11)}).encode()
    assert len(fits) == 5120
    validator.validate(request(voip_token), fits, AllowAll())
    rejected = reject(tokens, request(voip_token), fits + b" ")
    assert rejected.reason is ApnsReason.PAYLOAD_TOO_LARGE
    assert rejected.status == 413


def test_alert_payload_limit_is_4096_bytes(tokens: TokenRegistry) -> None:
    token = tokens.issue(BUNDLE, PushType.ALERT, Environment.DEVELOPMENT)
    headers = request(token, **{"apns-topic": BUNDLE, "apns-push-type": "alert"})
    body = json.dumps({"pad": "x" * 4086}).encode()
    assert len(body) == 4097
    assert reject(tokens, headers, body).reason is ApnsReason.PAYLOAD_TOO_LARGE


def test_checks_run_in_pushys_order(tokens: TokenRegistry) -> None:
    """apns-id before method before topic before priority before push type before path."""
    headers = request(
        "zz",
        **{
            "apns-id": "bad",
            ":method": "GET",
            "apns-topic": None,
            "apns-priority": "7",
            "apns-push-type": "nope",
        },
    )
    order = [
        ("apns-id", APNS_ID, ApnsReason.BAD_MESSAGE_ID),
        (":method", "POST", ApnsReason.METHOD_NOT_ALLOWED),
        ("apns-topic", VOIP_TOPIC, ApnsReason.MISSING_TOPIC),
        ("apns-priority", "10", ApnsReason.BAD_PRIORITY),
        ("apns-push-type", "voip", ApnsReason.INVALID_PUSH_TYPE),
        (":path", "/3/device/zz", ApnsReason.BAD_DEVICE_TOKEN),
    ]
    current = dict(headers)
    for name, fixed, expected in order:
        assert reject(tokens, list(current.items())).reason is expected
        current[name.encode()] = fixed.encode()


def test_rejection_carries_the_request_apns_id(tokens: TokenRegistry) -> None:
    """The error response echoes apns-id so the client can match it."""
    rejected = reject(tokens, request("00" * 32, **{"apns-id": APNS_ID}))
    assert rejected.apns_id == APNS_ID
