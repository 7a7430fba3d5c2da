"""The control API's refusals: every domain error mapped to its 4xx answer in one place.

Every refusal is ``{"error": {"code", "message"}}``; a caller can tell its mistake
(always 4xx) from a sandbox bug. The fault knobs' codes are
:class:`~ringpush.sandbox.faults.FaultError`'s, as in the APNs control API.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ringpush.sandbox.faults import FaultError
from ringpush.sandbox.fcm.accounts import ServiceAccountError
from ringpush.sandbox.fcm.sandbox import NotRunning


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _invalid_field(errors: Sequence[Any]) -> JSONResponse:
    first = errors[0] if errors else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query")]
    message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
    return _error(422, "invalid_field", f"{'.'.join(location) or 'body'}: {message}")


Handler = Callable[[Request, Exception], Coroutine[Any, Any, Response]]


def handlers() -> dict[Any, Handler]:
    """Each domain error's answer; the sandbox's ValueErrors name the bad input."""

    async def api_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _error(exc.status, exc.code, exc.message)

    async def invalid(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ValidationError | RequestValidationError)
        return _invalid_field(exc.errors())

    async def fault(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, FaultError)
        return _error(422, exc.code, exc.message)

    async def value(_: Request, exc: Exception) -> Response:
        code = (
            "invalid_service_account" if isinstance(exc, ServiceAccountError) else "invalid_value"
        )
        return _error(422, code, str(exc))

    async def not_running(_: Request, exc: Exception) -> Response:
        return _error(409, "not_running", str(exc))

    async def http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail), exc.headers)

    return {
        ApiError: api_error,
        ValidationError: invalid,
        RequestValidationError: invalid,
        FaultError: fault,
        ValueError: value,
        NotRunning: not_running,
        StarletteHTTPException: http,
    }
