"""The JWT-bearer exchange and the access-token cache (docs/fcm.md §3), without I/O."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import jwt
import pytest

from ringpush.fcm.errors import (
    InvalidGrant,
    MalformedTokenResponse,
    TokenEndpointUnavailable,
    TokenRejected,
)
from ringpush.fcm.oauth import (
    GRANT_TYPE,
    MIN_TOKEN_AGE_FOR_INVALIDATION,
    REFRESH_MARGIN_SECONDS,
    SCOPE,
    AccessToken,
    AccessTokenCache,
    parse_token_answer,
    sign_assertion,
    token_request,
)
from ringpush.fcm.service_account import ServiceAccount
from tests.fcm.support import Clock

NOW = 1_800_000_000.0


def answer(status: int, document: object) -> AccessToken:
    return parse_token_answer(status, json.dumps(document).encode(), requested_at=NOW)


def test_the_assertion_is_rs256_with_kid_and_googles_claims(account: ServiceAccount) -> None:
    assertion = sign_assertion(account, 1_800_000_000)
    header = jwt.get_unverified_header(assertion)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": account.private_key_id}
    claims = jwt.decode(
        assertion,
        account.private_key.public_key(),
        algorithms=["RS256"],
        audience=account.token_uri,
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims == {
        "iss": account.client_email,
        "scope": SCOPE,
        "aud": account.token_uri,
        "iat": 1_800_000_000,
        "exp": 1_800_003_600,
    }


def test_the_audience_is_the_accounts_own_token_uri(account: ServiceAccount) -> None:
    data = json.loads(account.to_json())
    data["token_uri"] = "https://127.0.0.1:4443/token"
    local = ServiceAccount.from_json(json.dumps(data))
    claims = jwt.decode(sign_assertion(local, 0), options={"verify_signature": False})
    assert claims["aud"] == "https://127.0.0.1:4443/token"


def test_the_request_is_a_form_post_to_token_uri(account: ServiceAccount) -> None:
    request = token_request(account, 1_800_000_000)
    assert request.url == account.token_uri
    assert ("content-type", "application/x-www-form-urlencoded") in request.headers
    form = parse_qs(request.body.decode(), strict_parsing=True)
    assert form["grant_type"] == [GRANT_TYPE]
    assert jwt.get_unverified_header(form["assertion"][0])["kid"] == account.private_key_id


def test_the_request_repr_hides_the_assertion(account: ServiceAccount) -> None:
    request = token_request(account, 1_800_000_000)
    assertion = parse_qs(request.body.decode())["assertion"][0]
    assert assertion.split(".")[0] not in repr(request)


@pytest.mark.parametrize("expires_in", [3599, "3599", 3599.0])
def test_expires_in_is_read_as_a_number_or_a_string(expires_in: object) -> None:
    token = answer(
        200, {"access_token": "ya29.x", "expires_in": expires_in, "token_type": "Bearer"}
    )
    assert token.value == "ya29.x"
    assert token.obtained_at == NOW
    assert token.expires_at == NOW + 3599
    assert token.authorization == "Bearer ya29.x"


def test_a_missing_token_type_is_taken_as_bearer() -> None:
    assert answer(200, {"access_token": "a", "expires_in": 60}).token_type == "Bearer"


@pytest.mark.parametrize(
    "document",
    [
        {"expires_in": 3599},
        {"access_token": "", "expires_in": 3599},
        {"access_token": "a"},
        {"access_token": "a", "expires_in": "soon"},
        {"access_token": "a", "expires_in": -5},
        {"access_token": "a", "expires_in": True},
        {"access_token": "a", "expires_in": "nan"},
        {"access_token": "a", "expires_in": 60, "token_type": "MAC"},
        ["access_token"],
    ],
)
def test_a_200_that_is_not_a_token_answer_is_malformed(document: object) -> None:
    with pytest.raises(MalformedTokenResponse):
        answer(200, document)


def test_a_200_html_page_is_malformed_not_a_crash() -> None:
    with pytest.raises(MalformedTokenResponse):
        parse_token_answer(200, b"<html>Sign in to Wi-Fi</html>", requested_at=NOW)


def test_invalid_grant_is_typed_final_and_keeps_googles_words() -> None:
    with pytest.raises(InvalidGrant) as caught:
        answer(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
    assert not caught.value.retryable
    assert caught.value.error == "invalid_grant"
    assert caught.value.status == 400
    assert str(caught.value) == "invalid_grant: Invalid JWT Signature."


def test_other_oauth_refusals_are_rejections() -> None:
    with pytest.raises(TokenRejected) as caught:
        answer(401, {"error": "invalid_client"})
    assert not isinstance(caught.value, InvalidGrant)
    assert not caught.value.retryable


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_the_endpoints_own_failures_are_retryable(status: int) -> None:
    with pytest.raises(TokenEndpointUnavailable) as caught:
        answer(status, {"error": "backendError"})
    assert caught.value.retryable


@pytest.mark.parametrize("error", ["internal_failure", "server_error", "temporarily_unavailable"])
def test_oauth_errors_naming_a_server_failure_are_retryable(error: str) -> None:
    with pytest.raises(TokenEndpointUnavailable):
        answer(400, {"error": error})


def test_an_error_page_is_described_without_its_body() -> None:
    with pytest.raises(TokenRejected) as caught:
        parse_token_answer(404, b"<html><b>Not Found</b></html>", requested_at=NOW)
    assert "<html>" not in str(caught.value)
    assert "HTTP 404" in str(caught.value)


def test_the_access_token_never_shows_in_its_repr() -> None:
    token = AccessToken("ya29.secret", NOW, NOW + 3599)
    assert "ya29.secret" not in repr(token)


def cache_with(clock: Clock, account: ServiceAccount, lifetime: float = 3599) -> AccessTokenCache:
    cache = AccessTokenCache(account, clock=clock)
    cache.adopt(AccessToken("t1", clock.now, clock.now + lifetime))
    return cache


def test_an_empty_cache_is_due(account: ServiceAccount, clock: Clock) -> None:
    cache = AccessTokenCache(account, clock=clock)
    assert cache.due()
    assert cache.current() is None


def test_a_token_serves_until_the_margin_before_expiry(
    account: ServiceAccount, clock: Clock
) -> None:
    cache = cache_with(clock, account)
    clock.advance(3599 - REFRESH_MARGIN_SECONDS - 1)
    assert cache.current() is not None
    clock.advance(1)
    assert cache.due()


def test_a_short_lived_token_is_renewed_at_half_its_life(
    account: ServiceAccount, clock: Clock
) -> None:
    cache = cache_with(clock, account, lifetime=120)
    clock.advance(59)
    assert not cache.due()
    clock.advance(1)
    assert cache.due()


def test_a_401_drops_the_token_and_a_shared_copy_is_not_kept(
    account: ServiceAccount, clock: Clock
) -> None:
    cache = cache_with(clock, account)
    token = cache.current()
    assert token is not None
    clock.advance(MIN_TOKEN_AGE_FOR_INVALIDATION)
    assert cache.invalidate(token)
    assert cache.due()
    assert not cache.keep(token)  # the store's copy of it is replaced, not adopted again
    assert cache.keep(AccessToken("t2", clock.now, clock.now + 3599))


def test_a_401_to_a_token_just_obtained_is_not_blamed_on_it(
    account: ServiceAccount, clock: Clock
) -> None:
    cache = cache_with(clock, account)
    token = cache.current()
    assert token is not None
    assert not cache.invalidate(token)
    assert cache.current() == token


def test_a_401_to_an_older_token_keeps_the_renewed_one(
    account: ServiceAccount, clock: Clock
) -> None:
    cache = cache_with(clock, account)
    old = cache.current()
    assert old is not None
    clock.advance(600)
    new = AccessToken("t2", clock.now, clock.now + 3599)
    cache.adopt(new)
    assert cache.invalidate(old)  # resend, with the new token
    assert cache.current() == new


def test_the_endpoint_handing_back_a_rejected_token_does_not_renew_every_send(
    account: ServiceAccount, clock: Clock
) -> None:
    cache = cache_with(clock, account)
    token = cache.current()
    assert token is not None
    clock.advance(600)
    cache.invalidate(token)
    cache.adopt(token)  # what the exchange gave back
    assert cache.current() == token


def test_the_age_floor_can_be_lifted_for_a_sandbox(account: ServiceAccount, clock: Clock) -> None:
    cache = AccessTokenCache(account, clock=clock, min_age_for_invalidation=0)
    token = AccessToken("t1", clock.now, clock.now + 3599)
    cache.adopt(token)
    assert cache.invalidate(token)
    assert cache.due()
