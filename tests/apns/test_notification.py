"""Notification rules, checked before anything is sent (docs/apns.md §2, §3)."""

from __future__ import annotations

import json

import pytest

from ringpush.apns.device_token import mask_device_token, normalize_device_token
from ringpush.apns.errors import InvalidDeviceToken, InvalidNotification, PayloadTooLarge
from ringpush.apns.notification import Notification, is_canonical_apns_id
from ringpush.apns.push_type import PushType
from ringpush.apns.reasons import ApnsReason

TOKEN = "ab" * 32
BUNDLE = "com.example.app"


def padded(size: int) -> dict[str, object]:
    """A payload whose compact JSON is exactly ``size`` bytes."""
    skeleton = json.dumps({"aps": {}, "p": ""}, separators=(",", ":"))
    return {"aps": {}, "p": "x" * (size - len(skeleton))}


def test_voip_request_has_apples_headers() -> None:
    request = Notification.voip(BUNDLE, TOKEN, {"call_id": "c1"}).encode()
    headers = dict(request.headers)
    assert request.path == b"/3/device/" + TOKEN.encode()
    assert headers[b"apns-topic"] == b"com.example.app.voip"
    assert headers[b"apns-push-type"] == b"voip"
    assert headers[b"apns-priority"] == b"10"
    assert headers[b"apns-expiration"] == b"0"
    assert is_canonical_apns_id(headers[b"apns-id"].decode())
    assert headers[b"apns-id"].decode() == request.apns_id
    assert b"authorization" not in headers


def test_payload_is_compact_utf8_json() -> None:
    request = Notification.voip(BUNDLE, TOKEN, {"caller": "Zoë", "n": [1, 2]}).encode()
    assert request.body == '{"caller":"Zoë","n":[1,2]}'.encode()


def test_voip_payload_of_5120_bytes_passes_and_5121_fails() -> None:
    """VoIP gets 5120 bytes; the error names the size and the limit."""
    assert len(Notification.voip(BUNDLE, TOKEN, padded(5120)).encode().body) == 5120
    with pytest.raises(PayloadTooLarge) as caught:
        Notification.voip(BUNDLE, TOKEN, padded(5121)).encode()
    assert caught.value.size == 5121
    assert caught.value.limit == 5120
    assert "5121 bytes" in str(caught.value) and "5120-byte limit" in str(caught.value)
    assert caught.value.reason is ApnsReason.PAYLOAD_TOO_LARGE


def test_non_voip_payload_over_4096_bytes_fails() -> None:
    ok = Notification.for_app(BUNDLE, "alert", TOKEN, padded(4096))
    assert len(ok.encode().body) == 4096
    with pytest.raises(PayloadTooLarge, match="4097 bytes, over the 4096-byte limit"):
        Notification.for_app(BUNDLE, PushType.COMPLICATION, TOKEN, padded(4097)).encode()


def test_size_counts_utf8_bytes_not_characters() -> None:
    payload = {"aps": {}, "p": "é" * 2100}  # 4200 bytes, 2100 characters
    with pytest.raises(PayloadTooLarge):
        Notification.for_app(BUNDLE, "alert", TOKEN, payload).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", ApnsReason.PAYLOAD_EMPTY),
        (b"[1,2]", ApnsReason.PAYLOAD_EMPTY),
        (b"{not json", ApnsReason.PAYLOAD_EMPTY),
    ],
)
def test_raw_bodies_must_be_json_objects(body: bytes, reason: ApnsReason) -> None:
    with pytest.raises(InvalidNotification) as caught:
        Notification.for_app(BUNDLE, "voip", TOKEN, body).encode()
    assert caught.value.reason is reason


def test_unserialisable_payload_is_a_clear_error() -> None:
    with pytest.raises(InvalidNotification, match="not JSON-serialisable"):
        Notification.voip(BUNDLE, TOKEN, {"when": object()}).encode()


def test_collapse_id_of_64_bytes_passes_and_65_fails() -> None:
    base = Notification.for_app(
        BUNDLE, "alert", TOKEN, {"aps": {"alert": "hi"}}, collapse_id="c" * 64
    )
    assert dict(base.encode().headers)[b"apns-collapse-id"] == b"c" * 64
    with pytest.raises(InvalidNotification, match="65 bytes") as caught:
        Notification.for_app(
            BUNDLE, "alert", TOKEN, {"aps": {"alert": "hi"}}, collapse_id="c" * 65
        ).encode()
    assert caught.value.reason is ApnsReason.BAD_COLLAPSE_ID


