"""The registry interface every storage backend implements (SQLite now, PostgreSQL next)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.registry.models import App, Device, Registration


class RegistryError(Exception):
    """Base of registry errors; ``code`` is machine-readable."""

    code = "registry_error"


class UnknownApp(RegistryError):
    code = "unknown_app"


class Registry(Protocol):
    async def close(self) -> None: ...

    # apps
    async def put_app(self, app: App) -> App: ...
    async def get_app(self, app_id: str) -> App | None: ...
    async def list_apps(self) -> list[App]: ...
    async def delete_app(self, app_id: str) -> bool: ...

    # calling services' API keys (stored hashed)
    async def add_service_key(self, *, app_id: str, key: str, name: str) -> None: ...
    async def app_of_service_key(self, key: str) -> str | None: ...

    # devices
    async def register_device(
        self,
        *,
        app_id: str,
        user_id: str,
        device_id: str,
        push_type: PushType,
        token: str,
        environment: Environment,
        now: datetime,
    ) -> Registration:
        """Idempotent: the same token again only refreshes ``last_seen_at``; a token held
        by another user or device moves here (never duplicated)."""

    async def unregister_device(
        self, *, app_id: str, user_id: str, device_id: str, push_type: PushType | None = None
    ) -> int: ...

    async def devices_of_user(
        self, app_id: str, user_id: str, push_type: PushType | None = None
    ) -> list[Device]: ...

    async def list_users(self, app_id: str) -> list[str]: ...

    async def invalidate_token(
        self, *, app_id: str, token: str, invalid_since: datetime, reason: str
    ) -> bool:
        """Delete the token's registration unless it was registered again after
        ``invalid_since`` (Apple's 410 rule); returns whether it was removed."""

    async def set_environment(
        self, *, app_id: str, token: str, environment: Environment
    ) -> bool: ...
