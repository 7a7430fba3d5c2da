"""Connection authentication without sockets: JWT rules per connection, certificates."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.apns.reasons import ApnsReason
from ringpush.sandbox import ClientIdentity, Rejected, SandboxKey
from ringpush.sandbox.auth import CertificateConnectionAuth, TokenConnectionAuth
from ringpush.sandbox.jwt_verifier import ProviderTokenVerifier
from ringpush.sandbox.keys import KeyRing

from .conftest import BUNDLE, VOIP_TOPIC, Clock, Signer, new_signer

DEV = Environment.DEVELOPMENT


@pytest.fixture
def ring(signer: Signer) -> KeyRing:
    return KeyRing([signer.sandbox_key()])


@pytest.fixture
def verifier(ring: KeyRing) -> ProviderTokenVerifier:
    return ProviderTokenVerifier(ring)


def connection(
    verifier: ProviderTokenVerifier, clock: Clock, environment: Environment = DEV
) -> TokenConnectionAuth:
    return TokenConnectionAuth(verifier, environment, clock)


def auth_reason(auth: TokenConnectionAuth, header: str | bytes | None) -> ApnsReason | None:
    value = header.encode() if isinstance(header, str) else header
    try:
        auth.authenticate(value, VOIP_TOPIC, BUNDLE, PushType.VOIP)
    except Rejected as exc:
        return exc.reason
    return None


def test_valid_token_authenticates_the_connection(
    verifier: ProviderTokenVerifier, clock: Clock, signer: Signer
) -> None:
    auth = connection(verifier, clock)
    assert not auth.authenticated
    assert auth_reason(auth, signer.authorization()) is None
    assert auth.authenticated
    assert auth.team_id == signer.team_id


@pytest.mark.parametrize("header", [None, "", "bearer ", "Basic abc"])
def test_absent_or_non_bearer_authorization_is_missing_provider_token(
    verifier: ProviderTokenVerifier, clock: Clock, header: str | None
) -> None:
    assert auth_reason(connection(verifier, clock), header) is ApnsReason.MISSING_PROVIDER_TOKEN


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "a.b", "e30.e30.AAAA"])
def test_malformed_token_is_invalid_provider_token(
    verifier: ProviderTokenVerifier, clock: Clock, token: str
) -> None:
    assert auth_reason(connection(verifier, clock), f"bearer {token}") is (
        ApnsReason.INVALID_PROVIDER_TOKEN
    )


def test_unknown_kid_is_invalid_provider_token(
    verifier: ProviderTokenVerifier, clock: Clock
) -> None:
    stranger = new_signer(clock)
    assert auth_reason(connection(verifier, clock), stranger.authorization()) is (
        ApnsReason.INVALID_PROVIDER_TOKEN
    )


def test_signature_by_another_key_is_invalid_provider_token(
    verifier: ProviderTokenVerifier, clock: Clock, signer: Signer
) -> None:
    """A token naming our kid but signed with someone else's key."""
    forger = new_signer(clock)
    token = jwt.encode(
        {"iss": signer.team_id, "iat": int(clock())},
        forger.credentials.private_key,
        algorithm="ES256",
        headers={"kid": signer.key_id},
    )
    assert auth_reason(connection(verifier, clock), f"bearer {token}") is (
        ApnsReason.INVALID_PROVIDER_TOKEN
    )


def test_issuer_other_than_the_keys_team_is_invalid_provider_token(
    verifier: ProviderTokenVerifier, clock: Clock, signer: Signer
) -> None:
    token = jwt.encode(
        {"iss": "OTHERTEAM1", "iat": int(clock())},
        signer.credentials.private_key,
        algorithm="ES256",
        headers={"kid": signer.key_id},
    )
    assert auth_reason(connection(verifier, clock), f"bearer {token}") is (
        ApnsReason.INVALID_PROVIDER_TOKEN
    )


