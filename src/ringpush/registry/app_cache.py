"""Apps kept in memory, so a push or a call does not read its app (and open its sealed
signing key) every time.

A change on any instance reaches every instance's cache through the database's
notifications (PostgreSQL ``NOTIFY`` on :data:`APPS_CHANNEL`, sent by the registry after
the change commits), within the time a notification takes. A notification lost while
the listening connection was down is covered by a short time to live.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ringpush.registry.models import App

if TYPE_CHECKING:
    from ringpush.registry.store import Registry

#: The channel that names an app each time it is created, changed or deleted.
APPS_CHANNEL = "ringpush_apps"
#: Seconds a cached app is trusted without a notification (the safety net).
TTL_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class _Entry:
    app: App | None
    read_at: float


class AppCache:
    def __init__(
        self,
        registry: Registry,
        *,
        ttl: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        #: Bumped by every change: a read that started before it is not cached.
        self._generation: dict[str, int] = {}
        self._subscribers: list[Callable[[str], None]] = []

    async def start(self) -> None:
        await self._registry.notifications.listen(APPS_CHANNEL, self.forget)

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(app_id)`` whenever an app changed on some instance."""
        self._subscribers.append(callback)

    async def get(self, app_id: str) -> App | None:
        entry = self._entries.get(app_id)
        if entry is not None and self._clock() - entry.read_at < self._ttl:
            return entry.app
        generation = self._generation.get(app_id, 0)
        read_at = self._clock()
        app = await self._registry.get_app(app_id)
        if self._generation.get(app_id, 0) == generation:
            self._entries[app_id] = _Entry(app, read_at)
        return app

    def forget(self, app_id: str) -> None:
        self._generation[app_id] = self._generation.get(app_id, 0) + 1
        self._entries.pop(app_id, None)
        for callback in self._subscribers:
            callback(app_id)
