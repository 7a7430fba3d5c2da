"""Verifying provider tokens as APNs does, cheaply enough for the hot path (docs/apns.md §4).

A provider is told to reuse one token for up to an hour, so nearly every request
carries a token already seen. The ECDSA check (tens of microseconds) is done once per
distinct token string and its verdict cached; only the time-dependent checks (``iat``
age), which belong to the connection, run per request.

The token is parsed by hand instead of with PyJWT because APNs's rules differ from a
generic validator's: ``ES256`` only, ``kid`` must name a registered key, ``iss`` must be
that key's team, and ``iat`` is judged by the caller against its (injectable) clock.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ringpush.apns.reasons import ApnsReason
from ringpush.sandbox.keys import KeyRing, SandboxKey
from ringpush.sandbox.rejected import Rejected

#: Distinct token strings remembered; a provider rotates at most a few per hour.
CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token whose signature checked out against ``key``; ``issued_at`` is its ``iat``."""

    key: SandboxKey
    issued_at: float

    @property
    def key_id(self) -> str:
        return self.key.key_id

    @property
    def team_id(self) -> str:
        return self.key.team_id


class ProviderTokenVerifier:
    """Checks signature, ``alg``, ``kid`` and team of a JWT, caching the verdict per string."""

    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys
        self._cache: dict[bytes, VerifiedToken | None] = {}
        self._cache_version = keys.version
        self.verifications = 0

    def verify(self, token: bytes) -> VerifiedToken:
        """The verified token, or ``Rejected(InvalidProviderToken)``."""
        if self._cache_version != self._keys.version:
            self._cache.clear()
            self._cache_version = self._keys.version
        try:
            verdict = self._cache[token]
        except KeyError:
            verdict = self._verify(token)
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            self._cache[token] = verdict
        if verdict is None:
            raise Rejected(ApnsReason.INVALID_PROVIDER_TOKEN)
        return verdict

    def _verify(self, token: bytes) -> VerifiedToken | None:
        self.verifications += 1
        parts = token.split(b".")
        if len(parts) != 3:
            return None
        header = _json_part(parts[0])
        claims = _json_part(parts[1])
        signature = _b64url(parts[2])
        if header is None or claims is None or signature is None or len(signature) != 64:
            return None
        kid = header.get("alg") == "ES256" and header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None or claims.get("iss") != key.team_id:
            return None
        issued_at = claims.get("iat")
        # PyAPNs2 sends a float iat; whether APNs takes it is unverified, so accept it.
        if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
            return None
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            key.public_key.verify(der, parts[0] + b"." + parts[1], ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return None
        return VerifiedToken(key, float(issued_at))


def _b64url(part: bytes) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        return None


def _json_part(part: bytes) -> dict[str, object] | None:
    raw = _b64url(part)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None
