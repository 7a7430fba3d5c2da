"""Access tokens the token endpoint issued, and the bearer check of each send.

Google's access tokens live about an hour and are announced as ``expires_in: 3599``
(docs/fcm.md §3). Expired tokens stay known, so a send with one gets the
``ACCESS_TOKEN_EXPIRED`` answer, not the one for a token never issued: a client's
refresh-and-resend path is only tested if the two differ. Tests shorten the lifetime,
or expire every token at once (:meth:`AccessTokens.expire_all`).

Authentication is a strategy (:class:`SenderAuth`), as in the APNs sandbox: the
validator asks it who is sending before anything about the message or the target is
looked at, so a caller that is not authenticated learns nothing of which tokens exist.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ringpush.sandbox.fcm.accounts import Project
from ringpush.sandbox.fcm.rejection import AccessProblem, FcmRejected

#: Google's access-token lifetime; ``expires_in`` is one second less, as observed.
DEFAULT_LIFETIME_SECONDS = 3600.0
_BEARER = "bearer "


@dataclass(slots=True)
class AccessToken:
    token: str = field(repr=False)
    client_email: str
    project_id: str
    scopes: frozenset[str]
    issued_at: float
    expires_at: float

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


class AccessTokens:
    """Issued access tokens; ``lifetime`` applies to the next ones issued."""

    def __init__(
        self, clock: Callable[[], float], lifetime: float = DEFAULT_LIFETIME_SECONDS
    ) -> None:
        self._clock = clock
        self._tokens: dict[str, AccessToken] = {}
        self.lifetime = lifetime

    @property
    def lifetime(self) -> float:
        return self._lifetime

    @lifetime.setter
    def lifetime(self, seconds: float) -> None:
        if not (seconds > 0 and math.isfinite(seconds)):
            raise ValueError("an access token's lifetime must be a positive number of seconds")
        self._lifetime = float(seconds)

    @property
    def expires_in(self) -> int:
        """What the token answer announces: whole seconds, one short (3599 for an hour)."""
        return max(int(self._lifetime) - 1, 0)

    def issue(self, client_email: str, project_id: str, scopes: frozenset[str]) -> AccessToken:
        now = self._clock()
        token = AccessToken(
            "ya29.c." + secrets.token_urlsafe(96),
            client_email,
            project_id,
            scopes,
            now,
            now + self._lifetime,
        )
        self._tokens[token.token] = token
        return token

    def get(self, token: str) -> AccessToken | None:
        return self._tokens.get(token)

    def expire_all(self) -> int:
        """Make every live token expired now; returns how many were live."""
        now = self._clock()
        live = [t for t in self._tokens.values() if not t.expired(now)]
        for token in live:
            token.expires_at = now
        return len(live)

    def live(self) -> int:
        now = self._clock()
        return sum(1 for t in self._tokens.values() if not t.expired(now))

    def __len__(self) -> int:
        return len(self._tokens)


class SenderAuth(Protocol):
    """Decides who sends and whether they may send to the project; raises
    :class:`FcmRejected` (never with an ``FcmError``: see
    :class:`~ringpush.sandbox.fcm.rejection.AccessProblem`)."""

    def identify(self, authorization: str | None) -> AccessToken: ...

    def authorize(self, sender: AccessToken, project: Project | None, named: str) -> None: ...


class BearerAuth:
    """OAuth 2.0 bearer access tokens from the sandbox's own token endpoint."""

    def __init__(self, tokens: AccessTokens, clock: Callable[[], float]) -> None:
        self._tokens = tokens
        self._clock = clock

    def identify(self, authorization: str | None) -> AccessToken:
        if authorization is None or not authorization.lower().startswith(_BEARER):
            raise FcmRejected.access(AccessProblem.CREDENTIALS_MISSING)
        value = authorization[len(_BEARER) :].strip()
        if not value:
            raise FcmRejected.access(AccessProblem.CREDENTIALS_MISSING)
        token = self._tokens.get(value)
        if token is None:
            raise FcmRejected.access(AccessProblem.INVALID_CREDENTIALS)
        if token.expired(self._clock()):
            raise FcmRejected.access(AccessProblem.ACCESS_TOKEN_EXPIRED)
        return token

    def authorize(self, sender: AccessToken, project: Project | None, named: str) -> None:
        """An account may send for its own project only (IAM's
        ``cloudmessaging.messages.create``); a project the sandbox does not know gets
        the same answer, as Google's says "(or it may not exist)"."""
        if project is None or project.project_id != sender.project_id:
            raise FcmRejected.access(AccessProblem.PERMISSION_DENIED, named)
