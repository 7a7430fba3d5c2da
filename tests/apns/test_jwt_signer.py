"""Provider tokens: ES256, shared, refreshed inside Apple's 20-60 minute window (§4)."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from ringpush.apns.credentials import TokenCredentials, generate_signing_key
from ringpush.apns.errors import CredentialsError
from ringpush.apns.jwt_signer import (
    MIN_REFRESH_INTERVAL_SECONDS,
    REFRESH_AFTER_SECONDS,
    ProviderTokenSigner,
)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def credentials() -> TokenCredentials:
    key = generate_signing_key()
    return TokenCredentials.from_pem(key.pem, key.key_id, key.team_id)


def decode(header: bytes, credentials: TokenCredentials) -> tuple[dict[str, str], dict[str, int]]:
    assert header.startswith(b"bearer ")
    token = header[len(b"bearer ") :].decode()
    claims = jwt.decode(
        token,
        credentials.private_key.public_key(),
        algorithms=["ES256"],
        options={"verify_iat": False},
    )
    return jwt.get_unverified_header(token), claims


def test_token_is_es256_with_kid_iss_and_integer_iat(credentials: TokenCredentials) -> None:
    clock = Clock(1_800_000_000.75)
    token = ProviderTokenSigner(credentials, clock=clock).current()
    header, claims = decode(token.header, credentials)
    assert header["alg"] == "ES256"
    assert header["kid"] == credentials.key_id
    assert claims == {"iss": credentials.team_id, "iat": 1_800_000_000}


def test_signature_is_raw_r_s_not_der(credentials: TokenCredentials) -> None:
    """JWS ES256 signatures are 64 raw bytes; DER would be ~70 and Apple rejects it."""
    token = ProviderTokenSigner(credentials, clock=Clock()).current()
    signature = token.header.split(b".")[2]
    assert len(base64.urlsafe_b64decode(signature + b"=" * (-len(signature) % 4))) == 64


def test_token_is_reused_until_the_refresh_age(credentials: TokenCredentials) -> None:
    clock = Clock()
    signer = ProviderTokenSigner(credentials, clock=clock)
    first = signer.current()
    clock.now += REFRESH_AFTER_SECONDS - 1
    assert signer.current() is first
    clock.now += 1
    second = signer.current()
    assert second is not first
    assert signer.signed_count == 2
    assert REFRESH_AFTER_SECONDS < 3600


def test_expired_rejection_signs_anew_when_old_enough(credentials: TokenCredentials) -> None:
    clock = Clock()
    signer = ProviderTokenSigner(credentials, clock=clock)
    stale = signer.current()
    clock.now += MIN_REFRESH_INTERVAL_SECONDS
    fresh = signer.refresh(stale)
    assert fresh is not stale
    assert fresh.issued_at == int(clock.now)


def test_refresh_never_signs_twice_within_20_minutes(credentials: TokenCredentials) -> None:
    """Apple answers TooManyProviderTokenUpdates to tokens changed within 20 minutes."""
    clock = Clock()
    signer = ProviderTokenSigner(credentials, clock=clock)
    token = signer.current()
    clock.now += MIN_REFRESH_INTERVAL_SECONDS - 1
    assert signer.refresh(token) is token
    assert signer.signed_count == 1


def test_refresh_of_an_already_replaced_token_returns_the_newer_one(
    credentials: TokenCredentials,
) -> None:
    """Many streams rejected with the same stale token cause a single re-sign."""
    clock = Clock()
    signer = ProviderTokenSigner(credentials, clock=clock)
    stale = signer.current()
    clock.now += 3700
    fresh = signer.refresh(stale)
    assert signer.refresh(stale) is fresh
    assert signer.signed_count == 2


def test_private_key_never_in_repr(credentials: TokenCredentials) -> None:
    text = repr(credentials)
    assert "PRIVATE" not in text and credentials.key_id in text


def test_bad_key_material_is_a_credentials_error() -> None:
    with pytest.raises(CredentialsError, match="not a PEM private key"):
        TokenCredentials.from_pem(b"garbage", "ABCDEFGHIJ", "TEAMID1234")
    key = generate_signing_key()
    with pytest.raises(CredentialsError, match="key id must be 10"):
        TokenCredentials.from_pem(key.pem, "short", "TEAMID1234")
    with pytest.raises(CredentialsError, match="cannot read signing key"):
        TokenCredentials.from_p8_file("/nonexistent/AuthKey.p8", "ABCDEFGHIJ", "TEAMID1234")


def test_generated_key_is_apple_style() -> None:
    key = generate_signing_key(team_id="TEAM123456")
    assert key.pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert len(key.key_id) == 10 and key.key_id.isalnum() and key.key_id.upper() == key.key_id
    assert key.team_id == "TEAM123456"
    json.dumps({"key_id": key.key_id})


# -- shared signers: several processes, one provider token per key ----------------------


def test_a_shared_signer_never_signs_again_on_its_own(credentials: TokenCredentials) -> None:
    clock = Clock()
    signer = ProviderTokenSigner(credentials, clock=clock, shared=True)
    signer.adopt(signer.choose(None))
    first = signer.current()
    clock.now += REFRESH_AFTER_SECONDS + 60
    assert signer.current() == first  # the store decides, not this process
    assert signer.due()


def test_choose_keeps_a_young_stored_token_and_replaces_an_old_one(
    credentials: TokenCredentials,
) -> None:
    clock = Clock()
    other = ProviderTokenSigner(credentials, clock=clock, shared=True)
    stored = other.choose(None)
    mine = ProviderTokenSigner(credentials, clock=clock, shared=True)
    assert mine.due()
    clock.now += 30 * 60
    assert mine.choose(stored) is stored
    mine.adopt(stored)
    assert not mine.due()
    assert mine.signed_count == 0
    clock.now += REFRESH_AFTER_SECONDS - 30 * 60
    assert mine.due()
    fresh = mine.choose(stored)
    assert fresh != stored
    assert fresh.issued_at == int(clock.now)
    assert mine.signed_count == 1


def test_an_expired_answer_replaces_the_shared_token_only_after_20_minutes(
    credentials: TokenCredentials,
) -> None:
    clock = Clock()
    signer = ProviderTokenSigner(credentials, clock=clock, shared=True)
    token = signer.choose(None)
    signer.adopt(token)
    clock.now += MIN_REFRESH_INTERVAL_SECONDS - 1
    assert signer.refresh(token) == token  # shared: no local signing
    assert signer.due()
    assert signer.choose(token) is token  # too young to replace
    signer.adopt(token)
    assert not signer.due()  # settled until APNs says so again
    clock.now += 1
    signer.refresh(token)
    replacement = signer.choose(token)
    assert replacement != token
    signer.adopt(replacement)
    assert signer.current() == replacement
    assert not signer.due()


def test_a_rejection_of_an_older_token_adopts_the_newer_stored_one(
    credentials: TokenCredentials,
) -> None:
    clock = Clock()
    signer = ProviderTokenSigner(credentials, clock=clock, shared=True)
    old = signer.choose(None)
    signer.adopt(old)
    clock.now += REFRESH_AFTER_SECONDS
    newer = ProviderTokenSigner(credentials, clock=clock, shared=True).choose(old)
    assert newer != old
    clock.now += 60
    signer.refresh(old)
    assert signer.choose(newer) is newer  # another instance already replaced it
