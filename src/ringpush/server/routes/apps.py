"""Apps, their credentials, and what the operator may mint and see for them."""

from __future__ import annotations

import ssl
from typing import Annotated

from fastapi import APIRouter, Path, Response

from ringpush.apns.credentials import CertificateCredentials, TokenCredentials
from ringpush.apns.errors import ApnsError
from ringpush.fcm.errors import FcmError
from ringpush.fcm.service_account import ServiceAccount
from ringpush.registry.models import App
from ringpush.registry.store import Registry
from ringpush.server.auth import forbidden, new_service_key
from ringpush.server.error_codes import ErrorCode
from ringpush.server.errors import COMMON_ERRORS, ApiError, error_responses
from ringpush.server.principals import AsOperator, AsOperatorOrService, Operator, Service, State
from ringpush.server.schemas import (
    ID_PATTERN,
    AppIn,
    AppOut,
    DeviceOut,
    ServiceKeyIn,
    ServiceKeyOut,
    UserTokenIn,
    UserTokenOut,
)
from ringpush.server.state import ServerState
from ringpush.server.views import app_out, device_out

AppId = Annotated[str, Path(pattern=ID_PATTERN)]
UserId = Annotated[str, Path(pattern=ID_PATTERN)]

router = APIRouter(responses=error_responses(*COMMON_ERRORS))


async def existing_app(registry: Registry, app_id: str) -> App:
    app = await registry.get_app(app_id)
    if app is None:
        raise ApiError(ErrorCode.UNKNOWN_APP, f"no app {app_id!r}")
    return app


def _probe_context() -> ssl.SSLContext:
    """A throw-away context to check that a certificate and key load together."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def app_from(app_id: str, body: AppIn) -> App:
    """The app a ``PUT`` describes, its credentials checked before anything is stored."""
    if body.signing_key is not None and body.certificate is not None:
        raise ApiError(ErrorCode.INVALID_CREDENTIALS, "give signing_key or certificate, not both")
    if body.signing_key is not None:
        if body.key_id is None or body.team_id is None:
            raise ApiError(ErrorCode.INVALID_CREDENTIALS, "signing_key needs key_id and team_id")
        try:
            TokenCredentials.from_pem(body.signing_key, body.key_id, body.team_id)
        except ApnsError as exc:
            raise ApiError(ErrorCode.INVALID_CREDENTIALS, f"signing_key: {exc}") from None
    if body.certificate is not None:
        try:
            pem = body.certificate.encode()
            CertificateCredentials(pem, pem).load_into(_probe_context())
        except ApnsError as exc:
            raise ApiError(ErrorCode.INVALID_CREDENTIALS, f"certificate: {exc}") from None
    for name, ca in (("ca_pem", body.ca_pem), ("fcm_ca_pem", body.fcm_ca_pem)):
        if ca is not None:
            try:
                _probe_context().load_verify_locations(cadata=ca)
            except (ssl.SSLError, ValueError) as exc:
                raise ApiError(
                    ErrorCode.INVALID_CREDENTIALS, f"{name}: not a PEM CA ({exc})"
                ) from None
    account = None
    if body.fcm_service_account is not None:
        try:
            account = ServiceAccount.from_mapping(body.fcm_service_account).to_json()
        except FcmError as exc:
            raise ApiError(ErrorCode.INVALID_CREDENTIALS, f"fcm_service_account: {exc}") from None
    return App(
        app_id=app_id,
        bundle_id=body.bundle_id,
        team_id=body.team_id,
        key_id=body.key_id,
        default_environment=body.default_environment,
        signing_key_pem=body.signing_key.encode() if body.signing_key else None,
        certificate_pem=body.certificate.encode() if body.certificate else None,
        apns_base_url=body.apns_url,
        apns_url_development=body.apns_url_development,
        apns_url_production=body.apns_url_production,
        ca_pem=body.ca_pem.encode() if body.ca_pem else None,
        fcm_service_account=account,
        fcm_url=body.fcm_url,
        fcm_ca_pem=body.fcm_ca_pem.encode() if body.fcm_ca_pem else None,
    )


@router.put("/v1/apps/{app_id}", response_model=AppOut)
async def put_app(app_id: AppId, body: AppIn, _: AsOperator, state: State) -> AppOut:
    """Create or replace an app and its APNs credentials (never returned)."""
    return app_out(await state.registry.put_app(app_from(app_id, body)))


@router.get("/v1/apps", response_model=list[AppOut])
async def list_apps(_: AsOperator, state: State) -> list[AppOut]:
    return [app_out(app) for app in await state.registry.list_apps()]


@router.get("/v1/apps/{app_id}", response_model=AppOut)
async def get_app(app_id: AppId, _: AsOperator, state: State) -> AppOut:
    return app_out(await existing_app(state.registry, app_id))


@router.delete("/v1/apps/{app_id}", status_code=204)
async def delete_app(app_id: AppId, _: AsOperator, state: State) -> Response:
    if not await state.registry.delete_app(app_id):
        raise ApiError(ErrorCode.UNKNOWN_APP, f"no app {app_id!r}")
    return Response(status_code=204)


@router.post("/v1/apps/{app_id}/user-tokens", response_model=UserTokenOut, status_code=201)
async def mint_user_token(
    app_id: AppId, body: UserTokenIn, who: AsOperatorOrService, state: State
) -> UserTokenOut:
    """A short-lived token an app's backend hands to the app on the user's device: the
    operator, or the app's own service key (its sign-in backend needs no operator key)."""
    if isinstance(who, Service) and who.app_id != app_id:
        raise forbidden("a service key mints user tokens for its own app only")
    app = await existing_app(state.registry, app_id)
    token = state.authenticator.mint_user_token(app, body.user_id, body.ttl_seconds)
    return UserTokenOut(
        token=token, user_id=body.user_id, app_id=app_id, expires_in=body.ttl_seconds
    )


