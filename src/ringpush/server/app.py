"""The HTTP API (FastAPI on uvicorn; OpenAPI at /docs): one router per resource, who may
call each route as a typed dependency (:mod:`ringpush.server.principals`), the delivery
layer's exceptions mapped to HTTP in one place (:mod:`ringpush.server.errors`)."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from ringpush.server.body_limit import BodyLimit
from ringpush.server.errors import component_schemas, install_error_handlers
from ringpush.server.openapi_links import add_links
from ringpush.server.principals import authenticate
from ringpush.server.routes import apps, calls, console, devices, health, pushes
from ringpush.server.schemas import CallEventOut, DeliveryOut, ErrorOut
from ringpush.server.state import ServerState


def create_app(state: ServerState) -> FastAPI:
    # /docs (Swagger UI) from assets in the fastapi-offline package, served here: the page
    # works with no internet and asks no outside host for anything (no validator badge).
    # No ReDoc: its page fetches its logo from cdn.redoc.ly.
    api = FastAPIOffline(
        title="ringpush",
        version="0.1.0",
        docs_url="/docs",
        redoc_url=None,
        static_url="/docs/assets",
        swagger_ui_parameters={"validatorUrl": None},
    )
    api.state.ringpush = state
    install_error_handlers(api, authenticate)
    api.include_router(health.router)
    api.include_router(console.router)
    api.include_router(apps.router)
    api.include_router(devices.router)
    if state.calls is not None and state.pushes is not None and state.engine is not None:
        api.include_router(calls.router)
        api.include_router(pushes.router)
    api.add_middleware(BodyLimit, max_bytes=state.max_body_bytes)
    api.openapi = lambda: _openapi(api)  # type: ignore[method-assign]
    return api


#: How every /v1 route is authenticated, in the OpenAPI document.
BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "The operator key (rpa_…), an app's service key (rps_…) or a user token"
    " (a JWT minted by POST /v1/apps/{app_id}/user-tokens); each route says which it takes.",
}


def _openapi(api: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with the bearer scheme every route is behind, the error body
    and the call events the routes refer to, and the links from one answer to the next
    request."""
    if api.openapi_schema is None:
        spec = get_openapi(title=api.title, version=api.version, routes=api.routes)
        components = spec.setdefault("components", {})
        components["securitySchemes"] = {"bearer": BEARER}
        components.setdefault("schemas", {}).update(
            component_schemas(ErrorOut, CallEventOut, DeliveryOut)
        )
        spec["security"] = [{"bearer": []}]
        add_links(spec)
        api.openapi_schema = spec
    return api.openapi_schema
