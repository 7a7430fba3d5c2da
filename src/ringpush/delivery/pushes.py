"""Pushes other than call invitations (alert, complication, fileprovider, …) to a user's
devices of that type, through the same outbox and with the same APNs rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ringpush.apns.errors import InvalidNotification
from ringpush.apns.notification import Notification, compact_json
from ringpush.apns.push_type import PushType
from ringpush.delivery.queueing import Dispatcher, push_for_device
from ringpush.registry.outbox_models import OutboxPush
from ringpush.registry.store import Registry

#: A token only used to run the notification rules before anything is stored.
_PROBE_TOKEN = "00" * 32


class NoDevicesForPushType(Exception):
    """The user has no live device registered for the push type: nothing is stored."""

    def __init__(self, user_id: str, push_type: PushType) -> None:
        super().__init__(user_id, push_type)
        self.user_id = user_id
        self.push_type = push_type


class PushService:
    def __init__(
        self, registry: Registry, dispatcher: Dispatcher, clock: Callable[[], datetime]
    ) -> None:
        self._registry = registry
        self._dispatcher = dispatcher
        self._clock = clock

    async def send_to_user(
        self,
        *,
        app_id: str,
        bundle_id: str,
        user_id: str,
        push_type: PushType,
        payload: dict[str, Any],
        priority: int | None = None,
        expiration: int | None = None,
        collapse_id: str | None = None,
    ) -> list[OutboxPush]:
        """Queue one push per device of ``push_type``; raises InvalidNotification first,
        NoDevicesForPushType when there is no device to send to.

        They are stored pending and claimed by the engine as lanes have room: a bulk
        sender cannot crowd out anything, however fast it posts."""
        body = compact_json(payload)
        Notification.for_app(
            bundle_id,
            push_type,
            _PROBE_TOKEN,
            body,
            priority=priority,
            expiration=expiration,
            collapse_id=collapse_id,
        ).encode()
        now = self._clock()
        devices = await self._registry.devices_of_user(app_id, user_id, push_type)
        pushes = [
            push_for_device(
                device,
                body,
                now,
                priority=priority,
                expiration=expiration,
                collapse_id=collapse_id,
            )
            for device in devices
        ]
        if not pushes:
            raise NoDevicesForPushType(user_id, push_type)
        await self._registry.outbox.enqueue(pushes)
        self._dispatcher.wake()
        return pushes


__all__ = ["InvalidNotification", "NoDevicesForPushType", "PushService"]
