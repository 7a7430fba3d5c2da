"""The app on a user's device registers its tokens here (user token): only its own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from ringpush.apns.errors import ApnsError
from ringpush.apns.push_type import PushType
from ringpush.platforms import normalize_token
from ringpush.server.error_codes import ErrorCode
from ringpush.server.errors import COMMON_ERRORS, ApiError, error_responses
from ringpush.server.principals import AsUser, State, User
from ringpush.server.routes.apps import existing_app
from ringpush.server.schemas import ID_PATTERN, DeviceIn, DeviceOut, RegistrationOut
from ringpush.server.state import ServerState
from ringpush.server.views import device_out

DeviceId = Annotated[str, Path(pattern=ID_PATTERN)]

router = APIRouter(responses=error_responses(*COMMON_ERRORS))


def _charge(state: ServerState, me: User) -> None:
    state.limits.registrations.charge(f"{me.app_id}/{me.user_id}", "registrations for this user")


@router.put(
    "/v1/devices/{device_id}",
    response_model=RegistrationOut,
    responses={
        201: {"model": RegistrationOut, "description": "Registered for the first time"},
        **error_responses(409),
    },
)
async def register_device(
    device_id: DeviceId, body: DeviceIn, me: AsUser, state: State, response: Response
) -> RegistrationOut:
    """Register or update this device's token (idempotent): an iPhone's for one push type
    and APS environment, an Android install's FCM token (``platform: fcm``)."""
    _charge(state, me)
    await existing_app(state.registry, me.app_id)
    try:
        token = normalize_token(body.kind, body.token)
    except (ApnsError, ValueError) as exc:
        raise ApiError(ErrorCode.INVALID_TOKEN, f"token: {exc}") from None
    result = await state.registry.register_device(
        app_id=me.app_id,
        user_id=me.user_id,
        device_id=device_id,
        push_type=body.kind,
        token=token,
        environment=body.channel,
        now=state.now(),
        max_devices=state.max_devices_per_user,
        install_secret=body.install_secret,
    )
    response.status_code = 201 if result.created else 200
    return RegistrationOut(
        device=device_out(result.device),
        created=result.created,
        moved_from_other_device=bool(result.moved_from),
    )


@router.delete("/v1/devices/{device_id}", status_code=204)
async def unregister_device(
    device_id: DeviceId,
    me: AsUser,
    state: State,
    push_type: Annotated[PushType | None, Query()] = None,
) -> Response:
    _charge(state, me)
    removed = await state.registry.unregister_device(
        app_id=me.app_id, user_id=me.user_id, device_id=device_id, push_type=push_type
    )
    if not removed:
        raise ApiError(ErrorCode.UNKNOWN_DEVICE, f"no device {device_id!r} of this user")
    return Response(status_code=204)


@router.get("/v1/devices", response_model=list[DeviceOut])
async def my_devices(me: AsUser, state: State) -> list[DeviceOut]:
    return [device_out(d) for d in await state.registry.devices_of_user(me.app_id, me.user_id)]