@pytest.mark.parametrize(
    "collapse_id", ["a\r\nx-injected: 1", "a\nb", "a\x00", "a b", "caf\u00e9", "ok\n", ""]
)
def test_collapse_id_must_be_visible_ascii(collapse_id: str) -> None:
    """It goes out as a header value: CR, LF or NUL there would end the header (or the
    stream, at a strict peer)."""
    with pytest.raises(InvalidNotification, match="visible ASCII") as caught:
        Notification.for_app(
            BUNDLE, "alert", TOKEN, {"aps": {"alert": "hi"}}, collapse_id=collapse_id
        ).encode()
    assert caught.value.reason is ApnsReason.BAD_COLLAPSE_ID


@pytest.mark.parametrize("topic", ["com.example.app\r\nx: 1", "com.example.app\n", "a b", "a..b"])
def test_topic_must_be_a_bundle_id(topic: str) -> None:
    with pytest.raises(InvalidNotification) as caught:
        Notification(TOKEN, topic, PushType.ALERT, {"aps": {"alert": "hi"}}).encode()
    assert caught.value.reason is ApnsReason.BAD_TOPIC


def test_priority_must_be_allowed_for_the_push_type() -> None:
    with pytest.raises(InvalidNotification, match="priority 10 is not allowed") as caught:
        Notification.for_app(
            BUNDLE, "background", TOKEN, {"aps": {"content-available": 1}}, priority=10
        ).encode()
    assert caught.value.reason is ApnsReason.BAD_PRIORITY
    request = Notification.for_app(BUNDLE, "background", TOKEN, {"aps": {"content-available": 1}})
    assert dict(request.encode().headers)[b"apns-priority"] == b"5"


def test_apns_id_must_be_a_lowercase_uuid() -> None:
    kept = "123e4567-e89b-42d3-a456-426614174000"
    assert Notification.voip(BUNDLE, TOKEN, {}, apns_id=kept).encode().apns_id == kept
    with pytest.raises(InvalidNotification) as caught:
        Notification.voip(BUNDLE, TOKEN, {}, apns_id="not-a-uuid").encode()
    assert caught.value.reason is ApnsReason.BAD_MESSAGE_ID
    with pytest.raises(InvalidNotification):  # a trailing newline is not a UUID either
        Notification.voip(BUNDLE, TOKEN, {}, apns_id=kept + "\n").encode()


def test_each_encode_of_an_unnamed_push_gets_a_fresh_id() -> None:
    notification = Notification.voip(BUNDLE, TOKEN, {})
    assert notification.encode().apns_id != notification.encode().apns_id


def test_negative_expiration_is_rejected_and_absent_expiration_is_left_out() -> None:
    with pytest.raises(InvalidNotification) as caught:
        Notification.for_app(BUNDLE, "alert", TOKEN, {}, expiration=-1).encode()
    assert caught.value.reason is ApnsReason.BAD_EXPIRATION_DATE
    headers = dict(Notification.for_app(BUNDLE, "alert", TOKEN, {}).encode().headers)
    assert b"apns-expiration" not in headers


def test_unknown_push_type_is_invalid_push_type() -> None:
    with pytest.raises(InvalidNotification, match="unknown push type 'video'") as caught:
        Notification.for_app(BUNDLE, "video", TOKEN, {})
    assert caught.value.reason is ApnsReason.INVALID_PUSH_TYPE


def test_empty_topic_is_missing_topic() -> None:
    with pytest.raises(InvalidNotification) as caught:
        Notification(TOKEN, "", PushType.VOIP, {}).encode()
    assert caught.value.reason is ApnsReason.MISSING_TOPIC


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("ABCDEF01", "abcdef01"),
        ("<abcd ef01>", "abcdef01"),
        ("  " + "a1" * 80 + " ", "a1" * 80),  # an 80-byte Live Activity token
    ],
)
def test_tokens_are_normalised_to_lowercase_hex_of_any_even_length(
    raw: str, normalised: str
) -> None:
    assert normalize_device_token(raw) == normalised


@pytest.mark.parametrize(
    ("raw", "message"),
    [("", "empty"), ("abc", "odd number"), ("zz" * 32, "hexadecimal"), ("ab" * 201, "over")],
)
def test_bad_tokens_are_refused_with_a_reason(raw: str, message: str) -> None:
    with pytest.raises(InvalidDeviceToken, match=message):
        normalize_device_token(raw)


def test_token_never_appears_in_reprs() -> None:
    notification = Notification.voip(BUNDLE, TOKEN, {})
    assert TOKEN not in repr(notification)
    assert TOKEN not in repr(notification.encode())
    assert mask_device_token(TOKEN) == "abab…abab"
