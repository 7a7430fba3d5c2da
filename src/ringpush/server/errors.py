"""API errors: every failure is a 4xx JSON body ``{"error": {"code", "message"}}``.

Validation errors name the field; nothing a client sends may produce a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ringpush.delivery.calls import CalleeHasNoDevices, CallExists
from ringpush.delivery.pushes import NoDevicesForPushType, UnknownDevice
from ringpush.logs import Throttled
from ringpush.registry.store import DatabaseUnavailable, TokenHeldElsewhere, TooManyDevices
from ringpush.server.error_codes import ErrorCode

log = logging.getLogger("ringpush.server")

_MEANING = {
    400: "Malformed request: the body is not JSON, or its length is ambiguous",
    401: "Missing, malformed, expired, revoked or unknown credential",
    403: "A valid credential of a kind this route does not take",
    404: "No such resource (or not one this credential may see)",
    409: "Conflicts with what exists",
    413: "Body over the server's limit, or a payload over APNs's",
    422: "A field is missing or invalid (the message names it)",
    429: "Rate limited: try again after Retry-After seconds",
    503: "The database cannot take the request now (locked, full, read-only, unreachable):"
    " nothing was stored; try again after Retry-After seconds",
}
#: The statuses every route of the API may answer besides its own.
COMMON_ERRORS = (400, 401, 403, 404, 413, 422, 429, 503)
#: Seconds a caller is told to wait when the database cannot take its request.
DATABASE_RETRY_AFTER_SECONDS = 1


#: A pydantic schema's references, pointed at the OpenAPI document's components.
SCHEMA_REF_TEMPLATE = "#/components/schemas/{model}"
#: Where the OpenAPI document keeps :class:`ErrorOut` (see ``server/app.py``).
ERROR_SCHEMA_REF = SCHEMA_REF_TEMPLATE.format(model="ErrorOut")


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` for error statuses: each the :class:`ErrorOut` body, as JSON
    whatever the route's own answers are (the event stream's are not JSON)."""
    content = {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}}
    return {status: {"description": _MEANING[status], "content": content} for status in statuses}


def component_schemas(*models: type[BaseModel]) -> dict[str, object]:
    """``models`` and what they refer to, as OpenAPI components (for the schemas routes
    refer to by hand: the error body, an event stream's events)."""
    components: dict[str, object] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=SCHEMA_REF_TEMPLATE)
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    return components


class ApiError(Exception):
    """An error answer: its code (which fixes its status) and a message for people."""

    def __init__(
        self, code: ErrorCode, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = code.status
        self.code = code
        self.message = message
        self.headers = headers


def error_body(code: ErrorCode, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def _field(location: tuple[object, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


NOT_JSON = "request body is not valid JSON: send a JSON object, with Content-Type: application/json"
#: What pydantic says of a body that is not a JSON object (a form, a string, a list).
_NOT_AN_OBJECT = frozenset({"model_attributes_type", "model_type", "dict_type"})


def _every_field(errors: Sequence[Any]) -> str:
    """Every invalid field, each named, in one message (the first one first)."""
    parts: list[str] = []
    for error in errors:
        field = _field(tuple(error.get("loc", ())))
        if field == "body" and error.get("type") in _NOT_AN_OBJECT:
            parts.append("body: a JSON object is needed, with Content-Type: application/json")
        else:
            parts.append(f"{field}: {error.get('msg', 'is invalid')}")
    return "; ".join(dict.fromkeys(parts)) or "body: is invalid"


def domain_error(exc: Exception) -> ApiError | None:
    """The API's answer to an exception of the delivery layer, in one place."""
    if isinstance(exc, CallExists):
        return ApiError(ErrorCode.CALL_EXISTS, f"call {exc.call_id!r} exists")
    if isinstance(exc, CalleeHasNoDevices):
        return ApiError(
            ErrorCode.CALLEE_HAS_NO_DEVICES,
            f"user {exc.user_id!r} has no device that can ring (no VoIP token registered,"
            " or none left valid); nothing was stored",
        )
    if isinstance(exc, NoDevicesForPushType):
        return ApiError(
            ErrorCode.NO_DEVICES_FOR_PUSH_TYPE,
            f"user {exc.user_id!r} has no device registered for {exc.push_type.value}"
            " pushes; nothing was stored",
        )
    if isinstance(exc, UnknownDevice):
        return ApiError(ErrorCode.UNKNOWN_DEVICE, f"no device {exc.args[0]!r} of this user")
    if isinstance(exc, TooManyDevices):
        return ApiError(ErrorCode.TOO_MANY_DEVICES, str(exc))
    if isinstance(exc, TokenHeldElsewhere):
        return ApiError(ErrorCode.DEVICE_TOKEN_UNAVAILABLE, str(exc))
    return None


def install_error_handlers(
    app: FastAPI, authenticate: Callable[[Request], Awaitable[object]] | None = None
) -> None:
    """``authenticate`` (raising ApiError) runs before a malformed request's 400/422."""

    async def delivery_error(_: Request, exc: Exception) -> JSONResponse:
        error = domain_error(exc)
        assert error is not None
        return JSONResponse(error_body(error.code, error.message), error.status)

    for kind in (
        CallExists,
        CalleeHasNoDevices,
        NoDevicesForPushType,
        UnknownDevice,
        TooManyDevices,
        TokenHeldElsewhere,
    ):
        app.add_exception_handler(kind, delivery_error)

    troubles = Throttled(log)

    @app.exception_handler(DatabaseUnavailable)
    async def database_unavailable(_: Request, exc: DatabaseUnavailable) -> JSONResponse:
        troubles.log(logging.ERROR, exc.trouble, "request refused with 503: %s", exc)
        return JSONResponse(
            error_body(ErrorCode.DATABASE_UNAVAILABLE, f"{exc}; nothing was stored, try again"),
            ErrorCode.DATABASE_UNAVAILABLE.status,
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI reads and checks the body before a route's dependencies run: a caller
        # without a valid credential hears 401, not what is wrong with its body.
        if authenticate is not None and request.url.path.startswith("/v1/"):
            try:
                await authenticate(request)
            except ApiError as refused:
                return JSONResponse(
                    error_body(refused.code, refused.message),
                    refused.status,
                    headers=refused.headers,
                )
        first = exc.errors()[0] if exc.errors() else {}
        kind = str(first.get("type", "invalid"))
        if kind == "json_invalid":
            malformed = ErrorCode.MALFORMED_JSON
            return JSONResponse(error_body(malformed, NOT_JSON), malformed.status)
        code = ErrorCode.MISSING_FIELD if kind == "missing" else ErrorCode.INVALID_FIELD
        return JSONResponse(error_body(code, _every_field(exc.errors())), code.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}
        return JSONResponse(
            error_body(codes.get(exc.status_code, ErrorCode.HTTP_ERROR), str(exc.detail)),
            exc.status_code,
            headers=exc.headers,  # a 405's Allow
        )
