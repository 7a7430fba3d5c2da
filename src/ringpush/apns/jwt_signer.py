r"""Provider tokens (ES256 JWTs) for token-based APNs connections (docs/apns.md §4).

Apple rejects a token whose ``iat`` is over an hour old (``ExpiredProviderToken``) and
answers ``TooManyProviderTokenUpdates`` when a connection sees a new token within 20
minutes of the last. So one token serves every connection of a credential, it is signed
again after :data:`REFRESH_AFTER_SECONDS` (comfortably before the hour, leaving room for
clock skew between us and Apple), and never sooner than :data:`MIN_REFRESH_INTERVAL_SECONDS`
after the previous one — not even when Apple calls it expired.

Several processes sending for one key must look like one provider, so a signer can be
*shared*: it then never signs on its own schedule; it reports when it is :meth:`due
<ProviderTokenSigner.due>`, its owner fetches the deployment's stored token, lets
:meth:`~ProviderTokenSigner.choose` decide (under the store's lock) whether to keep it or
sign anew, and :meth:`~ProviderTokenSigner.adopt`\ s the result. The rules stay here, free
of I/O; the storage is the registry's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jwt

from ringpush.apns.credentials import TokenCredentials

#: Sign anew after 50 minutes: 10 minutes before Apple's one-hour expiry.
REFRESH_AFTER_SECONDS = 50 * 60
#: Apple's floor between two tokens on one connection.
MIN_REFRESH_INTERVAL_SECONDS = 20 * 60


@dataclass(frozen=True, slots=True)
class ProviderToken:
    """A signed token and when it was issued; ``header`` is the ready ``authorization`` value."""

    issued_at: int
    header: bytes = field(repr=False)


def sign_provider_token(credentials: TokenCredentials, issued_at: int) -> ProviderToken:
    token = jwt.encode(
        {"iss": credentials.team_id, "iat": issued_at},
        credentials.private_key,
        algorithm="ES256",
        headers={"kid": credentials.key_id},
    )
    return ProviderToken(issued_at=issued_at, header=b"bearer " + token.encode())


class ProviderTokenSigner:
    """Hands out the credential's current provider token, signing a new one when due."""

    def __init__(
        self,
        credentials: TokenCredentials,
        *,
        clock: Callable[[], float] = time.time,
        refresh_after: int = REFRESH_AFTER_SECONDS,
        shared: bool = False,
    ) -> None:
        self._credentials = credentials
        self._clock = clock
        self._refresh_after = refresh_after
        self._shared = shared
        self._token: ProviderToken | None = None
        self._rejected: ProviderToken | None = None
        self.signed_count = 0

    @property
    def credentials(self) -> TokenCredentials:
        return self._credentials

    @property
    def shared(self) -> bool:
        return self._shared

    def current(self) -> ProviderToken:
        """The token to send now; cheap enough to call for every request. A shared signer
        keeps its adopted token until it adopts another."""
        token = self._token
        if token is None:
            return self._sign()
        if not self._shared and self._clock() - token.issued_at >= self._refresh_after:
            return self._sign()
        return token

    def due(self) -> bool:
        """A shared signer's token should be exchanged with the store: it has none, its
        token is old, or APNs called its token expired."""
        token = self._token
        return (
            token is None
            or self._clock() - token.issued_at >= self._refresh_after
            or self._rejected is not None
        )

    def choose(self, stored: ProviderToken | None) -> ProviderToken:
        """Keep the deployment's ``stored`` token or sign a new one: new when there is
        none, when it is older than the refresh age, or when APNs rejected exactly it
        as expired and it is at least 20 minutes old; otherwise keep it (another
        instance may have signed it a moment ago)."""
        if stored is None:
            return self._new()
        age = self._clock() - stored.issued_at
        rejected = self._rejected is not None and self._rejected.header == stored.header
        if age >= self._refresh_after or (rejected and age >= MIN_REFRESH_INTERVAL_SECONDS):
            return self._new()
        return stored

    def adopt(self, token: ProviderToken) -> None:
        """Use ``token`` from now on (the shared one)."""
        # A rejection is settled either way: by a new token, or by keeping one too young
        # to replace (APNs saying so again later asks again).
        self._rejected = None
        self._token = token

    def refresh(self, rejected: ProviderToken) -> ProviderToken:
        """A token to retry with after APNs answered ``ExpiredProviderToken`` to ``rejected``.

        Signs a new token only if ``rejected`` is still the current one and is at least
        20 minutes old; otherwise returns the current token (a newer one already exists,
        or signing again would trip ``TooManyProviderTokenUpdates``).
        """
        token = self._token
        if token is None:
            return self._sign()
        if token.header != rejected.header:
            return token
        if self._shared:
            self._rejected = rejected  # the store decides, at the next exchange
            return token
        if self._clock() - token.issued_at < MIN_REFRESH_INTERVAL_SECONDS:
            return token
        return self._sign()

    def _sign(self) -> ProviderToken:
        self._token = self._new()
        return self._token

    def _new(self) -> ProviderToken:
        self.signed_count += 1
        return sign_provider_token(self._credentials, int(self._clock()))
