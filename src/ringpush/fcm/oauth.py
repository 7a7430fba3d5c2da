r"""The OAuth 2.0 JWT-bearer exchange that turns a service account into an FCM access
token, and the rules for caching that token (docs/fcm.md §3). No I/O: the client posts
:func:`token_request`\ 's body and hands the answer to :func:`parse_token_answer`.

One access token serves every send of an account until shortly before it expires, and a
deployment of several instances can share it the way APNs provider tokens are shared
(:mod:`ringpush.apns.jwt_signer`): an :class:`AccessTokenStore` holds the account's row,
asks the cache whether the stored token is worth :meth:`~AccessTokenCache.keep`\ ing,
fetches a new one only if not, and every instance :meth:`~AccessTokenCache.adopt`\ s the
result. The rules stay here; the storage (sealed, like the provider token) is the
registry's to write.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode

import jwt

from ringpush.fcm.answer import json_object
from ringpush.fcm.errors import (
    InvalidGrant,
    MalformedTokenResponse,
    TokenEndpointUnavailable,
    TokenExchangeError,
    TokenRejected,
)
from ringpush.fcm.service_account import ServiceAccount

#: The scope FCM HTTP v1 needs (``cloud-platform`` also works, and grants far more).
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Google accepts an assertion living at most an hour; google-auth asks for exactly that.
ASSERTION_LIFETIME_SECONDS = 3600
#: Renew an access token this long before it expires. Its lifetime is counted from when
#: the exchange *started* (not when the answer came), and then 5 minutes more go, because
#: a send picked up with a token must still carry a valid one when FCM checks it: after
#: the request's own timeout and a retry or two within a call's ring time, and across
#: clock drift between us and Google. An early renewal costs one exchange an hour;
#: a late one costs a 401 and a resend on the call path. (google-auth: 3 min 45 s;
#: Flexisip: 5 min.)
REFRESH_MARGIN_SECONDS = 300
#: FCM may answer 401 to a token we just fetched (an account being set up, a sandbox
#: out of step): refreshing again at once would then cost an exchange per send, for
#: nothing. A token younger than this is not dropped on a 401.
MIN_TOKEN_AGE_FOR_INVALIDATION = 30
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

#: Statuses and OAuth errors that say the endpoint, not the assertion, failed: worth
#: another try (google-auth's list, with 502 added: a gateway's failure is temporary).
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
RETRYABLE_ERRORS = frozenset({"internal_failure", "server_error", "temporarily_unavailable"})


@dataclass(frozen=True, slots=True)
class AccessToken:
    """An access token and its lifetime, in seconds since the epoch of the cache's clock.

    ``obtained_at`` is when the exchange that got it started, ``expires_at`` that plus
    ``expires_in``: both on the safe side.
    """

    value: str = field(repr=False)
    obtained_at: float
    expires_at: float
    token_type: str = "Bearer"

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header's value (FCM takes the type as ``Bearer``)."""
        return f"Bearer {self.value}"

    @property
    def lifetime(self) -> float:
        return self.expires_at - self.obtained_at


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """The exchange request: ``POST url`` with ``body``; the body carries the signed
    assertion, so it stays out of the repr."""

    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = field(repr=False)


def sign_assertion(account: ServiceAccount, issued_at: int, scope: str = SCOPE) -> str:
    """The RS256 JWT that asks ``token_uri`` for an access token.

    ``aud`` is the account's own ``token_uri``: Google's documented audience equals it in
    every real key file, and an FCM-compatible endpoint (the sandbox) expects its own URL.
    """
    return jwt.encode(
        {
            "iss": account.client_email,
            "scope": scope,
            "aud": account.token_uri,
            "iat": issued_at,
            "exp": issued_at + ASSERTION_LIFETIME_SECONDS,
        },
        account.private_key,
        algorithm="RS256",
        headers={"kid": account.private_key_id},
    )


def token_request_body(assertion: str) -> bytes:
    return urlencode({"grant_type": GRANT_TYPE, "assertion": assertion}).encode("ascii")


def token_request(account: ServiceAccount, issued_at: int, scope: str = SCOPE) -> TokenRequest:
    return TokenRequest(
        url=account.token_uri,
        headers=(("content-type", FORM_CONTENT_TYPE), ("accept", "application/json")),
        body=token_request_body(sign_assertion(account, issued_at, scope)),
    )


