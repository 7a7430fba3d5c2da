"""Calls: start one (a VoIP push to every device of the callee), follow it, end it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from operator import attrgetter
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from ringpush.apns.errors import PayloadTooLarge
from ringpush.delivery.calls import CallService, call_event
from ringpush.delivery.outcomes import first_outcomes
from ringpush.registry.call_models import Call, CallState, EndReason
from ringpush.server.auth import Role, forbidden
from ringpush.server.error_codes import ErrorCode
from ringpush.server.errors import (
    COMMON_ERRORS,
    ApiError,
    error_responses,
)
from ringpush.server.event_stream import (
    KEEPALIVE,
    KEEPALIVE_SECONDS,
    EventStream,
    counted,
    documented_events,
    sse,
)
from ringpush.server.lean_route import admit, documented, json_response
from ringpush.server.principals import (
    AsServiceOrUser,
    Caller,
    Service,
    State,
    User,
    server_state,
)
from ringpush.server.schemas import ID_PATTERN, CallEndIn, CallIn, CallOut, DeviceActionIn
from ringpush.server.state import ServerState
from ringpush.server.views import call_out

#: How long POST /v1/calls (and POST /v1/pushes) wait for APNs's first answers.
FIRST_ANSWER_WAIT_SECONDS = 3.0

CallId = Annotated[str, Path(pattern=ID_PATTERN)]

router = APIRouter(responses=error_responses(*COMMON_ERRORS))


async def call_service(state: Annotated[ServerState, Depends(server_state)]) -> CallService:
    assert state.calls is not None  # the router is only mounted with a call service
    return state.calls


Calls = Annotated[CallService, Depends(call_service)]


async def callee(caller: Caller) -> User:
    if caller.role is not Role.USER or caller.app_id is None or caller.user_id is None:
        raise forbidden("answer and decline come from the callee's device (user token)")
    return User(caller.app_id, caller.user_id)


AsCallee = Annotated[User, Depends(callee)]


async def visible_call(state: ServerState, who: Service | User, call_id: str) -> Call:
    """The call, if ``who`` may see it: its app's service, or its callee."""
    call = await state.registry.calls.get(who.app_id, call_id)
    if call is None or (isinstance(who, User) and call.callee_user_id != who.user_id):
        raise ApiError(ErrorCode.UNKNOWN_CALL, f"no call {call_id!r}")
    return call


#: What a callee may say ended a call: it answered on a device, or declined. Canceled is
#: the caller's word and timeout the ring timer's.
CALLEE_REASONS = frozenset({EndReason.ANSWERED_ELSEWHERE, EndReason.DECLINED})


async def own_device(state: ServerState, me: User, device_id: str) -> None:
    """A callee acts only through one of its own devices."""
    devices = await state.registry.devices_of_user(me.app_id, me.user_id)
    if device_id not in {device.device_id for device in devices}:
        raise ApiError(ErrorCode.UNKNOWN_DEVICE, f"no device {device_id!r} of this user")


@router.post("/v1/calls", **documented(CallIn, CallOut, 201, 409))
async def start_call(request: Request) -> Response:
    """Ring every VoIP device of the callee; answers per device (apns-id, outcome).
    404 ``callee_has_no_devices`` (nothing stored) when no device can ring.

    Needs the calling service's API key. A lean route (:mod:`ringpush.server.lean_route`):
    the credential is checked before the body is read."""
    admitted = await admit(request, CallIn, attrgetter("calls"), "calls for this app")
    me, state, body = admitted.me, admitted.state, admitted.body
    assert state.calls is not None and state.engine is not None  # mounted with both
    try:
        started = await state.calls.start(
            app_id=me.app_id,
            call_id=body.call_id or str(uuid.uuid4()),
            caller_id=body.caller_id,
            caller_name=body.caller_name,
            callee_user_id=body.callee_user_id,
            video=body.video,
            data=body.data,
            ring_seconds=body.ring_timeout_seconds,
        )
    except PayloadTooLarge as exc:
        raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"data: {exc}") from None
    outcomes = await first_outcomes(
        state.registry, state.engine.answers, started.pushes, FIRST_ANSWER_WAIT_SECONDS
    )
    return json_response(call_out(started.call, outcomes), 201)


