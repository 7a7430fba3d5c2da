"""The two hot routes (``POST /v1/calls``, ``POST /v1/pushes``) without FastAPI's
per-request machinery, still as FastAPI routes in the OpenAPI document.

FastAPI solves a route's dependency tree, reads and validates its body and validates its
return value against ``response_model`` again before serialising it, on every request.
For a call, with five dependencies, that was ~210 µs of CPU against ~40 µs for the same
work written out (measured in one process on the 2-core machine: the route's shape
driven through the ASGI app 5 000 times), around 8 % of ``serve``'s CPU per call
(``bench/call_latency.py``). So a hot route takes the :class:`Request`, authenticates,
validates its body (:func:`parse_body`, with the errors FastAPI would raise, so the
answers do not change) and answers with :func:`json_response`; :func:`documented` gives
FastAPI what it needs to describe the route as before.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from ringpush.server.errors import error_responses

M = TypeVar("M", bound=BaseModel)

#: A pydantic schema's references, pointed at the OpenAPI document's components.
_REF_TEMPLATE = "#/components/schemas/{model}"


async def parse_body(request: Request, model: type[M]) -> M:
    """The request's JSON body as ``model``; invalid JSON or fields raise
    :class:`RequestValidationError` located in the body, as FastAPI's own parsing does."""
    raw = await request.body()
    try:
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
    schema = body.model_json_schema(ref_template=_REF_TEMPLATE)
    return {
        "status_code": status,
        "response_model": None,
        "responses": {
            status: {"model": answer, "description": "Successful Response"},
            **error_responses(*errors),
        },
        "openapi_extra": {
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": schema}},
            }
        },
    }
