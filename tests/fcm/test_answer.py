"""FCM's answers parsed into results (docs/fcm.md §4): classified on the FcmError code,
Retry-After read in both forms, and nothing a proxy sends can make parsing raise."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from ringpush.actions import Action
from ringpush.apns.transport import TransportFailure
from ringpush.fcm.answer import (
    FCM_ERROR_TYPE,
    AuthFailure,
    FcmResult,
    parse_answer,
    parse_retry_after,
)
from ringpush.fcm.error_codes import FcmErrorCode, action_for

NOW = 1_800_000_000.0


def error_body(
    status: int, canonical: str, message: str, *codes: str, extra: object = None
) -> bytes:
    details: list[object] = [] if extra is None else [extra]
    details += [{"@type": FCM_ERROR_TYPE, "errorCode": code} for code in codes]
    error = {"code": status, "message": message, "status": canonical, "details": details}
    return json.dumps({"error": error}).encode()


def test_a_success_is_sent_with_its_message_name() -> None:
    result = parse_answer(200, {}, b'{"name": "projects/p/messages/0:15004%31bd"}')
    assert result.sent
    assert result.message_name == "projects/p/messages/0:15004%31bd"
    assert result.action is Action.DELIVERED
    assert result.describe() == "accepted as projects/p/messages/0:15004%31bd"
    assert result.reason_label == "accepted"


def test_unregistered_is_read_from_the_detail_not_the_status() -> None:
    body = error_body(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
    result = parse_answer(404, {}, body)
    assert not result.sent
    assert result.error_code is FcmErrorCode.UNREGISTERED
    assert result.canonical == "NOT_FOUND"
    assert result.action is Action.DROP_TOKEN
    assert result.describe() == "404 UNREGISTERED (NOT_FOUND): Requested entity was not found."


@pytest.mark.parametrize("code", list(FcmErrorCode))
def test_every_error_code_is_classified_by_the_table(code: FcmErrorCode) -> None:
    result = parse_answer(code.status, {}, error_body(code.status, code.canonical, "x", code.value))
    assert result.error_code is code
    assert result.action is action_for(code.status, code, "x")
    assert result.reason_label == code.value


def test_the_fcm_error_is_found_after_other_details() -> None:
    bad_request = {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": []}
    body = error_body(
        400, "INVALID_ARGUMENT", "Android message is too big", "INVALID_ARGUMENT", extra=bad_request
    )
    result = parse_answer(400, {}, body)
    assert result.error_code is FcmErrorCode.INVALID_ARGUMENT
    assert result.action is Action.FIX_REQUEST


def test_an_invalid_registration_token_is_dropped() -> None:
    message = "The registration token is not a valid FCM registration token"
    result = parse_answer(400, {}, error_body(400, "INVALID_ARGUMENT", message, "INVALID_ARGUMENT"))
    assert result.action is Action.DROP_TOKEN


def test_an_expired_access_token_asks_for_a_renewal() -> None:
    info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_EXPIRED"}
    body = error_body(
        401, "UNAUTHENTICATED", "Request had invalid authentication credentials.", extra=info
    )
    result = parse_answer(401, {}, body)
    assert result.error_code is None
    assert result.action is Action.REFRESH_AUTH


def test_a_third_party_auth_error_never_asks_for_a_renewal() -> None:
    body = error_body(
        401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR"
    )
    assert parse_answer(401, {}, body).action is Action.FIX_REQUEST


def test_an_unknown_code_falls_back_on_the_status() -> None:
    result = parse_answer(503, {}, error_body(503, "UNAVAILABLE", "busy", "SOMETHING_NEW"))
    assert result.error_code is None
    assert result.action is Action.RETRY_LATER


def test_retry_after_in_seconds() -> None:
    result = parse_answer(
        429, {"Retry-After": "30"}, error_body(429, "RESOURCE_EXHAUSTED", "q", "QUOTA_EXCEEDED")
    )
    assert result.retry_after == 30.0
    assert "retry after 30 s" in result.describe()


def test_retry_after_as_an_http_date_counts_from_now() -> None:
    when = format_datetime(datetime.fromtimestamp(NOW + 90, tz=UTC), usegmt=True)
    result = parse_answer(503, {"retry-after": when}, b"", now=NOW)
    assert result.retry_after == 90.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        (" 7 ", 7.0),
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("²", None),
        ("9" * 400, None),
        (None, None),
    ],
)
def test_retry_after_forms(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>502 Bad Gateway</body></html>",
        b"",
        b"[]",
        b'{"error": "x"}',
        b'{"error": {"details": "x", "message": 5}}',
        b"\xff\xfe",
        b"[" * 100_000,
        b'{"error": {"details": [{"@type": "' + FCM_ERROR_TYPE.encode() + b'", "errorCode": 7}]}}',
    ],
)
def test_malformed_bodies_never_raise_and_go_by_the_status(body: bytes) -> None:
    result = parse_answer(502, {}, body)
    assert result.status == 502
    assert result.error_code is None
    assert result.action is Action.RETRY_LATER


def test_a_proxys_404_page_never_drops_the_token() -> None:
    assert parse_answer(404, {}, b"<html>Not Found</html>").action is Action.FIX_REQUEST


def test_a_200_that_is_not_fcms_is_not_taken_as_sent() -> None:
    result = parse_answer(200, {}, b"<html>Sign in to the Wi-Fi</html>")
    assert not result.sent
    assert result.action is Action.RETRY_LATER


def test_no_answer_is_retried_and_labelled_by_its_failure() -> None:
    result = FcmResult.no_response(TransportFailure.TIMEOUT, "timeout")
    assert result.action is Action.RETRY_LATER
    assert result.reason_label == "timeout"
    assert result.describe() == "no answer (timeout): timeout"


def test_no_access_token_is_configuration_when_refused_and_retried_when_down() -> None:
    refused = FcmResult.no_token(AuthFailure.REJECTED, "invalid_grant: Invalid JWT Signature.")
    assert refused.action is Action.FIX_REQUEST
    assert refused.reason_label == "auth_rejected"
    assert FcmResult.no_token(AuthFailure.UNAVAILABLE, "503").action is Action.RETRY_LATER
