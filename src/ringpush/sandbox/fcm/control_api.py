"""The FCM sandbox's control API: plain JSON over HTTP, to mount under a prefix.

:func:`build_fcm_control_app` returns a FastAPI app whose routes call the
:class:`~ringpush.sandbox.fcm.sandbox.FcmSandbox` facade, one router per resource.
It serves nothing by itself: mount it (``parent.mount("/fcm", app)``, e.g. under the
APNs sandbox's control API) or serve it alone. Bodies are read as JSON whatever their
Content-Type (``curl -d`` sends a form type), as the APNs control API does. Every
refusal is ``{"error": {"code", "message"}}`` with a 4xx status, never a 500
(:mod:`ringpush.sandbox.fcm.control_errors`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, FastAPI, Query, Request

from ringpush.sandbox.fcm.android import AndroidDevice
from ringpush.sandbox.fcm.control_errors import ApiError, handlers
from ringpush.sandbox.fcm.control_models import (
    DeviceIn,
    LifetimeIn,
    MessagesQuery,
    NotificationIn,
    ServiceAccountIn,
    StateIn,
    TokenIn,
)
from ringpush.sandbox.fcm.sandbox import FcmSandbox


def _sandbox(request: Request) -> FcmSandbox:
    return cast(FcmSandbox, request.app.state.fcm_sandbox)


Fcm = Annotated[FcmSandbox, Depends(_sandbox)]


async def _json(request: Request) -> dict[str, Any]:
    """The body as a JSON object (none is ``{}``), whatever the Content-Type says."""
    try:
        value = json.loads(await request.body() or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "body must be a JSON object")
    return value


Body = Annotated[dict[str, Any], Depends(_json)]


def _device(fcm: FcmSandbox, name: str) -> AndroidDevice:
    device = fcm.get_device(name)
    if device is None:
        raise ApiError(404, "unknown_device", f"no device named {name!r}")
    return device


def _live(fcm: FcmSandbox, token: str) -> AndroidDevice:
    device = fcm.device_for(token)
    if device is None:
        raise ApiError(404, "unknown_token", "no live registration token is that")
    return device


def _issued(device: AndroidDevice) -> dict[str, Any]:
    """A device as the API shows it right after making it: with its token unmasked."""
    return {**device.to_json(), "token": device.token}


# -- routers -------------------------------------------------------------------------------

credentials = APIRouter(tags=["credentials"])
tokens = APIRouter(tags=["tokens"])
devices = APIRouter(tags=["devices"])
state = APIRouter(tags=["state"])


@credentials.post("/service-accounts", status_code=201)
async def issue_service_account(fcm: Fcm, body: Body) -> dict[str, Any]:
    """A new key file (RSA 2048) for the project; its token_uri is the sandbox's."""
    return fcm.issue_service_account(ServiceAccountIn.model_validate(body).project_id)


@credentials.post("/service-accounts/import", status_code=201)
async def import_service_account(fcm: Fcm, body: Body) -> dict[str, str]:
    """Accept JWTs signed by a key file made elsewhere (only its public key is kept)."""
    key = fcm.register_service_account(body)
    return {"client_email": key.client_email, "project_id": key.project_id, "key_id": key.key_id}


@credentials.get("/service-accounts")
async def list_service_accounts(fcm: Fcm) -> list[dict[str, str]]:
    return [
        {"client_email": k.client_email, "project_id": k.project_id, "key_id": k.key_id}
        for k in fcm.core.accounts.all()
    ]


@credentials.get("/projects")
async def list_projects(fcm: Fcm) -> list[dict[str, str]]:
    return [{"project_id": p.project_id, "number": p.number} for p in fcm.core.projects.all()]


@credentials.get("/access-tokens")
async def access_tokens(fcm: Fcm) -> dict[str, Any]:
    store = fcm.core.access_tokens
    return {"lifetime_seconds": store.lifetime, "issued": len(store), "live": store.live()}


@credentials.post("/access-tokens/expire")
async def expire_access_tokens(fcm: Fcm) -> dict[str, int]:
    """Every access token issued so far expires now: sends with them get 401."""
    return {"expired": fcm.expire_access_tokens()}


