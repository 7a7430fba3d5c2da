"""Call events for apps that hold a stream open (one process; PostgreSQL LISTEN/NOTIFY
would carry them between instances).

A woken app learns that its call was answered elsewhere, canceled, declined or timed out
from here, not from another VoIP push. The hub also knows which devices are listening,
so the end-of-call background push goes only to the devices that are not.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

Event = dict[str, Any]


class CallEventHub:
    def __init__(self) -> None:
        self._queues: dict[tuple[str, str], set[asyncio.Queue[Event]]] = defaultdict(set)
        self._devices: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)

    @asynccontextmanager
    async def subscribe(
        self, app_id: str, call_id: str, device_id: str | None = None
    ) -> AsyncIterator[asyncio.Queue[Event]]:
        key = (app_id, call_id)
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._queues[key].add(queue)
        if device_id is not None:
            self._devices[key][device_id] = self._devices[key].get(device_id, 0) + 1
        try:
            yield queue
        finally:
            self._queues[key].discard(queue)
            if not self._queues[key]:
                del self._queues[key]
            if device_id is not None:
                left = self._devices[key].get(device_id, 1) - 1
                if left:
                    self._devices[key][device_id] = left
                else:
                    self._devices[key].pop(device_id, None)
                if not self._devices[key]:
                    del self._devices[key]

    def listening_devices(self, app_id: str, call_id: str) -> set[str]:
        return set(self._devices.get((app_id, call_id), {}))

    def publish(self, app_id: str, call_id: str, event: Event) -> None:
        for queue in self._queues.get((app_id, call_id), ()):
            queue.put_nowait(event)