def test_algorithm_other_than_es256_is_invalid_provider_token(
    verifier: ProviderTokenVerifier, clock: Clock, signer: Signer
) -> None:
    """Same key and valid ECDSA signature, but the header says ES384: rejected."""
    good = signer.authorization()[len("bearer ") :]
    _, claims, signature = good.split(".")
    header = base64.urlsafe_b64encode(
        json.dumps({"alg": "ES384", "kid": signer.key_id}).encode()
    ).rstrip(b"=")
    token = f"{header.decode()}.{claims}.{signature}"
    assert auth_reason(connection(verifier, clock), f"bearer {token}") is (
        ApnsReason.INVALID_PROVIDER_TOKEN
    )


def test_token_over_an_hour_old_is_expired_provider_token(
    verifier: ProviderTokenVerifier, clock: Clock, signer: Signer
) -> None:
    auth = connection(verifier, clock)
    header = signer.authorization()
    assert auth_reason(auth, header) is None
    clock.advance(3601)
    assert auth_reason(auth, header) is ApnsReason.EXPIRED_PROVIDER_TOKEN


def test_stale_token_on_a_fresh_connection_is_expired_provider_token(
    verifier: ProviderTokenVerifier, clock: Clock, signer: Signer
) -> None:
    assert auth_reason(connection(verifier, clock), signer.authorization(clock() - 3601)) is (
        ApnsReason.EXPIRED_PROVIDER_TOKEN
    )


def test_token_from_the_future_is_invalid_provider_token(
    verifier: ProviderTokenVerifier, clock: Clock, signer: Signer
) -> None:
    auth = connection(verifier, clock)
    assert auth_reason(auth, signer.authorization(clock() + 300)) is (
        ApnsReason.INVALID_PROVIDER_TOKEN
    )
    assert auth_reason(auth, signer.authorization(clock() + 30)) is None


def test_new_token_within_20_minutes_is_too_many_provider_token_updates(
    verifier: ProviderTokenVerifier, clock: Clock, signer: Signer
) -> None:
    auth = connection(verifier, clock)
    assert auth_reason(auth, signer.authorization()) is None
    clock.advance(60)
    rejected = auth_reason(auth, signer.authorization())
    assert rejected is ApnsReason.TOO_MANY_PROVIDER_TOKEN_UPDATES
    assert rejected.status == 429


def test_new_token_after_20_minutes_replaces_the_old_one(
    verifier: ProviderTokenVerifier, clock: Clock, signer: Signer
) -> None:
    auth = connection(verifier, clock)
    assert auth_reason(auth, signer.authorization()) is None
    clock.advance(20 * 60 + 1)
    assert auth_reason(auth, signer.authorization()) is None


def test_same_token_on_two_connections_is_fine(
    verifier: ProviderTokenVerifier, clock: Clock, signer: Signer
) -> None:
    """One token may serve many connections (Apple's advice)."""
    header = signer.authorization()
    assert auth_reason(connection(verifier, clock), header) is None
    assert auth_reason(connection(verifier, clock), header) is None


def test_other_team_on_a_tied_connection_is_invalid_provider_token(
    ring: KeyRing, verifier: ProviderTokenVerifier, clock: Clock, signer: Signer
) -> None:
    other = new_signer(clock)
    ring.add(other.sandbox_key())
    auth = connection(verifier, clock)
    assert auth_reason(auth, signer.authorization()) is None
    clock.advance(21 * 60)
    assert auth_reason(auth, other.authorization()) is ApnsReason.INVALID_PROVIDER_TOKEN
    assert auth_reason(connection(verifier, clock), other.authorization()) is None


def test_other_key_of_the_same_team_is_unrelated_key_id_in_token(
    ring: KeyRing, verifier: ProviderTokenVerifier, clock: Clock, signer: Signer
) -> None:
    sibling = new_signer(clock, team_id=signer.team_id)
    ring.add(sibling.sandbox_key())
    auth = connection(verifier, clock)
    assert auth_reason(auth, signer.authorization()) is None
    clock.advance(21 * 60)
    assert auth_reason(auth, sibling.authorization()) is ApnsReason.UNRELATED_KEY_ID_IN_TOKEN


