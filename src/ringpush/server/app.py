"""The HTTP API (FastAPI on uvicorn; OpenAPI at /docs). Routes stay thin."""

import asyncio
import ssl
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Path, Query, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ringpush.apns.credentials import CertificateCredentials, TokenCredentials
from ringpush.apns.device_token import normalize_device_token
from ringpush.apns.errors import ApnsError
from ringpush.apns.push_type import PushType
from ringpush.registry.models import App, Device
from ringpush.registry.store import Registry
from ringpush.server.auth import Authenticator, Principal, Role, forbidden, new_service_key
from ringpush.server.calls_routes import build_calls_router
from ringpush.server.errors import ApiError, install_error_handlers
from ringpush.server.schemas import (
    ID_PATTERN,
    AppIn,
    AppOut,
    DeviceIn,
    DeviceOut,
    RegistrationOut,
    ServiceKeyIn,
    ServiceKeyOut,
    UserTokenIn,
    UserTokenOut,
)
from ringpush.server.state import ServerState

AppId = Annotated[str, Path(pattern=ID_PATTERN)]
DeviceId = Annotated[str, Path(pattern=ID_PATTERN)]


#: A database that takes longer than this to answer ``SELECT 1`` is not ready.
READY_TIMEOUT_SECONDS = 2.0


def app_out(app: App) -> AppOut:
    return AppOut(
        app_id=app.app_id,
        bundle_id=app.bundle_id,
        team_id=app.team_id,
        key_id=app.key_id,
        auth=app.auth,
        default_environment=app.default_environment,
        apns_url=app.apns_base_url,
        created_at=app.created_at,
        updated_at=app.updated_at,
    )


def device_out(device: Device) -> DeviceOut:
    return DeviceOut(
        device_id=device.device_id,
        user_id=device.user_id,
        push_type=device.push_type,
        token=device.masked_token,
        environment=device.environment,
        created_at=device.created_at,
        updated_at=device.updated_at,
        last_seen_at=device.last_seen_at,
    )


