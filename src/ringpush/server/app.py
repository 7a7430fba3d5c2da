"""The HTTP API (FastAPI on uvicorn; OpenAPI at /docs): one router per resource, who may
call each route as a typed dependency (:mod:`ringpush.server.principals`), the delivery
layer's exceptions mapped to HTTP in one place (:mod:`ringpush.server.errors`)."""

from fastapi import FastAPI

from ringpush.server.body_limit import BodyLimit
from ringpush.server.errors import install_error_handlers
from ringpush.server.principals import authenticate
from ringpush.server.routes import apps, calls, devices, health, pushes
from ringpush.server.state import ServerState


def create_app(state: ServerState) -> FastAPI:
    api = FastAPI(title="ringpush", version="0.1.0", docs_url="/docs")
    api.state.ringpush = state
    install_error_handlers(api, authenticate)
    api.include_router(health.router)
    api.include_router(apps.router)
    api.include_router(devices.router)
    if state.calls is not None and state.pushes is not None and state.engine is not None:
        api.include_router(calls.router)
        api.include_router(pushes.router)
    api.add_middleware(BodyLimit, max_bytes=state.max_body_bytes)
    return api
