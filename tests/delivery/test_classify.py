"""What delivery decides for FCM's answers (docs/fcm.md §4): the table in
``delivery/classify.py`` read through FCM's error codes."""

from __future__ import annotations

import pytest

from ringpush.delivery.classify import Decision, classify
from ringpush.fcm.answer import FcmResult
from ringpush.fcm.error_codes import FcmErrorCode


def _decision(result: FcmResult) -> Decision:
    return classify(result, tried_other_environment=False).decision


def test_an_invalid_argument_naming_the_token_drops_it_and_any_other_fails() -> None:
    bad_token = FcmResult(
        status=400,
        error_code=FcmErrorCode.INVALID_ARGUMENT,
        message="The registration token is not a valid FCM registration token",
    )
    bad_field = FcmResult(
        status=400,
        error_code=FcmErrorCode.INVALID_ARGUMENT,
        message="Invalid value at 'message.android.ttl'",
    )
    assert _decision(bad_token) is Decision.DROP_TOKEN
    assert _decision(bad_field) is Decision.FAIL


@pytest.mark.parametrize(
    ("code", "decision"),
    [
        (FcmErrorCode.UNREGISTERED, Decision.DROP_TOKEN),
        (FcmErrorCode.SENDER_ID_MISMATCH, Decision.FAIL),
        (FcmErrorCode.THIRD_PARTY_AUTH_ERROR, Decision.FAIL),
        (FcmErrorCode.QUOTA_EXCEEDED, Decision.RETRY),
        (FcmErrorCode.UNAVAILABLE, Decision.RETRY),
        (FcmErrorCode.INTERNAL, Decision.RETRY),
        (FcmErrorCode.UNSPECIFIED_ERROR, Decision.FAIL),
    ],
)
def test_each_error_code_has_its_decision(code: FcmErrorCode, decision: Decision) -> None:
    assert _decision(FcmResult(status=code.status, error_code=code)) is decision


def test_retry_after_is_carried_to_the_retry() -> None:
    verdict = classify(
        FcmResult(status=429, error_code=FcmErrorCode.QUOTA_EXCEEDED, retry_after=7.0),
        tried_other_environment=False,
    )
    assert (verdict.decision, verdict.retry_after) == (Decision.RETRY, 7.0)


def test_a_404_without_a_code_is_a_wrong_url_never_a_dead_token() -> None:
    assert _decision(FcmResult(status=404)) is Decision.FAIL