@credentials.put("/access-tokens/lifetime")
async def set_lifetime(fcm: Fcm, body: Body) -> dict[str, float]:
    fcm.access_token_lifetime = LifetimeIn.model_validate(body).seconds
    return {"lifetime_seconds": fcm.access_token_lifetime}


@tokens.post("/tokens", status_code=201)
async def issue_token(fcm: Fcm, body: Body) -> dict[str, Any]:
    """A registration token for an app of a project, on a new device without app code."""
    wanted = TokenIn.model_validate(body)
    return _issued(fcm.device(wanted.name, wanted.package, wanted.project_id))


@tokens.delete("/tokens/{token}")
async def uninstall(fcm: Fcm, token: str) -> dict[str, Any]:
    """Uninstall the app: sends to the token get 404 UNREGISTERED from now on."""
    device = _live(fcm, token)
    device.uninstall()
    return {"token": token, "device": device.name, "installed": False}


@tokens.post("/tokens/{token}/refresh")
async def refresh(fcm: Fcm, token: str) -> dict[str, Any]:
    """The SDK rotates the token: the old one is UNREGISTERED, the new one returned."""
    device = _live(fcm, token)
    return {"token": device.refresh_token(), "device": device.name}


@tokens.get("/messages")
async def messages(fcm: Fcm, query: Annotated[MessagesQuery, Query()]) -> list[dict[str, Any]]:
    """Accepted messages in arrival order (validate_only ones are not kept)."""
    found = fcm.messages(token=query.token, project_id=query.project_id, name=query.name)
    return [record.to_json() for record in found]


@devices.get("/devices")
async def list_devices(fcm: Fcm) -> list[dict[str, Any]]:
    """Every simulated device with its deprioritization state (tokens masked)."""
    return [device.to_json() for device in fcm.devices]


@devices.post("/devices", status_code=201)
async def create_device(fcm: Fcm, body: Body) -> dict[str, Any]:
    wanted = DeviceIn.model_validate(body)
    return _issued(fcm.device(wanted.name, wanted.package, wanted.project_id, **wanted.options()))


@devices.get("/devices/{name}")
async def get_device(fcm: Fcm, name: str) -> dict[str, Any]:
    return _device(fcm, name).to_json()


@devices.post("/devices/{name}/notifications")
async def post_notification(fcm: Fcm, name: str, body: Body) -> dict[str, Any]:
    """The app shows a notification: it answers the oldest high-priority message
    waiting for one (``credited``; null when none waits)."""
    shown = _device(fcm, name).post_notification(
        full_screen=NotificationIn.model_validate(body).full_screen
    )
    return {"credited": shown.name if shown is not None else None}


@devices.post("/devices/{name}/state")
async def set_state(fcm: Fcm, name: str, body: Body) -> dict[str, Any]:
    """Online/offline and Doze; what became deliverable is delivered."""
    wanted = StateIn.model_validate(body)
    device = _device(fcm, name)
    device.set_state(online=wanted.online, dozing=wanted.dozing)
    return device.to_json()


@state.get("/healthz")
async def healthz(fcm: Fcm) -> dict[str, Any]:
    return {"status": "ok", "url": fcm.url, "token_url": fcm.token_url}


@state.get("/faults")
async def get_faults(fcm: Fcm) -> dict[str, Any]:
    return fcm.faults.to_json()


@state.post("/faults")
async def set_faults(fcm: Fcm, body: Body) -> dict[str, Any]:
    """Change any subset of the knobs, all or none; answers every knob's value."""
    fcm.faults.update(body)
    return fcm.faults.to_json()


@state.get("/stats")
async def stats(fcm: Fcm) -> dict[str, Any]:
    return fcm.stats.to_json()


@state.post("/reset")
async def reset(fcm: Fcm) -> dict[str, str]:
    """Clear records, counters, rate windows and faults (accounts and tokens stay)."""
    fcm.reset()
    return {"status": "reset"}


def build_fcm_control_app(sandbox: FcmSandbox) -> FastAPI:
    """The control app for ``sandbox``; mount it under any prefix."""
    app = FastAPI(
        title="ringpush FCM sandbox control API",
        description=__doc__,
        docs_url=None,
        redoc_url=None,
        exception_handlers=handlers(),
    )
    app.state.fcm_sandbox = sandbox
    for router in (credentials, tokens, devices, state):
        app.include_router(router)
    return app
