"""Starting and ending calls: VoIP pushes only ever start one (docs/apns.md §7).

iOS makes an app report every VoIP push to CallKit as a new incoming call, so a call is
started with one VoIP push per VoIP device of the callee, and ended without any VoIP push:
pushes still waiting in the outbox are withdrawn and the call's state says it is over.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ringpush.apns.errors import PayloadTooLarge
from ringpush.apns.push_type import VOIP_PAYLOAD_LIMIT, PushType
from ringpush.delivery.call_events import CallEventHub
from ringpush.delivery.fcm_pushes import HIGH, fcm_call_ended, fcm_incoming_call
from ringpush.delivery.queueing import Dispatcher, push_for_device
from ringpush.platforms import FCM
from ringpush.registry.call_models import Call, CallState, EndReason
from ringpush.registry.outbox_models import OutboxPush, Urgency
from ringpush.registry.store import Registry

#: Seconds APNs may hold a VoIP push: 0, deliver now or never, so no phone rings late.
VOIP_EXPIRATION = 0


class CallExists(Exception):
    """The app already has a call with this id."""

    def __init__(self, call_id: str) -> None:
        super().__init__(call_id)
        self.call_id = call_id


class CalleeHasNoDevices(Exception):
    """The callee has no device that a VoIP push can ring: the call is not stored."""

    def __init__(self, user_id: str) -> None:
        super().__init__(user_id)
        self.user_id = user_id


#: The version of the payload contract, ``ringpush/schemas/payloads-v1.json`` (see
#: docs/payloads.md), carried in every payload ringpush writes.
PAYLOAD_VERSION = 1


def incoming_call(call: Call, sent_at: datetime) -> dict[str, Any]:
    """The ``ringpush`` object of an incoming call, the same on iPhone and Android."""
    return {
        "version": PAYLOAD_VERSION,
        "type": "incoming-call",
        "call_id": call.call_id,
        "caller": {"id": call.caller_id, "name": call.caller_name},
        "video": call.video,
        "sent_at": int(sent_at.timestamp() * 1000),
        "ring_until": int(call.ring_until.timestamp() * 1000),
    }


def voip_payload(call: Call, sent_at: datetime) -> bytes:
    """What the app needs to report the call to CallKit at once."""
    body: dict[str, Any] = {"aps": {}, "ringpush": incoming_call(call, sent_at)}
    if call.data:
        body["data"] = call.data
    encoded = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    if len(encoded) > VOIP_PAYLOAD_LIMIT:
        raise PayloadTooLarge(len(encoded), VOIP_PAYLOAD_LIMIT, "voip")
    return encoded


def call_event(call: Call) -> dict[str, Any]:
    """The call's state as a stream event."""
    return {
        "call_id": call.call_id,
        "state": call.state.value,
        "reason": call.end_reason.value if call.end_reason else None,
        "device_id": call.ended_by_device,
    }


@dataclass(frozen=True, slots=True)
class StartedCall:
    call: Call
    pushes: list[OutboxPush]


@dataclass(frozen=True, slots=True)
class EndedCall:
    """The call after an end request; ``changed`` is False when it was already over."""

    call: Call | None
    changed: bool
    withdrawn: int


