"""APS environments and Apple's hosts for them (docs/apns.md §1)."""

from __future__ import annotations

from enum import StrEnum


class Environment(StrEnum):
    """The APS environment a token was issued for; it picks the APNs host.

    A token works only on the host of its own environment: sent to the other one it
    gets ``400 BadDeviceToken``.
    """

    DEVELOPMENT = "development"
    PRODUCTION = "production"

    @property
    def host(self) -> str:
        return PRODUCTION_HOST if self is Environment.PRODUCTION else DEVELOPMENT_HOST

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:443"

    @property
    def other(self) -> Environment:
        if self is Environment.PRODUCTION:
            return Environment.DEVELOPMENT
        return Environment.PRODUCTION


PRODUCTION_HOST = "api.push.apple.com"
DEVELOPMENT_HOST = "api.sandbox.push.apple.com"
#: Port 2197 lets a firewall pass APNs while blocking other HTTPS.
ALTERNATE_PORT = 2197
