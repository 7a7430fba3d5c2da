"""Pushes other than calls, and the delivery log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from operator import attrgetter
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from ringpush.apns.errors import InvalidNotification, PayloadTooLarge
from ringpush.apns.push_type import PushType
from ringpush.delivery.outcomes import first_outcomes
from ringpush.fcm.errors import InvalidMessage
from ringpush.registry.models import Device
from ringpush.registry.outbox_models import OutboxPush, PushState
from ringpush.server.error_codes import ErrorCode
from ringpush.server.errors import COMMON_ERRORS, ApiError, error_responses
from ringpush.server.event_stream import (
    FOLLOWING,
    KEEPALIVE,
    KEEPALIVE_SECONDS,
    EventStream,
    counted,
    documented_events,
    sse,
)
from ringpush.server.lean_route import admit, documented, json_response
from ringpush.server.principals import AsOperator, AsOperatorOrService, Service, State
from ringpush.server.routes.apps import existing_app
from ringpush.server.routes.calls import FIRST_ANSWER_WAIT_SECONDS
from ringpush.server.schemas import (
    APNS_ID_PATTERN,
    ID_PATTERN,
    DeliveryOut,
    PushIn,
    PushOut,
    TokenCheckOut,
)
from ringpush.server.views import delivery_out

router = APIRouter(responses=error_responses(*COMMON_ERRORS))


@router.post("/v1/pushes", **documented(PushIn, PushOut, 201))
async def push_to_user(request: Request) -> Response:
    """Any other push type (complication, fileprovider, alert, …) to a user's devices
    of that type. VoIP pushes only start calls: use POST /v1/calls. 404
    ``no_devices_for_push_type`` (nothing stored) when the user has none of that type.

    Needs the calling service's API key. A lean route (:mod:`ringpush.server.lean_route`):
    the credential is checked before the body is read."""
    admitted = await admit(request, PushIn, attrgetter("pushes"), "push requests for this app")
    me, state, body = admitted.me, admitted.state, admitted.body
    if body.push_type is PushType.VOIP:
        raise ApiError(
            ErrorCode.VOIP_NEEDS_A_CALL, "push_type: VoIP pushes start calls: use POST /v1/calls"
        )
    assert state.pushes is not None and state.engine is not None  # mounted with both
    app = await existing_app(state.registry, me.app_id)
    try:
        queued = await state.pushes.send_to_user(
            app_id=me.app_id,
            bundle_id=app.bundle_id,
            user_id=body.user_id,
            push_type=body.push_type,
            payload=body.payload,
            priority=body.priority,
            expiration=body.expiration,
            collapse_id=body.collapse_id,
            device_id=body.device_id,
        )
    except PayloadTooLarge as exc:
        raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"payload: {exc}") from None
    except InvalidNotification as exc:
        raise ApiError(ErrorCode.INVALID_PUSH, f"{exc.reason.value}: {exc}") from None
    except InvalidMessage as exc:  # what FCM would refuse
        too_big = any(violation.too_big for violation in exc.violations)
        code = ErrorCode.PAYLOAD_TOO_LARGE if too_big else ErrorCode.INVALID_PUSH
        raise ApiError(code, f"payload: {exc}") from None
    outcomes = await first_outcomes(
        state.registry, state.engine.answers, queued, FIRST_ANSWER_WAIT_SECONDS
    )
    return json_response(PushOut(deliveries=[delivery_out(p) for p in outcomes]), 201)


@router.get("/v1/deliveries", response_model=list[DeliveryOut])
async def deliveries(
    who: AsOperatorOrService,
    state: State,
    call_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    user_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    device_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    apns_id: Annotated[str | None, Query(pattern=APNS_ID_PATTERN)] = None,
    app_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="the newest this many")] = 500,
) -> list[DeliveryOut]:
    """The delivery log: operator (any app) or calling service (its own app); the newest
    ``limit`` pushes that match, oldest first."""
    if isinstance(who, Service):
        app_id = who.app_id
    rows = await state.registry.outbox.query(
        app_id=app_id,
        call_id=call_id,
        user_id=user_id,
        device_id=device_id,
        apns_id=apns_id,
        limit=limit,
    )
    return [delivery_out(p) for p in rows]


@router.get(
    "/v1/deliveries/events",
    response_class=EventStream,
    responses={
        200: {
            "description": "Server-sent events, one per answer APNs gave (or final outcome)",
            "content": documented_events("delivery", "DeliveryOut"),
        }
    },
)
async def delivery_events(
    who: AsOperatorOrService,
    state: State,
    app_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> EventStream:
    """The delivery log, live: each push as it stands once APNs answered it (or it ended
    without an answer), from any instance, until the client leaves. The operator sees
    every app (or ``app_id``'s), a service its own. Pushes answered before the stream
    opened are in ``GET /v1/deliveries``. A client too slow to keep up is told how many
    it missed (``event: lost``)."""
    assert state.engine is not None  # mounted with the engine
    answers = state.engine.answers
    if isinstance(who, Service):
        app_id = who.app_id
    registry = state.registry

    async def events() -> AsyncIterator[bytes]:
        follower = answers.follow()
        lost = 0
        try:
            yield FOLLOWING
            while True:
                try:
                    first = await asyncio.wait_for(follower.queue.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield KEEPALIVE
                    continue
                batch = [first]
                while not follower.queue.empty():
                    batch.append(follower.queue.get_nowait())
                # Answers another instance gave come as ids: their rows in one query.
                heard = [push_id for push_id, row in batch if row is None]
                rows = {row.push_id: row for row in await registry.outbox.get_many(heard)}
                for push_id, row in batch:
                    push = row or rows.get(push_id)
                    if push is not None and app_id in (None, push.app_id):
                        yield sse("delivery", delivery_out(push).model_dump(mode="json"))
                if follower.lost > lost:
                    yield sse("lost", {"count": follower.lost - lost})
                    lost = follower.lost
        finally:
            answers.unfollow(follower)

    return counted(state, f"deliveries/{app_id or '*'}", events())


@router.post(
    "/v1/apps/{app_id}/users/{user_id}/devices/{device_id}/check",
    response_model=list[TokenCheckOut],
)
async def check_device(
    app_id: Annotated[str, Path(pattern=ID_PATTERN)],
    user_id: Annotated[str, Path(pattern=ID_PATTERN)],
    device_id: Annotated[str, Path(pattern=ID_PATTERN)],
    _: AsOperator,
    state: State,
) -> list[TokenCheckOut]:
    """Whether each of the device's tokens is valid, and for which APS environment,
    without ringing the phone: an alert token gets a silent background push (priority
    5, expiration 0) and APNs's answer says; a VoIP, complication or file-provider token
    is never pushed for a check (a VoIP push makes iOS show a call), so its verdict is
    the last answer APNs gave to a push of its own."""
    assert state.pushes is not None and state.engine is not None  # mounted with both
    await existing_app(state.registry, app_id)
    checks = await state.pushes.check_device(app_id=app_id, user_id=user_id, device_id=device_id)
    sent = [push for _, push in checks if push is not None]
    outcomes = {
        push.push_id: push
        for push in await first_outcomes(
            state.registry, state.engine.answers, sent, FIRST_ANSWER_WAIT_SECONDS
        )
    }
    # The last answers, for the tokens a check does not push to.
    history = (
        await state.registry.outbox.query(
            app_id=app_id, user_id=user_id, device_id=device_id, limit=100
        )
        if len(sent) < len(checks)
        else []
    )
    return [
        _verdict(device, outcomes.get(push.push_id) if push else None, history)
        for device, push in checks
    ]


def _verdict(
    device: Device, checked: OutboxPush | None, history: list[OutboxPush]
) -> TokenCheckOut:
    found = TokenCheckOut(
        device_id=device.device_id,
        push_type=device.push_type,
        environment=device.environment,
        valid=None,
        verdict="",
        apns_id=checked.apns_id if checked else None,
    )
    if checked is not None:
        if checked.state is PushState.DELIVERED:
            moved = checked.environment is not device.environment
            return found.model_copy(
                update={
                    "valid": True,
                    "environment": checked.environment,
                    "verdict": f"valid for {checked.environment.value}"
                    + (f" (registered as {device.environment.value}: moved)" if moved else ""),
                }
            )
        if checked.state in (PushState.DROPPED, PushState.FAILED):
            return found.model_copy(
                update={"valid": False, "verdict": f"invalid: {checked.reason or checked.state}"}
            )
        return found.model_copy(update={"verdict": "no answer from APNs yet"})
    last = next(
        (
            push
            for push in reversed(history)
            if push.push_type is device.push_type and push.state.final
        ),
        None,
    )
    why = f"not checked: a {device.push_type.value} push would reach the app"
    if device.push_type is PushType.VOIP:
        why += " as a call"
    if last is None:
        return found.model_copy(update={"verdict": f"{why}; never pushed yet"})
    said = "accepted" if last.state is PushState.DELIVERED else (last.reason or last.state.value)
    return found.model_copy(
        update={
            "valid": True if last.state is PushState.DELIVERED else None,
            "verdict": f"{why}; APNs's last answer ({last.updated_at:%Y-%m-%d %H:%M} UTC): {said}",
        }
    )
