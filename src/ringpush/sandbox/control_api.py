"""The control API: a plain HTTP/1.1 JSON interface to a running sandbox.

Tests in other processes (and the CLI user with curl) issue device tokens, uninstall
apps, read what was pushed and set faults through it. Every bad input is a 400 or 422
with ``{"error": {"code", "message"}}``, never a 500, so a caller can tell its mistake
from a sandbox bug: bodies and queries are pydantic models, and Starlette's exception
handlers turn what they refuse (and the sandbox's own refusals) into those answers.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    StrictStr,
    StringConstraints,
    ValidationError,
    model_validator,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ringpush.apns.environment import Environment
from ringpush.apns.errors import ApnsError
from ringpush.apns.push_type import PushType
from ringpush.sandbox.faults import FaultError

if TYPE_CHECKING:
    from ringpush.sandbox.sandbox import Sandbox

M = TypeVar("M", bound=BaseModel)

NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class _Body(BaseModel):
    """A request body; unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore")


class TokenIn(_Body):
    bundle_id: NonEmpty
    push_type: PushType = PushType.VOIP
    environment: Environment = Environment.DEVELOPMENT


class CertificateIn(_Body):
    bundle_id: NonEmpty
    environment: Environment | None = None


class KeyIn(_Body):
    key_id: NonEmpty
    team_id: NonEmpty
    public_key_pem: NonEmpty | None = None
    private_key_pem: NonEmpty | None = None
    pem: NonEmpty | None = None
    environment: Environment | None = None
    bundle_ids: list[StrictStr] | None = None

    @model_validator(mode="after")
    def _has_a_key(self) -> KeyIn:
        if self.key_pem is None:
            raise ValueError("give public_key_pem or private_key_pem")
        return self

    @property
    def key_pem(self) -> str | None:
        return self.public_key_pem or self.private_key_pem or self.pem


class FaultsIn(_Body):
    """Fault knobs to change: each checked by :meth:`Faults.update` (its own rules)."""

    model_config = ConfigDict(extra="allow")


class NotificationsQuery(_Body):
    token: str | None = None
    apns_id: str | None = None
    environment: Environment | None = None


async def _parsed(request: Request, model: type[M]) -> M:
    """The body as ``model``; malformed JSON is 400, a wrong field 422 (the handlers)."""
    raw = await request.body()
    try:
        value = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "body must be a JSON object")
    return model.model_validate(value)


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error(exc.status, exc.code, exc.message)


async def _invalid(_: Request, exc: Exception) -> Response:
    """A field pydantic refused: 422 naming it."""
    assert isinstance(exc, ValidationError)
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first.get("loc", ())) or "body"
    message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
    return _error(422, "invalid_field", f"{field}: {message}")


async def _fault_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, FaultError)
    return _error(422, exc.code, exc.message)


def build_control_app(sandbox: Sandbox) -> Starlette:
    """The Starlette app; routes stay thin and call the :class:`Sandbox` facade."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "ports": sandbox.port_map()})

    async def issue_token(request: Request) -> Response:
        body = await _parsed(request, TokenIn)
        token = sandbox.issue_token(body.bundle_id, body.push_type, body.environment)
        return JSONResponse(
            {
                "token": token,
                "bundle_id": body.bundle_id,
                "push_type": body.push_type.value,
                "environment": body.environment.value,
                "topic": body.push_type.topic_for(body.bundle_id),
            },
            status_code=201,
        )

    async def uninstall(request: Request) -> Response:
        token = request.path_params["token"]
        at_ms = sandbox.uninstall(token)
        if at_ms is None:
            raise ApiError(404, "unknown_token", "no such device token")
        return JSONResponse({"token": token.lower(), "uninstalled_at_ms": at_ms})

    async def notifications(request: Request) -> Response:
        query = NotificationsQuery.model_validate(
            {name: value for name, value in request.query_params.items() if value}
        )
        records = sandbox.notifications(
            token=query.token, apns_id=query.apns_id, environment=query.environment
        )
        return JSONResponse([record.to_json() for record in records])

    async def get_faults(request: Request) -> Response:
        return JSONResponse(sandbox.faults.to_json())

    async def set_faults(request: Request) -> Response:
        changes = await _parsed(request, FaultsIn)
        sandbox.faults.update(changes.model_extra or {})
        return JSONResponse(sandbox.faults.to_json())

    async def reset(request: Request) -> Response:
        sandbox.reset()
        return JSONResponse({"status": "reset"})

    async def certificates(request: Request) -> Response:
        body = await _parsed(request, CertificateIn)
        try:
            issued = sandbox.mint_client_certificate(body.bundle_id, environment=body.environment)
        except ValueError as exc:
            raise ApiError(422, "invalid_field", str(exc)) from None
        return JSONResponse(
            {
                "certificate_pem": issued.certificate_pem.decode(),
                "key_pem": issued.key_pem.decode(),
                "bundle_id": body.bundle_id,
            },
            status_code=201,
        )

    async def keys(request: Request) -> Response:
        body = await _parsed(request, KeyIn)
        assert body.key_pem is not None  # the model's own check
        try:
            key = sandbox.register_key(
                body.key_id,
                body.team_id,
                body.key_pem,
                environment=body.environment,
                bundle_ids=body.bundle_ids,
            )
        except (ApnsError, ValueError) as exc:
            raise ApiError(422, "invalid_key", str(exc)) from None
        return JSONResponse(
            {
                "key_id": key.key_id,
                "team_id": key.team_id,
                "environment": key.environment.value if key.environment else None,
            },
            status_code=201,
        )

    async def list_keys(request: Request) -> Response:
        return JSONResponse(
            [
                {
                    "key_id": k.key_id,
                    "team_id": k.team_id,
                    "environment": k.environment.value if k.environment else None,
                }
                for k in sandbox.registered_keys()
            ]
        )

    async def stats(request: Request) -> Response:
        return JSONResponse(sandbox.stats.to_json())

    async def devices(request: Request) -> Response:
        """Simulated devices: tokens (masked), CallKit report failures, why VoIP stopped."""
        return JSONResponse([device.to_json() for device in sandbox.devices])

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/tokens", issue_token, methods=["POST"]),
        Route("/tokens/{token}", uninstall, methods=["DELETE"]),
        Route("/notifications", notifications, methods=["GET"]),
        Route("/faults", get_faults, methods=["GET"]),
        Route("/faults", set_faults, methods=["POST"]),
        Route("/reset", reset, methods=["POST"]),
        Route("/certificates", certificates, methods=["POST"]),
        Route("/keys", keys, methods=["POST"]),
        Route("/keys", list_keys, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/devices", devices, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={
            ApiError: _api_error,
            ValidationError: _invalid,
            FaultError: _fault_error,
        },
    )
