"""The two hot routes (``POST /v1/calls``, ``POST /v1/pushes``) without FastAPI's
per-request machinery, still as FastAPI routes in the OpenAPI document.

FastAPI solves a route's dependency tree, reads and validates its body and validates its
return value against ``response_model`` again before serialising it, on every request.
The call route's shape (five dependencies, a body, a response model) driven through the
ASGI app 5 000 times in one process cost 212-264 µs of CPU per request; the same route
taking the :class:`Request` and doing that work itself, 92 µs. So a hot route is
:func:`admit`-ted (the credential, its rate, then the body, with the errors FastAPI would
raise, so the answers do not change) and answers with :func:`json_response`;
:func:`documented` gives FastAPI what it needs to describe the route as before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from ringpush.server.errors import SCHEMA_REF_TEMPLATE, error_responses
from ringpush.server.principals import APP_QUERY_DESCRIPTION, Service, service_of, state_of
from ringpush.server.rate_limits import RateLimiter, RateLimits
from ringpush.server.schemas import ID_PATTERN
from ringpush.server.state import ServerState

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Admitted(Generic[M]):
    """A calling service's request to a lean route, let in."""

    me: Service
    state: ServerState
    body: M


async def admit(
    request: Request,
    model: type[M],
    limiter: Callable[[RateLimits], RateLimiter],
    what: str,
) -> Admitted[M]:
    """The order every lean route keeps: the service's credential (401/403), its rate
    (429 ``what``), then the body as ``model`` (400/422); nothing is read before the
    credential is checked."""
    me = await service_of(request)
    state = state_of(request)
    limiter(state.limits).charge(me.app_id, what)
    return Admitted(me, state, await parse_body(request, model))


async def parse_body(request: Request, model: type[M]) -> M:
    """The request's JSON body as ``model``; invalid JSON or fields raise
    :class:`RequestValidationError` located in the body, as FastAPI's own parsing does."""
    raw = await request.body()
    try:
        # json.loads, not pydantic's JSON parser: it keeps an unpaired surrogate as text,
        # so that the model's own check names the field (422) instead of a 400.
        value = json.loads(raw)
    except ValueError as exc:  # also a body that is not UTF-8
        error = {"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error"}
        raise RequestValidationError([{**error, "ctx": {"error": str(exc)}}]) from None
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from None


def json_response(body: BaseModel, status: int = 200) -> Response:
    return Response(body.model_dump_json(), status, media_type="application/json")


def documented(
    body: type[BaseModel], answer: type[BaseModel], status: int, *errors: int
) -> dict[str, Any]:
    """Keyword arguments of the route's decorator that document ``body`` as its request
    body, ``answer`` as its ``status`` response, and ``errors`` beside the router's."""
    schema = body.model_json_schema(ref_template=SCHEMA_REF_TEMPLATE)
    return {
        "status_code": status,
        "response_model": None,
        "responses": {
            status: {"model": answer, "description": "Successful Response"},
            **error_responses(*errors),
        },
        "openapi_extra": {
            # Read by :func:`admit` (``service_of``), not by FastAPI: declared here.
            "parameters": [
                {
                    "name": "app_id",
                    "in": "query",
                    "required": False,
                    "description": APP_QUERY_DESCRIPTION,
                    "schema": {"type": "string", "pattern": ID_PATTERN},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": schema}},
            },
        },
    }
