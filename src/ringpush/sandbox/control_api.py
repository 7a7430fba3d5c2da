"""The control API: a plain HTTP/1.1 JSON interface to a running sandbox.

Tests in other processes (and the CLI user with curl) issue device tokens, uninstall
apps, read what was pushed and set faults through it. Every bad input is a 400 or 422
with ``{"error": {"code", "message"}}``, never a 500, so a caller can tell its mistake
from a sandbox bug.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

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

Handler = Callable[[Request], Awaitable[Response]]
E = TypeVar("E", Environment, PushType)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        value = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "body must be a JSON object")
    return value


def _string(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ApiError(422, "invalid_field", f"{name} must be a non-empty string")
    return value


def _choice(kind: type[E], body: dict[str, Any], name: str, default: E | None) -> E:
    value = body.get(name)
    if value is None and default is not None:
        return default
    try:
        return kind(str(value))
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise ApiError(422, "invalid_field", f"{name} must be one of: {allowed}") from None


def build_control_app(sandbox: Sandbox) -> Starlette:
    """The Starlette app; routes stay thin and call the :class:`Sandbox` facade."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "ports": sandbox.port_map()})

    async def issue_token(request: Request) -> Response:
        body = await _json_object(request)
        bundle_id = _string(body, "bundle_id")
        assert bundle_id is not None
        push_type = _choice(PushType, body, "push_type", PushType.VOIP)
        environment = _choice(Environment, body, "environment", Environment.DEVELOPMENT)
        token = sandbox.issue_token(bundle_id, push_type, environment)
        return JSONResponse(
            {
                "token": token,
                "bundle_id": bundle_id,
                "push_type": push_type.value,
                "environment": environment.value,
                "topic": push_type.topic_for(bundle_id),
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
        params = request.query_params
        environment = params.get("environment")
        env = (
            _choice(Environment, {"environment": environment}, "environment", None)
            if environment
            else None
        )
        records = sandbox.notifications(
            token=params.get("token") or None,
            apns_id=params.get("apns_id") or None,
            environment=env,
        )
        return JSONResponse([record.to_json() for record in records])

    async def get_faults(request: Request) -> Response:
        return JSONResponse(sandbox.faults.to_json())

    async def set_faults(request: Request) -> Response:
        body = await _json_object(request)
        try:
            sandbox.faults.update(body)
        except FaultError as exc:
            raise ApiError(422, exc.code, exc.message) from None
        return JSONResponse(sandbox.faults.to_json())

    async def reset(request: Request) -> Response:
        sandbox.reset()
        return JSONResponse({"status": "reset"})

    async def certificates(request: Request) -> Response:
        body = await _json_object(request)
        bundle_id = _string(body, "bundle_id")
        assert bundle_id is not None
        environment = None
        if body.get("environment") is not None:
            environment = _choice(Environment, body, "environment", None)
        try:
            issued = sandbox.mint_client_certificate(bundle_id, environment=environment)
        except ValueError as exc:
            raise ApiError(422, "invalid_field", str(exc)) from None
        return JSONResponse(
            {
                "certificate_pem": issued.certificate_pem.decode(),
                "key_pem": issued.key_pem.decode(),
                "bundle_id": bundle_id,
            },
            status_code=201,
        )

    async def keys(request: Request) -> Response:
        body = await _json_object(request)
        key_id = _string(body, "key_id")
        team_id = _string(body, "team_id")
        pem = (
            _string(body, "public_key_pem", required=False)
            or _string(body, "private_key_pem", required=False)
            or _string(body, "pem", required=False)
        )
        if pem is None:
            raise ApiError(422, "invalid_field", "give public_key_pem or private_key_pem")
        environment = None
        if body.get("environment") is not None:
            environment = _choice(Environment, body, "environment", None)
        bundle_ids = body.get("bundle_ids")
        if bundle_ids is not None and (
            not isinstance(bundle_ids, list) or not all(isinstance(b, str) for b in bundle_ids)
        ):
            raise ApiError(422, "invalid_field", "bundle_ids must be a list of strings")
        assert key_id is not None and team_id is not None
        try:
            key = sandbox.register_key(
                key_id, team_id, pem, environment=environment, bundle_ids=bundle_ids
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

    def guarded(handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:
                return _error(exc.status, exc.code, exc.message)

        return run

    routes = [
        Route("/healthz", guarded(healthz), methods=["GET"]),
        Route("/tokens", guarded(issue_token), methods=["POST"]),
        Route("/tokens/{token}", guarded(uninstall), methods=["DELETE"]),
        Route("/notifications", guarded(notifications), methods=["GET"]),
        Route("/faults", guarded(get_faults), methods=["GET"]),
        Route("/faults", guarded(set_faults), methods=["POST"]),
        Route("/reset", guarded(reset), methods=["POST"]),
        Route("/certificates", guarded(certificates), methods=["POST"]),
        Route("/keys", guarded(keys), methods=["POST"]),
        Route("/keys", guarded(list_keys), methods=["GET"]),
        Route("/stats", guarded(stats), methods=["GET"]),
        Route("/devices", guarded(devices), methods=["GET"]),
    ]
    return Starlette(routes=routes)