class CallService:
    def __init__(
        self,
        registry: Registry,
        dispatcher: Dispatcher,
        clock: Callable[[], datetime],
        events: CallEventHub | None = None,
        max_devices: int | None = None,
    ) -> None:
        self._registry = registry
        self._dispatcher = dispatcher
        self._clock = clock
        self.events = events or CallEventHub(registry, clock)
        #: A call rings at most this many devices (the ones seen most recently): the
        #: device cap bounds a call's fan-out even for users registered before it.
        self._max_devices = max_devices

    async def start(
        self,
        *,
        app_id: str,
        call_id: str,
        caller_id: str,
        caller_name: str,
        callee_user_id: str,
        video: bool,
        data: dict[str, Any],
        ring_seconds: float,
    ) -> StartedCall:
        now = self._clock()
        call = Call(
            app_id=app_id,
            call_id=call_id,
            caller_id=caller_id,
            caller_name=caller_name,
            callee_user_id=callee_user_id,
            video=video,
            state=CallState.RINGING,
            created_at=now,
            ring_until=now + timedelta(seconds=ring_seconds),
            data=data,
        )
        payload = voip_payload(call, now)  # raises before anything is stored
        devices = await self._registry.devices_of_user(app_id, callee_user_id, PushType.VOIP)
        devices += await self._registry.devices_of_user(app_id, callee_user_id, FCM)
        if self._max_devices is not None and len(devices) > self._max_devices:
            devices.sort(key=lambda device: device.last_seen_at, reverse=True)
            del devices[self._max_devices :]
        android = None
        if any(device.push_type is FCM for device in devices):
            android = fcm_incoming_call(incoming_call(call, now), call.data)  # or raises
        pushes = [
            push_for_device(
                device,
                payload,
                now,
                priority=10,
                expiration=VOIP_EXPIRATION,
                call_id=call_id,
                not_after=call.ring_until,
                urgency=Urgency.CALL,
            )
            if device.push_type is not FCM or android is None
            else push_for_device(
                device,
                android,
                now,
                priority=HIGH,
                # FCM's ttl: what is left of the ring time when it is sent (fcm_pushes).
                expiration=math.floor(call.ring_until.timestamp()),
                call_id=call_id,
                not_after=call.ring_until,
                urgency=Urgency.CALL,
            )
            for device in devices
        ]
        if not pushes:
            raise CalleeHasNoDevices(callee_user_id)
        # The call and its pushes are stored together: a crash between the two would
        # leave a call that exists (a retry gets 409) but rings no phone. They are
        # stored claimed by this instance's engine and handed to it in memory: nothing
        # between the request and the wire but this one transaction.
        claimed_until = self._dispatcher.claim_until()
        if not await self._registry.calls.create(call, pushes, claimed_until=claimed_until):
            raise CallExists(call_id)
        if claimed_until is None:
            self._dispatcher.wake()
        else:
            await self._dispatcher.deliver(pushes)
        return StartedCall(call, pushes)

    async def end(
        self, app_id: str, call_id: str, reason: EndReason, device_id: str | None = None
    ) -> EndedCall:
        """End a ringing call: withdraw its unsent VoIP pushes, tell the devices not
        listening, publish the event. Ending a call that is already over changes nothing.

        The end-of-call pushes are worked out from the call before it ends and stored in
        the same transaction that ends it (see :meth:`CallStore.end`)."""
        now = self._clock()
        current = await self._registry.calls.get(app_id, call_id)
        if current is None or current.state is not CallState.RINGING:
            return EndedCall(current, changed=False, withdrawn=0)
        answered = reason is EndReason.ANSWERED_ELSEWHERE
        ending = replace(
            current,
            state=CallState.ANSWERED if answered else CallState.ENDED,
            end_reason=reason,
            ended_by_device=device_id,
            ended_at=now,
        )
        pushes = await self._end_pushes(ending, now)
        ended = await self._registry.calls.end(
            app_id, call_id, reason, now, device_id=device_id, answered=answered, then_send=pushes
        )
        if ended.call is None or not ended.changed:
            return EndedCall(ended.call, changed=False, withdrawn=0)
        if pushes:
            self._dispatcher.wake()
        await self.events.publish(app_id, call_id, call_event(ended.call))
        return EndedCall(ended.call, changed=True, withdrawn=ended.withdrawn)

    async def _end_pushes(self, call: Call, now: datetime) -> list[OutboxPush]:
        """Tell the callee's other devices without a VoIP push: a background push to the
        ones not listening to the call's events, and a "missed call" alert when the call
        was canceled or timed out."""
        listening = await self.events.listening_devices(call.app_id, call.call_id)
        devices = await self._registry.devices_of_user(
            call.app_id, call.callee_user_id, PushType.ALERT
        )
        devices += await self._registry.devices_of_user(call.app_id, call.callee_user_id, FCM)
        info = {
            "version": PAYLOAD_VERSION,
            "type": "call-ended",
            "call_id": call.call_id,
            "reason": str(call.end_reason),
        }
        pushes: list[OutboxPush] = []
        missed = call.end_reason in (EndReason.CANCELED, EndReason.TIMEOUT)
        for device in devices:
            if device.push_type is FCM:
                if not missed and (
                    device.device_id in listening or device.device_id == call.ended_by_device
                ):
                    continue
                # Android has no rule against it: every end is told, a missed call with a
                # notification of its own (high priority: the user sees it).
                data, priority = fcm_call_ended(call, info, missed)
                pushes.append(
                    push_for_device(
                        device,
                        data,
                        now,
                        priority=priority,
                        collapse_id=f"call-{call.call_id}"[:64],
                        call_id=call.call_id,
                        urgency=Urgency.CALL_FOLLOW_UP,
                    )
                )
                continue
            if missed:
                who = call.caller_name or call.caller_id
                body: dict[str, Any] = {
                    "aps": {"alert": {"title": "Missed call", "body": f"Missed call from {who}"}},
                    "ringpush": info,
                }
                kind, priority = PushType.ALERT, 10
            elif device.device_id in listening or device.device_id == call.ended_by_device:
                continue
            else:
                body = {"aps": {"content-available": 1}, "ringpush": info}
                kind, priority = PushType.BACKGROUND, 5
            pushes.append(
                push_for_device(
                    device,
                    json.dumps(body, separators=(",", ":")).encode(),
                    now,
                    push_type=kind,
                    priority=priority,
                    collapse_id=f"call-{call.call_id}"[:64],
                    call_id=call.call_id,  # the delivery log ties it to its call
                    urgency=Urgency.CALL_FOLLOW_UP,
                )
            )
        return pushes

    async def expire_overdue(self) -> int:
        """End ringing calls whose ring time is over, with ``timeout``."""
        overdue = await self._registry.calls.overdue(self._clock())
        for call in overdue:
            await self.end(call.app_id, call.call_id, EndReason.TIMEOUT)
        return len(overdue)
