"""Pushes other than call invitations (alert, complication, fileprovider, …, or an FCM
data message to Android devices) to a user's devices of that type, through the same
outbox and with the same APNs or FCM rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ringpush.apns.errors import InvalidNotification
from ringpush.apns.notification import Notification, compact_json
from ringpush.apns.push_type import PushType
from ringpush.delivery.fcm_pushes import message_for
from ringpush.delivery.queueing import Dispatcher, push_for_device
from ringpush.platforms import FCM, PushKind
from ringpush.registry.models import Device
from ringpush.registry.outbox_models import OutboxPush, Urgency
from ringpush.registry.store import Registry

#: A token only used to run the notification rules before anything is stored.
_PROBE_TOKEN = "00" * 32


class NoDevicesForPushType(Exception):
    """The user has no live device registered for the push type: nothing is stored."""

    def __init__(self, user_id: str, push_type: PushKind) -> None:
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
        push_type: PushKind,
        payload: dict[str, Any],
        priority: int | None = None,
        expiration: int | None = None,
        collapse_id: str | None = None,
        device_id: str | None = None,
    ) -> list[OutboxPush]:
        """Queue one push per device of ``push_type`` (only ``device_id``'s, when given);
        raises InvalidNotification first, NoDevicesForPushType when there is no device
        to send to.

        They are stored pending and claimed by the engine as lanes have room: a bulk
        sender cannot crowd out anything, however fast it posts."""
        body = compact_json(payload)
        now = self._clock()
        if push_type is FCM:
            # What FCM would refuse is refused here, before anything is stored.
            message_for(
                _PROBE_TOKEN,
                body,
                now,
                priority=priority,
                expiration=expiration,
                collapse_id=collapse_id,
            ).encode()
        else:
            Notification.for_app(
                bundle_id,
                push_type,
                _PROBE_TOKEN,
                body,
                priority=priority,
                expiration=expiration,
                collapse_id=collapse_id,
            ).encode()
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
            if device_id in (None, device.device_id)
        ]
        if not pushes:
            raise NoDevicesForPushType(user_id, push_type)
        await self._registry.outbox.enqueue(pushes)
        self._dispatcher.wake()
        return pushes

    async def check_device(
        self, *, app_id: str, user_id: str, device_id: str
    ) -> list[tuple[Device, OutboxPush | None]]:
        """Each registration of the device, with the silent push that checks its token
        (alert tokens: a background push with priority 5, expiration 0 so that APNs does
        not store it), or None for a token that only a push of its own type would test
        (VoIP, complication, file provider). The engine answers it as any push: a
        token of the other APS environment is tried there, a dead one is removed."""
        devices = [
            device
            for device in await self._registry.devices_of_user(app_id, user_id)
            if device.device_id == device_id
        ]
        if not devices:
            raise UnknownDevice(device_id)
        now = self._clock()
        checks = [
            (
                device,
                push_for_device(
                    device,
                    SILENT,
                    now,
                    push_type=PushType.BACKGROUND,
                    priority=5,
                    expiration=0,
                    collapse_id="ringpush-token-check",
                    urgency=Urgency.CALL_FOLLOW_UP,
                )
                if device.push_type is PushType.ALERT
                else None,
            )
            for device in devices
        ]
        sent = [push for _, push in checks if push is not None]
        if sent:
            await self._registry.outbox.enqueue(sent)
            self._dispatcher.wake()
        return checks


__all__ = ["InvalidNotification", "NoDevicesForPushType", "PushService"]


#: A silent push: what a token check sends to an alert token (never a VoIP push, which
#: iOS would have to show as a call).
SILENT = compact_json({"aps": {"content-available": 1}})


class UnknownDevice(Exception):
    """No registration of that device for that user."""
