"""Messages as plain data (docs/fcm.md §1, §2, §6): the exact body, and every rule
checked before anything is sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ringpush.fcm.errors import InvalidMessage
from ringpush.fcm.message import AndroidPriority, FcmMessage
from ringpush.fcm.rules import MAX_DATA_BYTES, MAX_TTL_SECONDS

TOKEN = "fcm-token-" + "x" * 140


def body(message: FcmMessage) -> dict[str, Any]:
    decoded = json.loads(message.encode())
    assert isinstance(decoded, dict)
    return decoded


def test_the_body_is_compact_json_with_priority_always_set() -> None:
    assert FcmMessage("t").encode() == b'{"message":{"token":"t","android":{"priority":"NORMAL"}}}'


def test_every_field_lands_where_fcm_reads_it() -> None:
    message = FcmMessage(
        TOKEN,
        {"kind": "call"},
        priority=AndroidPriority.HIGH,
        ttl=25,
        collapse_key="call-c1",
        restricted_package_name="com.example.phone",
    )
    assert body(message) == {
        "message": {
            "token": TOKEN,
            "data": {"kind": "call"},
            "android": {
                "priority": "HIGH",
                "ttl": "25s",
                "collapse_key": "call-c1",
                "restricted_package_name": "com.example.phone",
            },
        }
    }


def test_validate_only_is_sent_only_when_asked() -> None:
    assert body(FcmMessage("t", validate_only=True))["validate_only"] is True
    assert "validate_only" not in body(FcmMessage("t"))


def test_a_ttl_of_zero_means_now_or_never_and_is_sent() -> None:
    assert body(FcmMessage("t", ttl=0))["message"]["android"]["ttl"] == "0s"


def test_a_call_is_a_high_priority_data_message_living_its_ring_time() -> None:
    message = FcmMessage.for_call(TOKEN, {"call_id": "c1"}, ring_seconds=29.9)
    android = body(message)["message"]["android"]
    assert android == {"priority": "HIGH", "ttl": "29s"}
    assert body(message)["message"]["data"] == {"call_id": "c1"}
    assert "notification" not in body(message)["message"]


def test_a_call_whose_ring_time_is_over_is_refused() -> None:
    with pytest.raises(InvalidMessage) as caught:
        FcmMessage.for_call(TOKEN, {}, ring_seconds=-0.5)
    assert [v.field for v in caught.value.violations] == ["message.android.ttl"]


def test_encode_names_every_violation_at_once() -> None:
    data: Any = {"from": "bob", "count": 3}
    message = FcmMessage(TOKEN, data, ttl=MAX_TTL_SECONDS + 1)
    with pytest.raises(InvalidMessage) as caught:
        message.encode()
    fields = sorted(v.field for v in caught.value.violations)
    assert fields == ["message.android.ttl", "message.data", "message.data[1].value"]
    assert "Invalid data payload key: from" in str(caught.value)


def test_data_over_the_limit_is_refused_as_too_big() -> None:
    message = FcmMessage(TOKEN, {"blob": "v" * MAX_DATA_BYTES})
    with pytest.raises(InvalidMessage) as caught:
        message.encode()
    assert [v.too_big for v in caught.value.violations] == [True]


def test_the_limit_counts_utf8_bytes_not_characters() -> None:
    fits = MAX_DATA_BYTES - 1  # one byte for the key "k"
    FcmMessage(TOKEN, {"k": "a" * fits}).encode()
    with pytest.raises(InvalidMessage):
        FcmMessage(TOKEN, {"k": "é" * (fits // 2 + 1)}).encode()


def test_non_ascii_is_sent_as_utf8_not_escaped() -> None:
    assert "☎".encode() in FcmMessage(TOKEN, {"caller": "☎ Bob"}).encode()


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(InvalidMessage, match="exactly one of token"):
        FcmMessage("").encode()


@pytest.mark.parametrize("ttl", [-1, True, 2.5])
def test_a_ttl_that_is_not_whole_non_negative_seconds_is_refused(ttl: Any) -> None:
    with pytest.raises(InvalidMessage, match=r"message\.android\.ttl"):
        FcmMessage(TOKEN, ttl=ttl).encode()


def test_violations_can_be_read_without_raising() -> None:
    assert FcmMessage(TOKEN, {"google.x": "1"}).violations()[0].field == "message.data"
    assert FcmMessage(TOKEN).violations() == []


def test_the_repr_masks_the_token_and_leaves_out_data_values() -> None:
    text = repr(FcmMessage(TOKEN, {"caller": "Alice Secret"}))
    assert TOKEN not in text
    assert "Alice Secret" not in text
    assert "caller" in text
