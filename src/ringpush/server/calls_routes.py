"""Call routes: start (VoIP pushes to every device of the callee), state, end, deliveries."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import StreamingResponse

from ringpush.apns.errors import InvalidNotification, PayloadTooLarge
from ringpush.apns.push_type import PushType
from ringpush.delivery.answers import PushAnswers
from ringpush.delivery.calls import CalleeHasNoDevices, CallExists, CallService, call_event
from ringpush.delivery.outcomes import first_outcomes
from ringpush.delivery.pushes import NoDevicesForPushType, PushService
from ringpush.registry.call_models import Call, CallState, EndReason
from ringpush.registry.outbox_models import OutboxPush
from ringpush.registry.store import Registry
from ringpush.server.auth import Principal, Role, forbidden
from ringpush.server.errors import ApiError
from ringpush.server.schemas import (
    ID_PATTERN,
    CallEndIn,
    CallIn,
    CallOut,
    DeliveryOut,
    DeviceActionIn,
    PushIn,
    PushOut,
)

#: Comment lines keep idle event streams open through proxies.
KEEPALIVE_SECONDS = 15.0
#: How long POST /v1/calls waits for APNs's first answers before replying.
FIRST_ANSWER_WAIT_SECONDS = 3.0


def _sse(event: dict[str, object]) -> bytes:
    return b"event: call\ndata: " + json.dumps(event).encode() + b"\n\n"


def delivery_out(push: OutboxPush) -> DeliveryOut:
    return DeliveryOut(
        push_id=push.push_id,
        call_id=push.call_id,
        user_id=push.user_id,
        device_id=push.device_id,
        push_type=push.push_type,
        environment=push.environment,
        apns_id=push.apns_id,
        state=push.state.value,
        attempts=push.attempts,
        status=push.status,
        reason=push.reason,
    )


def call_out(call: Call, deliveries: list[OutboxPush], withdrawn: int = 0) -> CallOut:
    return CallOut(
        call_id=call.call_id,
        state=call.state.value,
        caller_id=call.caller_id,
        caller_name=call.caller_name,
        callee_user_id=call.callee_user_id,
        video=call.video,
        ring_until=call.ring_until,
        end_reason=call.end_reason.value if call.end_reason else None,
        ended_by_device=call.ended_by_device,
        deliveries=[delivery_out(p) for p in deliveries],
        withdrawn=withdrawn,
    )


def build_calls_router(
    registry: Registry,
    calls: CallService,
    pushes: PushService,
    answers: PushAnswers,
    principal: Callable[..., Awaitable[Principal]],
) -> APIRouter:
    router = APIRouter()
    Caller = Annotated[Principal, Depends(principal)]
    CallId = Annotated[str, Path(pattern=ID_PATTERN)]

    def app_of(caller: Principal, *, user_allowed: bool = False) -> str:
        if caller.role is Role.SERVICE or (user_allowed and caller.role is Role.USER):
            assert caller.app_id is not None
            return caller.app_id
        raise forbidden("this call needs the calling service's API key")

    async def visible_call(caller: Principal, call_id: str) -> Call:
        app_id = app_of(caller, user_allowed=True)
        call = await registry.calls.get(app_id, call_id)
        if call is None or (caller.role is Role.USER and call.callee_user_id != caller.user_id):
            raise ApiError(404, "unknown_call", f"no call {call_id!r}")
        return call

    @router.post("/v1/calls", response_model=CallOut, status_code=201)
    async def start_call(body: CallIn, caller: Caller) -> CallOut:
        """Ring every VoIP device of the callee; answers per device (apns-id, outcome)."""
        app_id = app_of(caller)
        try:
            started = await calls.start(
                app_id=app_id,
                call_id=body.call_id or str(uuid.uuid4()),
                caller_id=body.caller_id,
                caller_name=body.caller_name,
                callee_user_id=body.callee_user_id,
                video=body.video,
                data=body.data,
                ring_seconds=body.ring_timeout_seconds,
            )
        except PayloadTooLarge as exc:
            raise ApiError(413, "payload_too_large", f"data: {exc}") from None
        except CallExists:
            raise ApiError(409, "call_exists", f"call {body.call_id!r} exists") from None
        except CalleeHasNoDevices:
            raise ApiError(
                404,
                "callee_has_no_devices",
                f"user {body.callee_user_id!r} has no device that can ring (no VoIP token"
                " registered, or none left valid); nothing was stored",
            ) from None
        outcomes = await first_outcomes(
            registry, answers, started.pushes, FIRST_ANSWER_WAIT_SECONDS
        )
        return call_out(started.call, outcomes)

    @router.post("/v1/pushes", response_model=PushOut, status_code=201)
    async def push_to_user(body: PushIn, caller: Caller) -> PushOut:
        """Any other push type (complication, fileprovider, alert, …) to a user's devices
        of that type. VoIP pushes only start calls: use POST /v1/calls."""
        app_id = app_of(caller)
        if body.push_type is PushType.VOIP:
            raise ApiError(
                422, "voip_needs_a_call", "push_type: VoIP pushes start calls: use POST /v1/calls"
            )
        app = await registry.get_app(app_id)
        if app is None:
            raise ApiError(404, "unknown_app", f"no app {app_id!r}")
        try:
            queued = await pushes.send_to_user(
                app_id=app_id,
                bundle_id=app.bundle_id,
                user_id=body.user_id,
                push_type=body.push_type,
                payload=body.payload,
                priority=body.priority,
                expiration=body.expiration,
                collapse_id=body.collapse_id,
            )
        except PayloadTooLarge as exc:
            raise ApiError(413, "payload_too_large", f"payload: {exc}") from None
        except InvalidNotification as exc:
            raise ApiError(422, "invalid_push", f"{exc.reason.value}: {exc}") from None
        except NoDevicesForPushType:
            raise ApiError(
                404,
                "no_devices_for_push_type",
                f"user {body.user_id!r} has no device registered for"
                f" {body.push_type.value} pushes; nothing was stored",
            ) from None
        outcomes = await first_outcomes(registry, answers, queued, FIRST_ANSWER_WAIT_SECONDS)
        return PushOut(deliveries=[delivery_out(p) for p in outcomes])

    @router.get("/v1/calls/{call_id}", response_model=CallOut)
    async def get_call(call_id: CallId, caller: Caller) -> CallOut:
        call = await visible_call(caller, call_id)
        deliveries = await registry.outbox.query(app_id=call.app_id, call_id=call_id)
        return call_out(call, deliveries if caller.role is Role.SERVICE else [])

    @router.get("/v1/calls/{call_id}/events")
    async def call_events(
        call_id: CallId,
        caller: Caller,
        device_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    ) -> StreamingResponse:
        """Server-sent events of the call's state until it is over: how a woken app learns
        that it was answered elsewhere, canceled or timed out (never by VoIP push)."""
        call = await visible_call(caller, call_id)

        async def stream() -> AsyncIterator[bytes]:
            async with calls.events.subscribe(call.app_id, call_id, device_id) as queue:
                current = await registry.calls.get(call.app_id, call_id)
                assert current is not None
                yield _sse(call_event(current))
                if current.state is not CallState.RINGING:
                    return
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                    except TimeoutError:
                        # A safety net for an event lost between instances (say, while
                        # the database connection was re-established): the state is
                        # the truth, so look at it on every keep-alive.
                        latest = await registry.calls.get(call.app_id, call_id)
                        if latest is not None and latest.state is not CallState.RINGING:
                            yield _sse(call_event(latest))
                            return
                        yield b": keep-alive\n\n"
                        continue
                    if event is None:  # this instance is stopping: reconnect elsewhere
                        return
                    yield _sse(event)
                    if event["state"] != CallState.RINGING.value:
                        return

        return StreamingResponse(stream(), media_type="text/event-stream")

    @router.post("/v1/calls/{call_id}/end", response_model=CallOut)
    async def end_call(call_id: CallId, body: CallEndIn, caller: Caller) -> CallOut:
        """End without any VoIP push: unsent ones are withdrawn, the state says why.
        Ending a call that is already over returns it unchanged."""
        call = await visible_call(caller, call_id)
        ended = await calls.end(call.app_id, call_id, body.reason, body.device_id)
        assert ended.call is not None
        return call_out(ended.call, [], ended.withdrawn)

    async def device_action(
        caller: Principal, call_id: str, device_id: str, reason: EndReason
    ) -> CallOut:
        if caller.role is not Role.USER:
            raise forbidden("answer and decline come from the callee's device (user token)")
        call = await visible_call(caller, call_id)
        ended = await calls.end(call.app_id, call_id, reason, device_id)
        assert ended.call is not None
        done = ended.call
        repeated = done.end_reason is reason and done.ended_by_device == device_id
        if not ended.changed and not repeated:
            why = f" ({done.end_reason.value})" if done.end_reason else ""
            raise ApiError(
                409,
                "call_not_ringing",
                f"call {call_id!r} is {done.state.value}{why}"
                + (f" on device {done.ended_by_device!r}" if done.ended_by_device else ""),
            )
        return call_out(done, [], ended.withdrawn)

    @router.post("/v1/calls/{call_id}/answer", response_model=CallOut)
    async def answer_call(call_id: CallId, body: DeviceActionIn, caller: Caller) -> CallOut:
        """The callee answered on this device; the others learn it from the call's events.
        Of two devices answering at once exactly one wins; the other gets 409."""
        return await device_action(caller, call_id, body.device_id, EndReason.ANSWERED_ELSEWHERE)

    @router.post("/v1/calls/{call_id}/decline", response_model=CallOut)
    async def decline_call(call_id: CallId, body: DeviceActionIn, caller: Caller) -> CallOut:
        """The callee declined on this device: the call ends on all of them."""
        return await device_action(caller, call_id, body.device_id, EndReason.DECLINED)

    @router.get("/v1/deliveries", response_model=list[DeliveryOut])
    async def deliveries(
        caller: Caller,
        response: Response,
        call_id: Annotated[str | None, Query()] = None,
        user_id: Annotated[str | None, Query()] = None,
        device_id: Annotated[str | None, Query()] = None,
        apns_id: Annotated[str | None, Query()] = None,
        app_id: Annotated[str | None, Query()] = None,
    ) -> list[DeliveryOut]:
        """The delivery log: operator (any app) or calling service (its own app)."""
        if caller.role is Role.SERVICE:
            app_id = caller.app_id
        elif caller.role is not Role.OPERATOR:
            raise forbidden("the delivery log needs the operator or service credential")
        rows = await registry.outbox.query(
            app_id=app_id, call_id=call_id, user_id=user_id, device_id=device_id, apns_id=apns_id
        )
        return [delivery_out(p) for p in rows]

    return router
