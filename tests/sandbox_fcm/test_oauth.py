"""The token endpoint's checks, without a network: each refusal and its Google text."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ringpush.sandbox.fcm.accounts import Accounts, new_service_account
from ringpush.sandbox.fcm.oauth import (
    ACCOUNT_NOT_FOUND,
    BAD_AUDIENCE,
    BAD_SCOPE,
    BAD_SIGNATURE,
    BAD_TIMES,
    GOOGLE_TOKEN_URL,
    GRANT_TYPE,
    GrantRefused,
    assertion_from_form,
    verify_assertion,
)
from tests.sandbox_fcm.conftest import PROJECT, assertion

TOKEN_URL = "https://127.0.0.1:4443/token"
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def accounts_and_file() -> tuple[Accounts, dict[str, Any]]:
    accounts = Accounts()
    info, key = new_service_account(PROJECT, TOKEN_URL)
    accounts.add(key)
    return accounts, info


def refused(accounts: Accounts, signed: str, audiences: set[str] | None = None) -> GrantRefused:
    with pytest.raises(GrantRefused) as caught:
        verify_assertion(signed, accounts, audiences or {TOKEN_URL}, NOW)
    return caught.value


def other_private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def test_a_google_auth_style_assertion_is_granted(
    accounts_and_file: tuple[Accounts, dict[str, Any]],
) -> None:
    accounts, info = accounts_and_file
    grant = verify_assertion(assertion(info, NOW), accounts, {TOKEN_URL}, NOW)
    assert grant.key.client_email == info["client_email"]
    assert grant.key.project_id == PROJECT


def test_cloud_platform_scope_also_grants(
    accounts_and_file: tuple[Accounts, dict[str, Any]],
) -> None:
    accounts, info = accounts_and_file
    scope = "openid https://www.googleapis.com/auth/cloud-platform"
    grant = verify_assertion(assertion(info, NOW, scope=scope), accounts, {TOKEN_URL}, NOW)
    assert "https://www.googleapis.com/auth/cloud-platform" in grant.scopes


def test_a_body_that_is_not_a_form_has_no_grant_type() -> None:
    with pytest.raises(GrantRefused) as caught:
        assertion_from_form("application/json", b'{"grant_type": "x"}')
    assert caught.value.body() == {
        "error": "unsupported_grant_type",
        "error_description": "Invalid grant_type: ",
    }


def test_another_grant_type_is_unsupported() -> None:
    with pytest.raises(GrantRefused) as caught:
        assertion_from_form(
            "application/x-www-form-urlencoded", b"grant_type=client_credentials&assertion=x"
        )
    assert caught.value.error == "unsupported_grant_type"
    assert caught.value.description == "Invalid grant_type: client_credentials"


def test_a_missing_assertion_is_an_invalid_request() -> None:
    body = f"grant_type={GRANT_TYPE}".encode()
    with pytest.raises(GrantRefused) as caught:
        assertion_from_form("application/x-www-form-urlencoded; charset=utf-8", body)
    assert caught.value.error == "invalid_request"


def test_wrong_audience_fails_the_audience_check(
    accounts_and_file: tuple[Accounts, dict[str, Any]],
) -> None:
    accounts, info = accounts_and_file
    refusal = refused(accounts, assertion(info, NOW, aud=GOOGLE_TOKEN_URL))
    assert (refusal.error, refusal.description) == ("invalid_grant", BAD_AUDIENCE)


def test_googles_audience_passes_when_allowed(
    accounts_and_file: tuple[Accounts, dict[str, Any]],
) -> None:
    accounts, info = accounts_and_file
    signed = assertion(info, NOW, aud=GOOGLE_TOKEN_URL)
    verify_assertion(signed, accounts, {TOKEN_URL, GOOGLE_TOKEN_URL}, NOW)


def test_unknown_kid_is_an_invalid_signature(
    accounts_and_file: tuple[Accounts, dict[str, Any]],
) -> None:
    accounts, info = accounts_and_file
    refusal = refused(accounts, assertion(info, NOW, headers={"kid": "0" * 40}))
    assert (refusal.error, refusal.description) == ("invalid_grant", BAD_SIGNATURE)


def test_a_signature_by_another_key_is_invalid(
    accounts_and_file: tuple[Accounts, dict[str, Any]],
) -> None:
    accounts, info = accounts_and_file
    refusal = refused(accounts, assertion(info, NOW, key=other_private_pem()))
    assert refusal.description == BAD_SIGNATURE


def test_a_kid_of_another_account_is_an_invalid_signature(
    accounts_and_file: tuple[Accounts, dict[str, Any]],
) -> None:
    accounts, info = accounts_and_file
    other, other_key = new_service_account("ringpush-other", TOKEN_URL)
    accounts.add(other_key)
    signed = assertion(info, NOW, key=other["private_key"], headers={"kid": other_key.key_id})
    assert refused(accounts, signed).description == BAD_SIGNATURE


def test_without_kid_the_accounts_keys_are_tried(
    accounts_and_file: tuple[Accounts, dict[str, Any]],
) -> None:
    accounts, info = accounts_and_file
    payload = jwt.decode(assertion(info, NOW), options={"verify_signature": False})
    signed = jwt.encode(payload, info["private_key"], algorithm="RS256")
    verify_assertion(signed, accounts, {TOKEN_URL}, NOW)


def test_an_hs256_assertion_is_refused(
    accounts_and_file: tuple[Accounts, dict[str, Any]],
) -> None:
    accounts, info = accounts_and_file
    signed = jwt.encode({"iss": info["client_email"]}, "a-shared-secret-of-32-bytes-long!", "HS256")
    assert refused(accounts, signed).description == BAD_SIGNATURE


def test_garbage_is_an_invalid_signature(
    accounts_and_file: tuple[Accounts, dict[str, Any]],
) -> None:
    accounts, _ = accounts_and_file
    assert refused(accounts, "not.a.jwt").description == BAD_SIGNATURE


def test_an_unknown_issuer_is_account_not_found(
    accounts_and_file: tuple[Accounts, dict[str, Any]],
) -> None:
    accounts, info = accounts_and_file
    signed = assertion(info, NOW, iss="someone@else.iam.gserviceaccount.com")
    refusal = refused(accounts, signed)
    assert (refusal.error, refusal.description) == ("invalid_grant", ACCOUNT_NOT_FOUND)


@pytest.mark.parametrize(
    ("iat", "exp"),
    [
        (NOW, NOW + 3601),  # longer than an hour
        (NOW + 120, NOW + 3600),  # issued in the future (beyond the skew)
        (NOW - 7200, NOW - 3600),  # already expired
        (NOW, NOW),  # no lifetime at all
        ("now", NOW + 60),  # not a number
    ],
    ids=["too-long", "future-iat", "expired", "zero-lifetime", "not-a-number"],
)
def test_assertion_times_outside_an_hour_around_now_are_refused(
    accounts_and_file: tuple[Accounts, dict[str, Any]], iat: object, exp: object
) -> None:
    accounts, info = accounts_and_file
    refusal = refused(accounts, assertion(info, NOW, iat=iat, exp=exp))
    assert (refusal.error, refusal.description) == ("invalid_grant", BAD_TIMES)


def test_an_exactly_one_hour_assertion_with_small_skew_is_granted(
    accounts_and_file: tuple[Accounts, dict[str, Any]],
) -> None:
    accounts, info = accounts_and_file
    signed = assertion(info, NOW, iat=int(NOW) + 30, exp=int(NOW) + 3630)
    verify_assertion(signed, accounts, {TOKEN_URL}, NOW)


def test_a_scope_without_messaging_is_an_invalid_scope(
    accounts_and_file: tuple[Accounts, dict[str, Any]],
) -> None:
    accounts, info = accounts_and_file
    signed = assertion(info, NOW, scope="https://www.googleapis.com/auth/devstorage.read_only")
    refusal = refused(accounts, signed)
    assert (refusal.error, refusal.description) == ("invalid_scope", BAD_SCOPE)


def test_a_list_audience_fails_the_audience_check(
    accounts_and_file: tuple[Accounts, dict[str, Any]],
) -> None:
    accounts, info = accounts_and_file
    assert refused(accounts, assertion(info, NOW, aud=[TOKEN_URL])).description == BAD_AUDIENCE
