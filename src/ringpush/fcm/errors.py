"""Errors raised by :mod:`ringpush.fcm` before a message is sent: a service account that
cannot be used, a message FCM would refuse, a token endpoint that gave no access token.

FCM's answers to a send are never raised; they come back as
:class:`~ringpush.fcm.answer.FcmResult`. This module imports nothing heavy, so that
catching an error does not load the client.
"""

from __future__ import annotations

from collections.abc import Iterable

from ringpush.fcm.rules import Violation


class FcmError(Exception):
    """Base class of every error :mod:`ringpush.fcm` raises."""


class ServiceAccountError(FcmError, ValueError):
    """A service-account key file cannot be used; ``field`` names the culprit, None when
    the file as a whole is unreadable (not JSON, not an object, no such file)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MissingServiceAccountField(ServiceAccountError):
    """A field FCM's token exchange needs is absent (docs/fcm.md §3)."""

    def __init__(self, field: str) -> None:
        super().__init__(f"service account has no {field!r}", field)


class InvalidServiceAccountField(ServiceAccountError):
    """A field is present but unusable: wrong type, empty, malformed."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"service account field {field!r} {problem}", field)


class InvalidPrivateKey(InvalidServiceAccountField):
    """``private_key`` is not an unencrypted RSA key in PKCS#8 PEM, the form Google
    issues and RS256 needs."""

    def __init__(self, problem: str) -> None:
        super().__init__("private_key", problem)


class InvalidMessage(FcmError, ValueError):
    """The message breaks FCM's rules; ``violations`` lists every one (docs/fcm.md §2).

    Raised before sending, so that a message FCM would answer 400 ``INVALID_ARGUMENT``
    never leaves the process, and the error names each field at once rather than the
    first FCM happens to report.
    """

    def __init__(self, violations: Iterable[Violation]) -> None:
        self.violations = tuple(violations)
        listed = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(f"message breaks FCM's rules: {listed}")


class TokenExchangeError(FcmError):
    """The token endpoint gave no access token (docs/fcm.md §3).

    ``error`` is the OAuth error (``invalid_grant``), None when the answer had none;
    ``status`` the HTTP status, None when no answer came. ``retryable`` says whether
    asking again later may work.
    """

    retryable = False

    def __init__(
        self, description: str, *, error: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(description)
        self.description = description
        self.error = error
        self.status = status


class TokenRejected(TokenExchangeError):
    """The endpoint refused the assertion: the service account or the clock is wrong, and
    asking again with the same key will not help."""


class InvalidGrant(TokenRejected):
    """``invalid_grant``: a bad signature (the key was deleted or rotated), or ``iat`` /
    ``exp`` outside what Google accepts (clock skew)."""


class TokenEndpointUnavailable(TokenExchangeError):
    """The endpoint failed (5xx, 429, a timeout, no connection): retry later."""

    retryable = True


class MalformedTokenResponse(TokenExchangeError):
    """A 200 that is not an OAuth token answer: ``token_uri`` points at something that
    is not a token endpoint (or a proxy answered)."""
