"""Pushes other than calls, and the delivery log."""

from __future__ import annotations

from operator import attrgetter
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ringpush.apns.errors import InvalidNotification, PayloadTooLarge
from ringpush.apns.push_type import PushType
from ringpush.delivery.outcomes import first_outcomes
from ringpush.server.error_codes import ErrorCode
from ringpush.server.errors import COMMON_ERRORS, ApiError, error_responses
from ringpush.server.lean_route import admit, documented, json_response
from ringpush.server.principals import AsOperatorOrService, Service, State
from ringpush.server.routes.apps import existing_app
from ringpush.server.routes.calls import FIRST_ANSWER_WAIT_SECONDS
from ringpush.server.schemas import APNS_ID_PATTERN, ID_PATTERN, DeliveryOut, PushIn, PushOut
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
        )
    except PayloadTooLarge as exc:
        raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"payload: {exc}") from None
    except InvalidNotification as exc:
        raise ApiError(ErrorCode.INVALID_PUSH, f"{exc.reason.value}: {exc}") from None
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
) -> list[DeliveryOut]:
    """The delivery log: operator (any app) or calling service (its own app)."""
    if isinstance(who, Service):
        app_id = who.app_id
    rows = await state.registry.outbox.query(
        app_id=app_id, call_id=call_id, user_id=user_id, device_id=device_id, apns_id=apns_id
    )
    return [delivery_out(p) for p in rows]
