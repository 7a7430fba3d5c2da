"""FCM's error codes (docs/fcm.md §4): one table for the status, the canonical status and
the action, and the few rules that need more than the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ringpush.actions import Action
from ringpush.fcm.error_codes import FcmErrorCode, action_for

DOC = Path(__file__).parents[2] / "docs" / "fcm.md"


def test_every_code_parses_from_its_wire_name() -> None:
    for code in FcmErrorCode:
        assert FcmErrorCode.parse(code.value) is code


def test_an_unknown_code_parses_to_none() -> None:
    assert FcmErrorCode.parse("BRAND_NEW_ERROR") is None
    assert FcmErrorCode.parse("unregistered") is None  # the wire names are upper-case


def test_docs_table_matches_the_enum() -> None:
    """docs/fcm.md §4 lists every code with its status, canonical status and action."""
    section = DOC.read_text().split("## §4.")[1].split("\n## ")[0]
    rows = re.findall(
        r"^\| `([A-Z_]+)` \| (\d+) \| `([A-Z_]+)` \|.*\| `([a-z-]+)` \|$", section, re.MULTILINE
    )
    documented = {
        name: (int(status), canonical, action) for name, status, canonical, action in rows
    }
    expected = {c.value: (c.status, c.canonical, c.action.value) for c in FcmErrorCode}
    assert documented == expected


def test_a_200_is_delivered() -> None:
    assert action_for(200, None) is Action.DELIVERED


def test_unregistered_drops_the_token() -> None:
    assert action_for(404, FcmErrorCode.UNREGISTERED) is Action.DROP_TOKEN


def test_invalid_argument_naming_the_registration_token_drops_it() -> None:
    message = "The registration token is not a valid FCM registration token"
    assert action_for(400, FcmErrorCode.INVALID_ARGUMENT, message) is Action.DROP_TOKEN


def test_invalid_argument_about_the_payload_keeps_the_token() -> None:
    message = "Android message is too big"
    assert action_for(400, FcmErrorCode.INVALID_ARGUMENT, message) is Action.FIX_REQUEST


def test_sender_id_mismatch_keeps_the_token() -> None:
    assert action_for(403, FcmErrorCode.SENDER_ID_MISMATCH) is Action.FIX_REQUEST


def test_a_401_without_a_code_renews_the_access_token() -> None:
    assert action_for(401, None) is Action.REFRESH_AUTH


@pytest.mark.parametrize(
    "code", [FcmErrorCode.THIRD_PARTY_AUTH_ERROR, FcmErrorCode.APNS_AUTH_ERROR]
)
def test_third_party_auth_errors_never_renew_the_access_token(code: FcmErrorCode) -> None:
    assert action_for(401, code) is Action.FIX_REQUEST


def test_a_404_without_a_code_never_drops_the_token() -> None:
    assert action_for(404, None) is Action.FIX_REQUEST


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_overload_without_a_code_is_retried(status: int) -> None:
    assert action_for(status, None) is Action.RETRY_LATER


@pytest.mark.parametrize(
    "code", [FcmErrorCode.QUOTA_EXCEEDED, FcmErrorCode.UNAVAILABLE, FcmErrorCode.INTERNAL]
)
def test_quota_and_server_errors_are_retried(code: FcmErrorCode) -> None:
    assert action_for(code.status, code) is Action.RETRY_LATER


def test_a_403_without_a_code_is_configuration() -> None:
    """Missing IAM permission or the API not enabled: fix, don't retry (docs/fcm.md §3)."""
    assert action_for(403, None) is Action.FIX_REQUEST


def test_the_code_wins_over_the_status() -> None:
    assert action_for(400, FcmErrorCode.UNAVAILABLE) is Action.RETRY_LATER
