"""FCM's message rules (docs/fcm.md §1, §2): each check names the field FCM would."""

from __future__ import annotations

from typing import Any

import pytest

from ringpush.fcm.rules import (
    MAX_DATA_BYTES,
    MAX_TTL_SECONDS,
    data_bytes,
    message_violations,
    ttl_seconds,
)


def fields(message: object) -> list[str]:
    return [v.field for v in message_violations(message)]


def test_a_token_message_with_string_data_breaks_no_rule() -> None:
    message = {"token": "t", "data": {"call_id": "c1"}, "android": {"priority": "high"}}
    assert message_violations(message) == []


def test_a_message_that_is_not_an_object_is_refused() -> None:
    assert fields(["token"]) == ["message"]


def test_an_unknown_field_is_named_as_fcm_names_it() -> None:
    (violation,) = message_violations({"token": "t", "notifcation": {}})
    assert violation.field == "message.notifcation"
    assert "Cannot find field" in violation.description


@pytest.mark.parametrize(
    "targets", [{}, {"token": "t", "topic": "news"}, {"token": ""}, {"fid": "f", "condition": "c"}]
)
def test_exactly_one_target_is_required(targets: dict[str, str]) -> None:
    assert fields(targets) == ["message"]


@pytest.mark.parametrize("target", ["token", "topic", "condition", "fid"])
def test_any_single_target_is_enough(target: str) -> None:
    assert message_violations({target: "x"}) == []


def test_a_non_string_data_value_is_named_by_its_index() -> None:
    message = {"token": "t", "data": {"a": "1", "count": 12}}
    (violation,) = message_violations(message)
    assert violation.field == "message.data[1].value"
    assert "TYPE_STRING" in violation.description


@pytest.mark.parametrize("key", ["from", "message_type", "google.sent_time", "gcm.n.e"])
def test_reserved_data_keys_are_refused(key: str) -> None:
    (violation,) = message_violations({"token": "t", "data": {key: "x"}})
    assert violation.description == f"Invalid data payload key: {key}"


@pytest.mark.parametrize("key", ["notification", "collapse_key", "googly", "gcmx", "fromage"])
def test_keys_that_only_look_reserved_are_allowed(key: str) -> None:
    assert message_violations({"token": "t", "data": {key: "x"}}) == []


def test_data_of_exactly_the_limit_passes_and_one_byte_more_is_too_big() -> None:
    at_limit = {"k": "v" * (MAX_DATA_BYTES - 1)}
    assert message_violations({"token": "t", "data": at_limit}) == []
    (violation,) = message_violations({"token": "t", "data": {"k": "v" * MAX_DATA_BYTES}})
    assert violation.too_big
    assert "Android message is too big" in violation.description


def test_data_size_counts_keys_and_values_in_utf8_bytes() -> None:
    assert data_bytes({"é": "☎"}) == 2 + 3


def test_android_data_counts_with_message_data() -> None:
    half = "v" * (MAX_DATA_BYTES // 2)
    message = {"token": "t", "data": {"a": half}, "android": {"data": {"b": half}}}
    assert [v.too_big for v in message_violations(message)] == [True]


@pytest.mark.parametrize("ttl", ["0s", "30s", "3.000000001s", f"{MAX_TTL_SECONDS}s"])
def test_valid_ttls_pass(ttl: str) -> None:
    assert message_violations({"token": "t", "android": {"ttl": ttl}}) == []


@pytest.mark.parametrize(
    "ttl", ["30", "-1s", "1.0000000001s", "1e3s", 30, f"{MAX_TTL_SECONDS + 1}s"]
)
def test_invalid_ttls_are_named(ttl: Any) -> None:
    assert fields({"token": "t", "android": {"ttl": ttl}}) == ["message.android.ttl"]


def test_ttl_rounds_down_to_whole_seconds() -> None:
    assert ttl_seconds("3.999999999s") == 3


@pytest.mark.parametrize("priority", ["high", "normal", "HIGH", "NORMAL"])
def test_both_spellings_of_priority_pass(priority: str) -> None:
    assert message_violations({"token": "t", "android": {"priority": priority}}) == []


def test_an_unknown_priority_is_named() -> None:
    assert fields({"token": "t", "android": {"priority": "urgent"}}) == ["message.android.priority"]


def test_android_field_types_are_checked() -> None:
    android = {"direct_boot_ok": "yes", "collapse_key": 4, "restricted_package_name": None}
    assert sorted(fields({"token": "t", "android": android})) == [
        "message.android.collapse_key",
        "message.android.direct_boot_ok",
        "message.android.restricted_package_name",
    ]


def test_every_violation_is_reported_not_only_the_first() -> None:
    message = {"token": "t", "data": {"from": "x", "n": 1}, "android": {"ttl": "soon"}}
    assert len(message_violations(message)) == 3
