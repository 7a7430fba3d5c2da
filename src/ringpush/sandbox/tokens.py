"""Device tokens the sandbox has issued, as APNs knows them (docs/apns.md §1, §7).

A real token is bound to one app, one push type family (PushKit tokens differ from
UserNotifications tokens) and one environment, and it can go inactive when the app is
uninstalled. The sandbox issues random 32-byte tokens and keeps exactly that binding,
so every token error APNs gives can be reproduced.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from ringpush.apns.device_token import normalize_device_token
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType

#: Bytes in a token the sandbox issues; Apple's are usually 32 (docs/apns.md §1).
TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """What APNs knows about a token; ``uninstalled_at_ms`` is set once the app is gone."""

    token: str
    bundle_id: str
    push_type: PushType
    environment: Environment
    topic: str
    uninstalled_at_ms: int | None = None


class TokenRegistry:
    """The tokens of every simulated device, shared by all environments' listeners."""

    def __init__(self) -> None:
        self._tokens: dict[str, IssuedToken] = {}

    def issue(self, bundle_id: str, push_type: PushType, environment: Environment) -> str:
        """A new random token for ``bundle_id``'s ``push_type`` pushes in ``environment``."""
        token = secrets.token_hex(TOKEN_BYTES)
        self.add(token, bundle_id, push_type, environment)
        return token

    def add(self, token: str, bundle_id: str, push_type: PushType, environment: Environment) -> str:
        """Register a token chosen by the caller (e.g. an 80-byte Live Activity token)."""
        if not bundle_id:
            raise ValueError("bundle id is empty")
        normalized = normalize_device_token(token)
        self._tokens[normalized] = IssuedToken(
            normalized, bundle_id, push_type, environment, push_type.topic_for(bundle_id)
        )
        return normalized

    def get(self, token: str) -> IssuedToken | None:
        """The token's record; ``token`` must already be lowercase hex."""
        return self._tokens.get(token)

    def uninstall(self, token: str, at_ms: int) -> IssuedToken | None:
        """Mark the app uninstalled at ``at_ms``; APNs then answers 410 with that time."""
        issued = self._tokens.get(token.lower())
        if issued is None:
            return None
        issued = replace(issued, uninstalled_at_ms=at_ms)
        self._tokens[issued.token] = issued
        return issued

    def all(self) -> list[IssuedToken]:
        return list(self._tokens.values())

    def restore(self, issued: IssuedToken) -> None:
        """Take back a token saved by an earlier run, uninstalled or not."""
        self._tokens[issued.token] = issued

    def __len__(self) -> int:
        return len(self._tokens)
