"""The reason table: every reason Apple documents, with its status and action."""

from __future__ import annotations

import pytest

from ringpush.apns.reasons import Action, ApnsReason, action_for_status
from ringpush.apns.result import NO_RESPONSE, ApnsResult
from ringpush.apns.transport import TransportFailure

# (status, reason, action) for every row of docs/apns.md §5, written out independently of
# the enum so a typo in either shows up.
APPLE_TABLE: list[tuple[int, str, Action]] = [
    (400, "BadCollapseId", Action.FIX_REQUEST),
    (400, "BadDeviceToken", Action.DROP_TOKEN),
    (400, "BadExpirationDate", Action.FIX_REQUEST),
    (400, "BadMessageId", Action.FIX_REQUEST),
    (400, "BadPriority", Action.FIX_REQUEST),
    (400, "BadTopic", Action.FIX_REQUEST),
    (400, "DeviceTokenNotForTopic", Action.DROP_TOKEN),
    (400, "DuplicateHeaders", Action.FIX_REQUEST),
    (400, "IdleTimeout", Action.RETRY_LATER),
    (400, "InvalidPushType", Action.FIX_REQUEST),
    (400, "MissingDeviceToken", Action.FIX_REQUEST),
    (400, "MissingTopic", Action.FIX_REQUEST),
    (400, "PayloadEmpty", Action.FIX_REQUEST),
    (400, "TopicDisallowed", Action.FIX_REQUEST),
    (403, "BadCertificate", Action.FIX_REQUEST),
    (403, "BadCertificateEnvironment", Action.FIX_REQUEST),
    (403, "ExpiredProviderToken", Action.REFRESH_AUTH),
    (403, "Forbidden", Action.FIX_REQUEST),
    (403, "InvalidProviderToken", Action.FIX_REQUEST),
    (403, "MissingProviderToken", Action.FIX_REQUEST),
    (403, "UnrelatedKeyIdInToken", Action.RETRY_LATER),
    (403, "BadEnvironmentKeyIdInToken", Action.FIX_REQUEST),
    (404, "BadPath", Action.FIX_REQUEST),
    (405, "MethodNotAllowed", Action.FIX_REQUEST),
    (410, "Unregistered", Action.DROP_TOKEN),
    (410, "ExpiredToken", Action.DROP_TOKEN),
    (413, "PayloadTooLarge", Action.FIX_REQUEST),
    (429, "TooManyProviderTokenUpdates", Action.RETRY_LATER),
    (429, "TooManyRequests", Action.RETRY_LATER),
    (500, "InternalServerError", Action.RETRY_LATER),
    (503, "ServiceUnavailable", Action.RETRY_LATER),
    (503, "Shutdown", Action.RETRY_LATER),
]


@pytest.mark.parametrize(("status", "wire", "action"), APPLE_TABLE)
def test_every_documented_reason_has_its_status_and_action(
    status: int, wire: str, action: Action
) -> None:
    """Parsing each wire string yields a member carrying Apple's status and our action."""
    reason = ApnsReason.parse(wire)
    assert reason is not None, wire
    assert reason == wire
    assert reason.status == status
    assert reason.action is action
    assert reason.meaning


def test_the_enum_holds_nothing_outside_the_reference() -> None:
    """No invented reasons: the enum and the documented table are the same set."""
    assert {member.value for member in ApnsReason} == {wire for _, wire, _ in APPLE_TABLE}


def test_unknown_reason_parses_to_none() -> None:
    assert ApnsReason.parse("SomethingNew") is None


@pytest.mark.parametrize(
    "wire",
    ["ExpiredProviderToken", "UnrelatedKeyIdInToken", "TooManyProviderTokenUpdates", "Shutdown"],
)
def test_connection_wedging_reasons_ask_for_a_new_connection(wire: str) -> None:
    reason = ApnsReason.parse(wire)
    assert reason is not None and reason.reconnect


def test_ordinary_rejections_keep_the_connection() -> None:
    """Ordinary request failures don't close the connection (docs/apns.md §6)."""
    for wire in ("BadDeviceToken", "Unregistered", "PayloadTooLarge", "TooManyRequests"):
        reason = ApnsReason.parse(wire)
        assert reason is not None and not reason.reconnect


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (200, Action.DELIVERED),
        (410, Action.DROP_TOKEN),
        (403, Action.FIX_REQUEST),
        (429, Action.RETRY_LATER),
        (502, Action.RETRY_LATER),
        (400, Action.FIX_REQUEST),
    ],
)
def test_unknown_reasons_are_classified_by_status(status: int, action: Action) -> None:
    assert action_for_status(status) is action


def test_result_for_410_exposes_the_millisecond_timestamp() -> None:
    """The 410 timestamp is milliseconds since the epoch (docs/apns.md §5)."""
    result = ApnsResult(
        apns_id="0a0b0c0d-0000-4000-8000-000000000001",
        status=410,
        reason=ApnsReason.UNREGISTERED,
        reason_text="Unregistered",
        timestamp_ms=1_700_000_000_123,
    )
    assert not result.sent
    assert result.action is Action.DROP_TOKEN
    since = result.invalid_since
    assert since is not None
    assert since.year == 2023 and since.microsecond == 123_000
    assert "410 Unregistered" in result.describe()


def test_a_push_without_response_is_retried_later() -> None:
    result = ApnsResult.no_response(
        "0a0b0c0d-0000-4000-8000-000000000001", "timed out", TransportFailure.TIMEOUT
    )
    assert result.status == NO_RESPONSE
    assert result.action is Action.RETRY_LATER
    assert "timed out" in result.describe()