@router.delete("/v1/apps/{app_id}/user-tokens", status_code=204)
async def revoke_user_tokens(app_id: AppId, who: AsOperatorOrService, state: State) -> Response:
    """Revoke every user token of the app minted until now (a leaked signing backend, a
    sign-out everywhere): each is 401 from then on, on every instance within a second.
    Tokens minted afterwards work."""
    await _revoke(app_id, None, who, state)
    return Response(status_code=204)


@router.delete("/v1/apps/{app_id}/users/{user_id}/tokens", status_code=204)
async def revoke_user_tokens_of_user(
    app_id: AppId, user_id: UserId, who: AsOperatorOrService, state: State
) -> Response:
    """Revoke the user tokens of one user minted until now (a lost phone, a sign-out)."""
    await _revoke(app_id, user_id, who, state)
    return Response(status_code=204)


async def _revoke(
    app_id: str, user_id: str | None, who: Operator | Service, state: ServerState
) -> None:
    if isinstance(who, Service) and who.app_id != app_id:
        raise forbidden("a service key revokes user tokens of its own app only")
    if not await state.registry.revoke_user_tokens(app_id, state.now(), user_id):
        raise ApiError(ErrorCode.UNKNOWN_APP, f"no app {app_id!r}")


@router.post("/v1/apps/{app_id}/service-keys", response_model=ServiceKeyOut, status_code=201)
async def mint_service_key(
    app_id: AppId, body: ServiceKeyIn, _: AsOperator, state: State
) -> ServiceKeyOut:
    """An API key for the calling service; shown once, stored as a hash."""
    await existing_app(state.registry, app_id)
    key = new_service_key()
    await state.registry.add_service_key(app_id=app_id, key=key, name=body.name)
    return ServiceKeyOut(key=key, app_id=app_id, name=body.name)


@router.get("/v1/apps/{app_id}/users", response_model=list[str])
async def list_users(app_id: AppId, _: AsOperator, state: State) -> list[str]:
    await existing_app(state.registry, app_id)
    return await state.registry.list_users(app_id)


@router.get("/v1/apps/{app_id}/users/{user_id}/devices", response_model=list[DeviceOut])
async def user_devices(
    app_id: AppId, user_id: UserId, _: AsOperator, state: State
) -> list[DeviceOut]:
    await existing_app(state.registry, app_id)
    return [device_out(d) for d in await state.registry.devices_of_user(app_id, user_id)]
