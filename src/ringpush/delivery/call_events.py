"""Call events for apps that hold a stream open, on whichever instance they are connected.

A woken app learns that its call was answered elsewhere, canceled, declined or timed out
from here, not from another VoIP push. With several instances the end may be posted to
instance B while the app listens on A: events travel through the database's
notifications (PostgreSQL ``NOTIFY``; in-process on SQLite) and every instance hands them
to its own subscribers. The hub also records which devices are listening (leased rows,
renewed while the stream is open), so the end-of-call background push goes only to the
devices that are not — whichever instance they listen on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from ringpush.registry.store import Registry

log = logging.getLogger(__name__)

Event = dict[str, Any]
#: What a subscriber's queue yields: an event, or None once this instance is shutting
#: down (the stream ends without a final state and the app reconnects, through the load
#: balancer, to an instance that stays).
Received = Event | None

CHANNEL = "ringpush_call_events"
#: A listener row lives this long unless its instance renews it.
LISTENER_LEASE = timedelta(seconds=30)
#: How often an instance renews its listeners' rows.
RENEW_SECONDS = 10.0


class CallEventHub:
    def __init__(
        self,
        registry: Registry,
        clock: Callable[[], datetime],
        *,
        instance_id: str | None = None,
    ) -> None:
        self._registry = registry
        self._clock = clock
        self.instance_id = instance_id or uuid.uuid4().hex
        self._queues: dict[tuple[str, str], set[asyncio.Queue[Received]]] = defaultdict(set)
        self._devices: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        self._listening: asyncio.Task[None] | None = None
        self._renewal: asyncio.Task[None] | None = None
        self._closed = False

    async def _listen(self) -> None:
        await self._registry.notifications.listen(CHANNEL, self._received)

    async def _ensure_listening(self) -> None:
        """Listen on the channel once, before anyone reads a call's state (so no event
        posted after that read can be missed)."""
        if self._listening is None:
            self._listening = asyncio.ensure_future(self._listen())
        try:
            await asyncio.shield(self._listening)
        except Exception:
            self._listening = None  # try again on the next subscription
            raise

    async def start(self) -> None:
        """Listen for other instances' events now rather than at the first stream."""
        await self._ensure_listening()

    @property
    def listening(self) -> bool:
        return self._listening is not None and self._registry.notifications.listening

    @asynccontextmanager
    async def subscribe(
        self, app_id: str, call_id: str, device_id: str | None = None
    ) -> AsyncIterator[asyncio.Queue[Received]]:
        """A queue of the call's events; None in it means this instance is closing and
        the subscriber should end its stream (the app reconnects elsewhere)."""
        key = (app_id, call_id)
        queue: asyncio.Queue[Received] = asyncio.Queue()
        if self._closed:
            queue.put_nowait(None)
            yield queue
            return
        await self._ensure_listening()
        self._queues[key].add(queue)
        try:
            if device_id is not None:
                await self._device_joined(key, device_id)
            try:
                yield queue
            finally:
                if device_id is not None:
                    await self._device_left(key, device_id)
        finally:
            self._queues[key].discard(queue)
            if not self._queues[key]:
                del self._queues[key]

    async def _device_joined(self, key: tuple[str, str], device_id: str) -> None:
        counts = self._devices[key]
        counts[device_id] = counts.get(device_id, 0) + 1
        if counts[device_id] == 1:
            until = self._clock() + LISTENER_LEASE
            try:
                await self._registry.call_listeners.add(*key, device_id, self.instance_id, until)
            except BaseException:
                await self._device_left(key, device_id)
                raise
        if self._renewal is None:
            self._renewal = asyncio.create_task(self._renew())

    async def _device_left(self, key: tuple[str, str], device_id: str) -> None:
        counts = self._devices[key]
        left = counts.get(device_id, 1) - 1
        if left:
            counts[device_id] = left
            return
        counts.pop(device_id, None)
        if not counts:
            del self._devices[key]
        with contextlib.suppress(Exception):  # the lease runs out if this fails
            await self._registry.call_listeners.remove(*key, device_id, self.instance_id)
        if not self._devices and self._renewal is not None:
            self._renewal.cancel()
            self._renewal = None

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            now = self._clock()
            try:
                await self._registry.call_listeners.renew(
                    self.instance_id, now + LISTENER_LEASE, now
                )
            except Exception:
                log.exception("renewing this instance's call listeners failed")

    async def listening_devices(self, app_id: str, call_id: str) -> set[str]:
        """Devices following the call's events on any instance."""
        return await self._registry.call_listeners.listening(app_id, call_id, self._clock())

    async def publish(self, app_id: str, call_id: str, event: Event) -> None:
        """Send the event to every instance's subscribers of the call (this one's too)."""
        message = json.dumps({"app_id": app_id, "call_id": call_id, "event": event})
        await self._registry.notifications.notify(CHANNEL, message)

    def _received(self, payload: str) -> None:
        try:
            message = json.loads(payload)
            key = (str(message["app_id"]), str(message["call_id"]))
            event = message["event"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed call event notification")
            return
        for queue in self._queues.get(key, ()):
            queue.put_nowait(event)

    async def close(self) -> None:
        """Stop listening and end every open stream (each subscriber gets None), so a
        stopping instance is not held up by apps following a ringing call."""
        self._closed = True
        for queues in self._queues.values():
            for queue in queues:
                queue.put_nowait(None)
        for task in (self._renewal, self._listening):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._renewal = None