def parse_token_answer(status: int, body: bytes, *, requested_at: float) -> AccessToken:
    """The access token in the endpoint's answer, or the :class:`TokenExchangeError` that
    says why there is none (never another exception, whatever the body holds)."""
    document = json_object(body)
    if status != 200:
        raise _answer_error(status, document)
    if document is None:
        raise MalformedTokenResponse("the token endpoint's 200 is not a JSON object", status=200)
    value = document.get("access_token")
    if not isinstance(value, str) or not value:
        raise MalformedTokenResponse("the token endpoint's answer has no access_token", status=200)
    expires_in = _seconds(document.get("expires_in"))
    if expires_in is None:
        raise MalformedTokenResponse(
            "the token endpoint's answer has no valid expires_in", status=200
        )
    token_type = document.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise MalformedTokenResponse(f"token_type is {token_type!r}, not Bearer", status=200)
    return AccessToken(value, requested_at, requested_at + expires_in)


def _answer_error(status: int, document: dict[str, Any] | None) -> TokenExchangeError:
    error = document.get("error") if document is not None else None
    error = error if isinstance(error, str) else None
    described = document.get("error_description") if document is not None else None
    if isinstance(described, str) and described:
        description = f"{error or 'error'}: {described}"
    elif error is not None:
        description = error
    else:
        # A proxy's page or a wrong URL: its body says nothing worth repeating.
        description = f"HTTP {status} from the token endpoint, not an OAuth answer"
    if status in RETRYABLE_STATUSES or error in RETRYABLE_ERRORS:
        return TokenEndpointUnavailable(description, error=error, status=status)
    if error == "invalid_grant":
        return InvalidGrant(description, error=error, status=status)
    return TokenRejected(description, error=error, status=status)


def _seconds(value: object) -> float | None:
    """``expires_in`` as a number or a numeric string (google-auth takes both)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value) and value > 0:
        return float(value)
    return None


class AccessTokenCache:
    """The account's current access token, and when it is due for renewal.

    Pure rules with an injected clock; the exchange itself is the owner's (the client).
    Pass one cache to several clients of an account to have them share its token.
    ``min_age_for_invalidation`` 0 renews on every 401, however young the token (for a
    sandbox that expires tokens on demand).
    """

    def __init__(
        self,
        account: ServiceAccount,
        *,
        clock: Callable[[], float] = time.time,
        margin: float = REFRESH_MARGIN_SECONDS,
        min_age_for_invalidation: float = MIN_TOKEN_AGE_FOR_INVALIDATION,
    ) -> None:
        self._account = account
        self._clock = clock
        self._margin = margin
        self._min_age = min_age_for_invalidation
        self._token: AccessToken | None = None
        self._rejected: str | None = None
        self.adopted_count = 0

    @property
    def account(self) -> ServiceAccount:
        return self._account

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    def current(self) -> AccessToken | None:
        """The token to send with now, or None when one must be obtained first."""
        token = self._token
        if token is None or not self.keep(token):
            return None
        return token

    def due(self) -> bool:
        return self.current() is None

    def keep(self, token: AccessToken | None) -> bool:
        """Whether ``token`` (this cache's, or the one a shared store holds) is still
        good to send with: not FCM-rejected, and not within the margin of its expiry.

        A short-lived token (a sandbox's) is renewed at half its life instead, so that
        a lifetime under the margin does not make every send an exchange.
        """
        if token is None or token.value == self._rejected:
            return False
        margin = min(self._margin, token.lifetime / 2)
        return self._clock() < token.expires_at - margin

    def adopt(self, token: AccessToken) -> None:
        """Send with ``token`` from now on (fetched, or the shared one)."""
        # Settled: a store never offers the rejected token (``keep`` refuses it), so this
        # one is new, or the endpoint handed the same one out again and vouches for it.
        self._rejected = None
        self._token = token
        self.adopted_count += 1

    def invalidate(self, token: AccessToken) -> bool:
        """FCM answered 401 without an ``FcmError`` to a send carrying ``token``: drop it,
        so that the next send renews, and never adopt it again from a shared store.

        Returns whether to resend: True when it was dropped or a newer token is already
        current (a concurrent send renewed it); False when ``token`` is too young to
        blame (younger than ``min_age_for_invalidation``), so the 401 stands.
        """
        current = self._token
        if current is not None and current.value != token.value:
            return True  # already renewed by another send: resend with the new one
        if self._clock() - token.obtained_at < self._min_age:
            return False
        self._rejected = token.value
        self._token = None
        return True


class AccessTokenStore(Protocol):
    """Where the instances of a deployment keep each account's access token (a sealed
    row, as ``registry/provider_tokens.py`` keeps APNs provider tokens)."""

    async def exchange(
        self,
        account: ServiceAccount,
        keep: Callable[[AccessToken | None], bool],
        fetch: Callable[[], Awaitable[AccessToken]],
    ) -> AccessToken:
        """Hold the account's row (keyed by :attr:`ServiceAccount.identity` and
        :attr:`~ServiceAccount.fingerprint`); return the stored token if ``keep(stored)``,
        else ``await fetch()``, store that and return it."""
