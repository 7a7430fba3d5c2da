"""Authentication of one HTTP/2 connection: the pluggable step of validation (docs/apns.md §4).

APNs authenticates per connection, either by the TLS client certificate or by the
provider token in each request. Both keep state that outlives a request — the team a
token connection is tied to, the time its token last changed — so each connection gets
its own :class:`ConnectionAuth` object and the validator calls it like Pushy's
``verifyAuthentication`` hook, after the token checks and before the payload checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.apns.reasons import ApnsReason
from ringpush.sandbox.jwt_verifier import ProviderTokenVerifier, VerifiedToken
from ringpush.sandbox.rejected import Rejected

#: Apple rejects a token whose ``iat`` is over an hour old.
TOKEN_MAX_AGE_SECONDS = 3600
#: A new token on a connection within 20 minutes of the last: TooManyProviderTokenUpdates.
MIN_TOKEN_UPDATE_INTERVAL_SECONDS = 20 * 60
#: Clock skew tolerated for an ``iat`` in the future; beyond it the token is invalid.
FUTURE_SKEW_SECONDS = 60

_BEARER = b"bearer "


class ConnectionAuth(Protocol):
    """Decides whether this connection may send this push; raises :class:`Rejected`.

    In two steps, as APNs answers: :meth:`identify` (who is sending: the provider token
    or the certificate) before anything about the device token is looked at, so a
    request that is not authenticated never learns whether a token exists; then
    :meth:`authorize` (may that sender push to the device token's app).
    """

    @property
    def authenticated(self) -> bool:
        """True once a request has passed; APNs then raises the connection's stream limit."""
        ...

    def identify(self, authorization: bytes | None, topic: str, push_type: PushType) -> None: ...

    def authorize(self, bundle_id: str) -> None: ...

    def authenticate(
        self, authorization: bytes | None, topic: str, bundle_id: str, push_type: PushType
    ) -> None:
        """Both steps at once."""
        ...


class TokenConnectionAuth:
    """Provider-token (JWT) authentication with APNs's per-connection rules.

    The first accepted token ties the connection to its team and key id: another team
    is ``InvalidProviderToken`` (as Pushy's mock answers), another key of the same team
    ``UnrelatedKeyIdInToken``. Replacing the token sooner than 20 minutes after the
    previous one was adopted is ``TooManyProviderTokenUpdates``.
    """

    def __init__(
        self,
        verifier: ProviderTokenVerifier,
        environment: Environment,
        clock: Callable[[], float],
        on_adopt: Callable[[str, float], None] | None = None,
    ) -> None:
        self._verifier = verifier
        self._on_adopt = on_adopt
        self._environment = environment
        self._clock = clock
        self._token: bytes | None = None
        self._verified: VerifiedToken | None = None
        #: The token the request being checked was identified by (between the steps).
        self._current: VerifiedToken | None = None
        self._adopted_at = 0.0
        self._team_id: str | None = None
        self._key_id: str | None = None

    @property
    def authenticated(self) -> bool:
        return self._token is not None

    @property
    def team_id(self) -> str | None:
        return self._team_id

    def authenticate(
        self, authorization: bytes | None, topic: str, bundle_id: str, push_type: PushType
    ) -> None:
        self.identify(authorization, topic, push_type)
        self.authorize(bundle_id)

    def identify(self, authorization: bytes | None, topic: str, push_type: PushType) -> None:
        if push_type.rules.certificate_only:
            # MDM pushes go to a certificate's UID; a token connection cannot send them.
            raise Rejected(ApnsReason.TOPIC_DISALLOWED)
        if authorization is None or not authorization.startswith(_BEARER):
            raise Rejected(ApnsReason.MISSING_PROVIDER_TOKEN)
        token = authorization[len(_BEARER) :].strip()
        if not token:
            raise Rejected(ApnsReason.MISSING_PROVIDER_TOKEN)
        now = self._clock()
        verified = self._verified if token == self._token else None
        if verified is None:
            verified = self._adopt(token, now)
        if now - verified.issued_at > TOKEN_MAX_AGE_SECONDS:
            raise Rejected(ApnsReason.EXPIRED_PROVIDER_TOKEN)
        self._current = verified

    def authorize(self, bundle_id: str) -> None:
        verified = self._current
        if verified is None:
            raise Rejected(ApnsReason.MISSING_PROVIDER_TOKEN)
        bundles = verified.key.bundle_ids
        if bundles is not None and bundle_id not in bundles:
            # Pushy's mock answers a key used outside its topics this way.
            raise Rejected(ApnsReason.INVALID_PROVIDER_TOKEN)

    def _adopt(self, token: bytes, now: float) -> VerifiedToken:
        verified = self._verifier.verify(token)
        if self._team_id is not None and verified.team_id != self._team_id:
            raise Rejected(ApnsReason.INVALID_PROVIDER_TOKEN)
        if self._key_id is not None and verified.key_id != self._key_id:
            raise Rejected(ApnsReason.UNRELATED_KEY_ID_IN_TOKEN)
        restricted = verified.key.environment
        if restricted is not None and restricted is not self._environment:
            raise Rejected(ApnsReason.BAD_ENVIRONMENT_KEY_ID_IN_TOKEN)
        if now - verified.issued_at > TOKEN_MAX_AGE_SECONDS:
            raise Rejected(ApnsReason.EXPIRED_PROVIDER_TOKEN)
        if verified.issued_at - now > FUTURE_SKEW_SECONDS:
            raise Rejected(ApnsReason.INVALID_PROVIDER_TOKEN)
        if self._token is not None and now - self._adopted_at < MIN_TOKEN_UPDATE_INTERVAL_SECONDS:
            raise Rejected(ApnsReason.TOO_MANY_PROVIDER_TOKEN_UPDATES)
        self._token = token
        self._verified = verified
        self._adopted_at = now
        self._team_id = verified.team_id
        self._key_id = verified.key_id
        if self._on_adopt is not None:
            self._on_adopt(verified.key_id, verified.issued_at)
        return verified


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """Who a TLS client certificate speaks for.

    ``topics`` are the bundle id, ``.voip`` and ``.complication`` — what one APNs
    certificate covers and what Pushy's mock allows. ``environment`` None means a
    "Sandbox & Production" certificate.
    """

    bundle_id: str
    topics: frozenset[str]
    serial: int
    environment: Environment | None = None

    @classmethod
    def for_bundle(
        cls, bundle_id: str, serial: int, environment: Environment | None = None
    ) -> ClientIdentity:
        topics = frozenset(
            t.topic_for(bundle_id) for t in (PushType.ALERT, PushType.VOIP, PushType.COMPLICATION)
        )
        return cls(bundle_id, topics, serial, environment)


class CertificateConnectionAuth:
    """Certificate authentication: the ``authorization`` header is ignored, as on APNs."""

    def __init__(self, identity: ClientIdentity, environment: Environment) -> None:
        self._identity = identity
        self._environment = environment

    @property
    def authenticated(self) -> bool:
        return True

    @property
    def identity(self) -> ClientIdentity:
        return self._identity

    def authenticate(
        self, authorization: bytes | None, topic: str, bundle_id: str, push_type: PushType
    ) -> None:
        self.identify(authorization, topic, push_type)
        self.authorize(bundle_id)

    def authorize(self, bundle_id: str) -> None:
        """The certificate's topics were checked against the request's topic, and the
        device token against that topic."""

    def identify(self, authorization: bytes | None, topic: str, push_type: PushType) -> None:
        restricted = self._identity.environment
        if restricted is not None and restricted is not self._environment:
            raise Rejected(ApnsReason.BAD_CERTIFICATE_ENVIRONMENT)
        if push_type.rules.token_auth_only:
            # Location, Live Activity and File Provider pushes need token auth.
            raise Rejected(ApnsReason.TOPIC_DISALLOWED)
        if topic not in self._identity.topics:
            raise Rejected(ApnsReason.BAD_TOPIC)