def test_key_restricted_to_production_is_bad_environment_key_id_in_development(
    clock: Clock,
) -> None:
    signer = new_signer(clock)
    key = SandboxKey.from_pem(
        signer.credentials.public_pem(),
        signer.key_id,
        signer.team_id,
        environment=Environment.PRODUCTION,
    )
    verifier = ProviderTokenVerifier(KeyRing([key]))
    assert auth_reason(connection(verifier, clock), signer.authorization()) is (
        ApnsReason.BAD_ENVIRONMENT_KEY_ID_IN_TOKEN
    )
    production = connection(verifier, clock, Environment.PRODUCTION)
    assert auth_reason(production, signer.authorization()) is None


def test_topic_specific_key_used_for_another_app_is_invalid_provider_token(
    clock: Clock,
) -> None:
    signer = new_signer(clock)
    key = SandboxKey.from_pem(
        signer.credentials.public_pem(), signer.key_id, signer.team_id, bundle_ids=["com.other"]
    )
    verifier = ProviderTokenVerifier(KeyRing([key]))
    assert auth_reason(connection(verifier, clock), signer.authorization()) is (
        ApnsReason.INVALID_PROVIDER_TOKEN
    )


def test_mdm_push_on_a_token_connection_is_topic_disallowed(
    verifier: ProviderTokenVerifier, clock: Clock, signer: Signer
) -> None:
    with pytest.raises(Rejected) as caught:
        connection(verifier, clock).authenticate(
            signer.authorization().encode(), BUNDLE, BUNDLE, PushType.MDM
        )
    assert caught.value.reason is ApnsReason.TOPIC_DISALLOWED


def test_verification_is_cached_per_token_string(
    verifier: ProviderTokenVerifier, clock: Clock, signer: Signer
) -> None:
    """ECDSA runs once per distinct token, however many requests and connections use it."""
    header = signer.authorization()
    for _ in range(3):
        auth = connection(verifier, clock)
        for _ in range(5):
            assert auth_reason(auth, header) is None
    assert verifier.verifications == 1


def test_registering_a_key_makes_a_previously_unknown_kid_verify(
    ring: KeyRing, verifier: ProviderTokenVerifier, clock: Clock
) -> None:
    """Failed verdicts are cached too, but a key change invalidates the cache."""
    late = new_signer(clock)
    header = late.authorization()
    assert auth_reason(connection(verifier, clock), header) is ApnsReason.INVALID_PROVIDER_TOKEN
    ring.add(late.sandbox_key())
    assert auth_reason(connection(verifier, clock), header) is None


def certificate_auth(environment: Environment | None = None) -> CertificateConnectionAuth:
    return CertificateConnectionAuth(ClientIdentity.for_bundle(BUNDLE, 1, environment), DEV)


@pytest.mark.parametrize("topic", [BUNDLE, VOIP_TOPIC, f"{BUNDLE}.complication"])
def test_certificate_covers_bundle_voip_and_complication_ignoring_authorization(
    topic: str,
) -> None:
    auth = certificate_auth()
    assert auth.authenticated
    auth.authenticate(b"bearer nonsense", topic, BUNDLE, PushType.ALERT)
    auth.authenticate(None, topic, BUNDLE, PushType.ALERT)


def test_certificate_topic_of_another_app_is_bad_topic() -> None:
    with pytest.raises(Rejected) as caught:
        certificate_auth().authenticate(None, "com.other.app.voip", "com.other.app", PushType.VOIP)
    assert caught.value.reason is ApnsReason.BAD_TOPIC


def test_token_only_push_type_on_a_certificate_is_topic_disallowed() -> None:
    topic = PushType.LIVEACTIVITY.topic_for(BUNDLE)
    with pytest.raises(Rejected) as caught:
        certificate_auth().authenticate(None, topic, BUNDLE, PushType.LIVEACTIVITY)
    assert caught.value.reason is ApnsReason.TOPIC_DISALLOWED


def test_production_only_certificate_in_development_is_bad_certificate_environment() -> None:
    with pytest.raises(Rejected) as caught:
        certificate_auth(Environment.PRODUCTION).authenticate(
            None, VOIP_TOPIC, BUNDLE, PushType.VOIP
        )
    assert caught.value.reason is ApnsReason.BAD_CERTIFICATE_ENVIRONMENT