def create_app(state: ServerState) -> FastAPI:
    api = FastAPI(title="ringpush", version="0.1.0", docs_url="/docs")
    install_error_handlers(api)
    registry: Registry = state.registry
    auth: Authenticator = state.authenticator

    async def principal(authorization: Annotated[str | None, Header()] = None) -> Principal:
        return await auth.identify(authorization)

    Caller = Annotated[Principal, Depends(principal)]

    def require(caller: Principal, role: Role) -> None:
        if caller.role is not role:
            raise forbidden(f"this call needs the {role.value} credential")

    async def existing_app(app_id: str) -> App:
        app = await registry.get_app(app_id)
        if app is None:
            raise ApiError(404, "unknown_app", f"no app {app_id!r}")
        return app

    @api.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers HTTP. Restart it only if this fails."""
        return {"status": "ok"}

    @api.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Readiness, for a load balancer: the database answers, the delivery worker
        runs, and call events from other instances can arrive. 503 names what is not."""
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(state.registry.ping(), READY_TIMEOUT_SECONDS)
            checks["database"] = "ok"
        except Exception as exc:  # any failure means: not ready
            checks["database"] = f"unavailable ({type(exc).__name__})"
        if state.engine is not None:
            checks["delivery"] = "ok" if state.engine.running else "stopped"
        if state.calls is not None:
            checks["call_events"] = "ok" if state.calls.events.listening else "not listening"
        ready = all(value == "ok" for value in checks.values())
        body: dict[str, object] = {"status": "ready" if ready else "unavailable", "checks": checks}
        if state.engine is not None:
            # A lane in trouble is one app's problem: shown, never a reason to take the
            # instance out of the load balancer.
            body["lanes"] = {
                f"{lane.app_id}/{lane.environment.value}": {
                    "state": lane.state.value,
                    "failures": lane.failures,
                    "in_flight": lane.in_flight,
                    "waiting": lane.waiting,
                    "retry_in": lane.retry_in,
                    "last_error": lane.last_error,
                }
                for lane in state.engine.lanes()
                if lane.troubled
            }
        return JSONResponse(body, status_code=200 if ready else 503)

    @api.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        """Prometheus text format: pushes by type/outcome/reason, latency, queue depth."""
        if state.engine is None:
            return Response(b"", media_type=CONTENT_TYPE_LATEST)
        registry = state.engine.metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    # -- operator -----------------------------------------------------------------------
    @api.put("/v1/apps/{app_id}", response_model=AppOut)
    async def put_app(app_id: AppId, body: AppIn, caller: Caller) -> AppOut:
        """Create or replace an app and its APNs credentials (never returned)."""
        require(caller, Role.OPERATOR)
        if body.signing_key is not None and body.certificate is not None:
            raise ApiError(422, "invalid_credentials", "give signing_key or certificate, not both")
        if body.signing_key is not None:
            if body.key_id is None or body.team_id is None:
                raise ApiError(422, "invalid_credentials", "signing_key needs key_id and team_id")
            try:
                TokenCredentials.from_pem(body.signing_key, body.key_id, body.team_id)
            except ApnsError as exc:
                raise ApiError(422, "invalid_credentials", f"signing_key: {exc}") from None
        if body.certificate is not None:
            try:
                pem = body.certificate.encode()
                CertificateCredentials(pem, pem).load_into(_probe_context())
            except ApnsError as exc:
                raise ApiError(422, "invalid_credentials", f"certificate: {exc}") from None
        if body.ca_pem is not None:
            try:
                _probe_context().load_verify_locations(cadata=body.ca_pem)
            except (ssl.SSLError, ValueError) as exc:
                raise ApiError(
                    422, "invalid_credentials", f"ca_pem: not a PEM CA ({exc})"
                ) from None
        stored = await registry.put_app(
            App(
                app_id=app_id,
                bundle_id=body.bundle_id,
                team_id=body.team_id,
                key_id=body.key_id,
                default_environment=body.default_environment,
                signing_key_pem=body.signing_key.encode() if body.signing_key else None,
                certificate_pem=body.certificate.encode() if body.certificate else None,
                apns_base_url=body.apns_url,
                ca_pem=body.ca_pem.encode() if body.ca_pem else None,
            )
        )
        return app_out(stored)

    @api.get("/v1/apps", response_model=list[AppOut])
    async def list_apps(caller: Caller) -> list[AppOut]:
        require(caller, Role.OPERATOR)
        return [app_out(app) for app in await registry.list_apps()]

    @api.get("/v1/apps/{app_id}", response_model=AppOut)
    async def get_app(app_id: AppId, caller: Caller) -> AppOut:
        require(caller, Role.OPERATOR)
        return app_out(await existing_app(app_id))

    @api.delete("/v1/apps/{app_id}", status_code=204)
    async def delete_app(app_id: AppId, caller: Caller) -> Response:
        require(caller, Role.OPERATOR)
        if not await registry.delete_app(app_id):
            raise ApiError(404, "unknown_app", f"no app {app_id!r}")
        return Response(status_code=204)

    @api.post("/v1/apps/{app_id}/user-tokens", response_model=UserTokenOut, status_code=201)
    async def mint_user_token(app_id: AppId, body: UserTokenIn, caller: Caller) -> UserTokenOut:
        """A short-lived token an app's backend hands to the app on the user's device."""
        require(caller, Role.OPERATOR)
        await existing_app(app_id)
        token = auth.mint_user_token(app_id, body.user_id, body.ttl_seconds)
        return UserTokenOut(
            token=token, user_id=body.user_id, app_id=app_id, expires_in=body.ttl_seconds
        )

    @api.post("/v1/apps/{app_id}/service-keys", response_model=ServiceKeyOut, status_code=201)
    async def mint_service_key(app_id: AppId, body: ServiceKeyIn, caller: Caller) -> ServiceKeyOut:
        """An API key for the calling service; shown once, stored as a hash."""
        require(caller, Role.OPERATOR)
        await existing_app(app_id)
        key = new_service_key()
        await registry.add_service_key(app_id=app_id, key=key, name=body.name)
        return ServiceKeyOut(key=key, app_id=app_id, name=body.name)

    @api.get("/v1/apps/{app_id}/users", response_model=list[str])
    async def list_users(app_id: AppId, caller: Caller) -> list[str]:
        require(caller, Role.OPERATOR)
        await existing_app(app_id)
        return await registry.list_users(app_id)

    @api.get("/v1/apps/{app_id}/users/{user_id}/devices", response_model=list[DeviceOut])
    async def user_devices(
        app_id: AppId,
        user_id: Annotated[str, Path(pattern=ID_PATTERN)],
        caller: Caller,
    ) -> list[DeviceOut]:
        require(caller, Role.OPERATOR)
        await existing_app(app_id)
        return [device_out(d) for d in await registry.devices_of_user(app_id, user_id)]

    # -- app on a device ----------------------------------------------------------------
    def user_of(caller: Principal) -> tuple[str, str]:
        require(caller, Role.USER)
        assert caller.app_id is not None and caller.user_id is not None
        return caller.app_id, caller.user_id

    @api.put("/v1/devices/{device_id}", response_model=RegistrationOut)
    async def register_device(
        device_id: DeviceId, body: DeviceIn, caller: Caller, response: Response
    ) -> RegistrationOut:
        """Register or update this device's token for one push type (idempotent)."""
        app_id, user_id = user_of(caller)
        await existing_app(app_id)
        try:
            token = normalize_device_token(body.token)
        except ApnsError as exc:
            raise ApiError(422, "invalid_token", f"token: {exc}") from None
        result = await registry.register_device(
            app_id=app_id,
            user_id=user_id,
            device_id=device_id,
            push_type=body.push_type,
            token=token,
            environment=body.environment,
            now=state.now(),
        )
        response.status_code = 201 if result.created else 200
        return RegistrationOut(
            device=device_out(result.device),
            created=result.created,
            moved_from_other_device=bool(result.moved_from),
        )

    @api.delete("/v1/devices/{device_id}", status_code=204)
    async def unregister_device(
        device_id: DeviceId,
        caller: Caller,
        push_type: Annotated[PushType | None, Query()] = None,
    ) -> Response:
        app_id, user_id = user_of(caller)
        removed = await registry.unregister_device(
            app_id=app_id, user_id=user_id, device_id=device_id, push_type=push_type
        )
        if not removed:
            raise ApiError(404, "unknown_device", f"no device {device_id!r} of this user")
        return Response(status_code=204)

    @api.get("/v1/devices", response_model=list[DeviceOut])
    async def my_devices(caller: Caller) -> list[DeviceOut]:
        app_id, user_id = user_of(caller)
        return [device_out(d) for d in await registry.devices_of_user(app_id, user_id)]

    if state.calls is not None and state.pushes is not None and state.engine is not None:
        api.include_router(
            build_calls_router(
                state.registry, state.calls, state.pushes, state.engine.answers, principal
            )
        )
    return api


def _probe_context() -> ssl.SSLContext:
    """A throw-away context to check that a certificate and key load together."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