@router.get("/v1/calls/{call_id}", response_model=CallOut)
async def get_call(call_id: CallId, who: AsServiceOrUser, state: State) -> CallOut:
    call = await visible_call(state, who, call_id)
    if isinstance(who, User):
        return call_out(call, [])
    return call_out(call, await state.registry.outbox.query(app_id=call.app_id, call_id=call_id))


@router.get(
    "/v1/calls/{call_id}/events",
    response_class=EventStream,
    responses={
        200: {
            "description": "Server-sent events, one per state",
            "content": documented_events("call", "CallEventOut"),
        }
    },
)
async def call_events(
    call_id: CallId,
    who: AsServiceOrUser,
    state: State,
    calls: Calls,
    device_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> EventStream:
    """Server-sent events of the call's state until it is over: how a woken app learns
    that it was answered elsewhere, canceled or timed out (never by VoIP push)."""
    call = await visible_call(state, who, call_id)
    registry = state.registry
    holder = f"{who.app_id}/{who.user_id}" if isinstance(who, User) else None

    async def events() -> AsyncIterator[bytes]:
        async with calls.events.subscribe(call.app_id, call_id, device_id) as queue:
            current = await registry.calls.get(call.app_id, call_id)
            assert current is not None
            yield sse("call", call_event(current))
            if current.state is not CallState.RINGING:
                return
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    # A safety net for an event lost between instances (say, while the
                    # database connection was re-established): the state is the truth,
                    # so look at it on every keep-alive.
                    latest = await registry.calls.get(call.app_id, call_id)
                    if latest is not None and latest.state is not CallState.RINGING:
                        yield sse("call", call_event(latest))
                        return
                    yield KEEPALIVE
                    continue
                if event is None:  # this instance is stopping: reconnect elsewhere
                    return
                yield sse("call", event)
                if event["state"] != CallState.RINGING.value:
                    return

    return counted(state, holder, events())


@router.post("/v1/calls/{call_id}/end", response_model=CallOut)
async def end_call(
    call_id: CallId, body: CallEndIn, who: AsServiceOrUser, state: State, calls: Calls
) -> CallOut:
    """End without any VoIP push: unsent ones are withdrawn, the state says why.
    Ending a call that is already over returns it unchanged."""
    call = await visible_call(state, who, call_id)
    if isinstance(who, User):
        if body.reason not in CALLEE_REASONS:
            allowed = " or ".join(sorted(reason.value for reason in CALLEE_REASONS))
            raise forbidden(f"a callee ends a call only as {allowed}")
        if body.device_id is not None:
            await own_device(state, who, body.device_id)
    ended = await calls.end(call.app_id, call_id, body.reason, body.device_id)
    assert ended.call is not None
    return call_out(ended.call, [], ended.withdrawn)


async def device_action(
    state: ServerState,
    calls: CallService,
    me: User,
    call_id: str,
    device_id: str,
    reason: EndReason,
) -> CallOut:
    call = await visible_call(state, me, call_id)
    await own_device(state, me, device_id)
    ended = await calls.end(call.app_id, call_id, reason, device_id)
    assert ended.call is not None
    done = ended.call
    repeated = done.end_reason is reason and done.ended_by_device == device_id
    if not ended.changed and not repeated:
        why = f" ({done.end_reason.value})" if done.end_reason else ""
        raise ApiError(
            ErrorCode.CALL_NOT_RINGING,
            f"call {call_id!r} is {done.state.value}{why}"
            + (f" on device {done.ended_by_device!r}" if done.ended_by_device else ""),
        )
    return call_out(done, [], ended.withdrawn)


@router.post("/v1/calls/{call_id}/answer", response_model=CallOut, responses=error_responses(409))
async def answer_call(
    call_id: CallId, body: DeviceActionIn, me: AsCallee, state: State, calls: Calls
) -> CallOut:
    """The callee answered on this device; the others learn it from the call's events.
    Of two devices answering at once exactly one wins; the other gets 409."""
    return await device_action(
        state, calls, me, call_id, body.device_id, EndReason.ANSWERED_ELSEWHERE
    )


@router.post("/v1/calls/{call_id}/decline", response_model=CallOut)
async def decline_call(
    call_id: CallId, body: DeviceActionIn, me: AsCallee, state: State, calls: Calls
) -> CallOut:
    """The callee declined on this device: the call ends on all of them."""
    return await device_action(state, calls, me, call_id, body.device_id, EndReason.DECLINED)
