"""The control API: a plain HTTP/1.1 JSON interface to a running sandbox.

Tests in other processes (and the CLI user with curl) issue device tokens, uninstall
apps, read what was pushed and set faults through it. It is a FastAPI app so that it
documents itself: its own OpenAPI document at ``/openapi.json`` and a Swagger page at
``/docs`` whose assets come from the fastapi-offline package, served here (the page asks
no outside host for anything, as the main server's). The routes stay thin: each calls
the :class:`Sandbox` facade, which the Python API uses too.

Every bad input is a 400 or 422 with ``{"error": {"code", "message"}}``, never a 500, so
a caller can tell its mistake from a sandbox bug. A body is read as JSON whatever its
Content-Type (``curl -d`` sends a form type), so the routes parse it themselves
(:func:`_parsed`) rather than leave it to FastAPI, and name its model in the OpenAPI
document by hand (:func:`_json_body`); the fault knobs are checked by
:meth:`Faults.update`, whose error codes are the API's. The exception handlers turn
what pydantic refuses (and the sandbox's own refusals) into those answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import (
    BaseModel,
    ValidationError,
)
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ringpush import __version__
from ringpush.apns.errors import ApnsError
from ringpush.sandbox.control_models import (
    CertificateIn,
    CertificateOut,
    DeviceOut,
    ErrorOut,
    FaultsIn,
    FaultsOut,
    HealthOut,
    IssuedTokenOut,
    KeyIn,
    KeyOut,
    NotificationOut,
    NotificationsQuery,
    ResetOut,
    StatsOut,
    TokenIn,
    UninstalledOut,
)
from ringpush.sandbox.faults import FaultError

if TYPE_CHECKING:
    from ringpush.sandbox.sandbox import Sandbox

M = TypeVar("M", bound=BaseModel)


#: Where the OpenAPI document keeps the models (FastAPI's and the request bodies').
SCHEMA_REF_TEMPLATE = "#/components/schemas/{model}"


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


# -- parsing and errors --------------------------------------------------------------


async def _json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object (none is ``{}``), whatever the Content-Type says."""
    raw = await request.body()
    try:
        value = json.loads(raw or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_json", "body must be a JSON object")
    return value


async def _parsed(request: Request, model: type[M]) -> M:
    """The body as ``model``; malformed JSON is 400, a wrong field 422 (the handlers)."""
    return model.model_validate(await _json_object(request))


def _invalid_field(errors: Sequence[Any]) -> JSONResponse:
    """A field pydantic refused: 422 naming it."""
    first = errors[0] if errors else {}
    location = [str(part) for part in first.get("loc", ())]
    if location and location[0] in ("body", "query", "path"):
        location = location[1:]
    field = ".".join(location) or "body"
    message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
    return _error(422, "invalid_field", f"{field}: {message}")


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error(exc.status, exc.code, exc.message)


async def _invalid_body(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    return _invalid_field(exc.errors())


async def _invalid_request(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return _invalid_field(exc.errors())


async def _fault_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, FaultError)
    return _error(422, exc.code, exc.message)


async def _http_error(_: Request, exc: Exception) -> Response:
    """An unknown path or method, in the API's error body (a 405 keeps its Allow)."""
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    code = codes.get(exc.status_code, "http_error")
    return _error(exc.status_code, code, str(exc.detail), exc.headers)


# -- the OpenAPI document ------------------------------------------------------------

#: The models request bodies refer to (FastAPI does not see them: the routes parse).
REQUEST_BODIES: tuple[type[BaseModel], ...] = (TokenIn, CertificateIn, KeyIn, FaultsIn)

_NOT_JSON = (
    "`invalid_json`: the body is not JSON, or not a JSON object (any Content-Type is read as JSON)"
)


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` naming ``model`` as a route's JSON request body."""
    schema = {"$ref": SCHEMA_REF_TEMPLATE.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _errors(by_status: Mapping[int, str]) -> dict[int | str, dict[str, Any]]:
    """A route's error answers, each status with what it means there: :class:`ErrorOut`."""
    return {
        status: {"model": ErrorOut, "description": description}
        for status, description in by_status.items()
    }


TAGS = [
    {"name": "tokens", "description": "Device tokens: what an installed app would get."},
    {"name": "notifications", "description": "What the sandbox accepted: the test oracle."},
    {"name": "faults", "description": "Make the sandbox misbehave like a loaded APNs."},
    {"name": "credentials", "description": "Signing keys and client certificates."},
    {"name": "state", "description": "Liveness, counters, simulated devices, reset."},
]

DESCRIPTION = """\
The control API of ringpush's local APNs sandbox (`ringpush sandbox`, port 2198 by
default): plain HTTP/1.1 JSON, for tests in other processes and for curl. The APNs
ports themselves (HTTP/2 over TLS, 2197 by default) take pushes as APNs does.

Issue device tokens with `POST /tokens`, register the signing key your provider uses
with `POST /keys` (or mint a client certificate with `POST /certificates`), push, then
read what arrived with `GET /notifications` and the counters with `GET /stats`. Set
faults with `POST /faults` to see a client retry, reconnect and resend; `POST /reset`
clears records, counters and faults between tests.

A body is read as JSON whatever its Content-Type; unknown keys are ignored (except in
`POST /faults`). Every error is `{"error": {"code", "message"}}` with a 4xx status,
never a 500.

When the sandbox serves FCM too (`ringpush sandbox --fcm`), the FCM sandbox's control
API is under `/fcm` (the `fcm …` tags): `POST /fcm/service-accounts` issues a key file,
`POST /fcm/tokens` a registration token, `DELETE /fcm/tokens/{token}` uninstalls (sends
get `404 UNREGISTERED`), `GET /fcm/messages` lists what FCM accepted.
"""

#: The FCM control API's tags, renamed in this document so that they do not merge with
#: the APNs ones of the same name.
FCM_TAGS = [
    {"name": "fcm credentials", "description": "FCM: service accounts and access tokens."},
    {"name": "fcm tokens", "description": "FCM: registration tokens and accepted messages."},
    {"name": "fcm devices", "description": "FCM: simulated Android devices."},
    {"name": "fcm state", "description": "FCM: liveness, faults, counters, reset."},
]


def _component_schemas(*models: type[BaseModel]) -> dict[str, Any]:
    components: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=SCHEMA_REF_TEMPLATE)
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    return components


def _mounted_paths(prefix: str, app: FastAPI) -> dict[str, Any]:
    """A mounted app's operations as this document's (FastAPI leaves mounts out): paths
    under ``prefix``, tags and operation ids prefixed so none collides with ours."""
    name = prefix.strip("/")
    paths: dict[str, Any] = {}
    for path, operations in app.openapi()["paths"].items():
        paths[prefix + path] = {
            method: {
                **operation,
                "tags": [f"{name} {tag}" for tag in operation.get("tags", ())],
                "operationId": f"{name}_{operation.get('operationId', method)}",
            }
            for method, operation in operations.items()
        }
    return paths


def _openapi(api: FastAPI, fcm: FastAPI | None = None) -> dict[str, Any]:
    """FastAPI's document, with the request bodies the routes parse themselves and the
    FCM control API mounted at ``/fcm`` (if it is), and without FastAPI's own
    validation-error body, which neither API answers."""
    if api.openapi_schema is None:
        spec = get_openapi(
            title=api.title,
            version=api.version,
            description=api.description,
            routes=api.routes,
            tags=TAGS + (FCM_TAGS if fcm is not None else []),
        )
        if fcm is not None:
            spec["paths"].update(_mounted_paths("/fcm", fcm))
        schemas: dict[str, Any] = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(_component_schemas(*REQUEST_BODIES))
        for operations in spec["paths"].values():
            for operation in operations.values():
                default = operation.get("responses", {}).get("422", {})
                if "HTTPValidationError" in json.dumps(default):
                    del operation["responses"]["422"]
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        api.openapi_schema = spec
    return api.openapi_schema


# -- the app --------------------------------------------------------------------------


def build_control_app(sandbox: Sandbox) -> FastAPI:
    """The FastAPI app; routes stay thin and call the :class:`Sandbox` facade."""
    # /docs (Swagger UI) from assets in the fastapi-offline package, served here: the page
    # works with no internet and asks no outside host for anything (no validator badge).
    # No ReDoc: its page fetches its logo from cdn.redoc.ly.
    api = FastAPIOffline(
        title="ringpush sandbox control API",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        static_url="/docs/assets",
        swagger_ui_parameters={"validatorUrl": None},
        exception_handlers={
            ApiError: _api_error,
            ValidationError: _invalid_body,
            RequestValidationError: _invalid_request,
            FaultError: _fault_error,
            StarletteHTTPException: _http_error,
        },
    )

    @api.get("/healthz", response_model=HealthOut, tags=["state"], summary="Liveness")
    async def healthz() -> dict[str, Any]:
        """Whether the sandbox runs, and its APNs port per environment: what a test
        waits for after starting `ringpush sandbox --port 0`."""
        return {"status": "ok", "ports": sandbox.port_map()}

    @api.post(
        "/tokens",
        status_code=201,
        response_model=IssuedTokenOut,
        tags=["tokens"],
        summary="Issue a device token",
        openapi_extra=_json_body(TokenIn),
        responses=_errors({400: _NOT_JSON, 422: "`invalid_field`: the message names it"}),
    )
    async def issue_token(request: Request) -> dict[str, Any]:
        """A new device token for one app, push type and environment, as APNs hands one
        to an installed app: register it with your server as the app would, then push
        to it. Pushes to a token the sandbox never issued get `400 BadDeviceToken`."""
        body = await _parsed(request, TokenIn)
        token = sandbox.issue_token(body.bundle_id, body.push_type, body.environment)
        return {
            "token": token,
            "bundle_id": body.bundle_id,
            "push_type": body.push_type.value,
            "environment": body.environment.value,
            "topic": body.push_type.topic_for(body.bundle_id),
        }

    @api.delete(
        "/tokens/{token}",
        response_model=UninstalledOut,
        tags=["tokens"],
        summary="Uninstall the app behind a token",
        responses=_errors({404: "`unknown_token`: the sandbox never issued this token"}),
    )
    async def uninstall(token: str) -> dict[str, Any]:
        """From now on pushes to the token get `410 Unregistered` with this time, as
        after the user deleted the app: tests that a server stops using dead tokens."""
        at_ms = sandbox.uninstall(token)
        if at_ms is None:
            raise ApiError(404, "unknown_token", "no such device token")
        return {"token": token.lower(), "uninstalled_at_ms": at_ms}

    @api.get(
        "/notifications",
        response_model=list[NotificationOut],
        tags=["notifications"],
        summary="List accepted pushes",
        responses=_errors({422: "`invalid_field`: an unknown environment"}),
    )
    async def notifications(
        query: Annotated[NotificationsQuery, Query()],
    ) -> list[dict[str, Any]]:
        """Every push the sandbox accepted, in arrival order, optionally filtered: what
        a test asserts on (topic, push type, headers, payload) after its server sent."""
        records = sandbox.notifications(
            token=query.token, apns_id=query.apns_id, environment=query.environment
        )
        return [record.to_json() for record in records]

    @api.get("/faults", response_model=FaultsOut, tags=["faults"], summary="Read the faults")
    async def get_faults() -> dict[str, Any]:
        """Every fault knob's current value."""
        return sandbox.faults.to_json()

    @api.post(
        "/faults",
        response_model=FaultsOut,
        tags=["faults"],
        summary="Set fault knobs",
        openapi_extra=_json_body(FaultsIn),
        responses=_errors(
            {
                400: _NOT_JSON,
                422: "`invalid_fault`: a knob's value is wrong; `unknown_fault`: no such knob."
                " Nothing is changed.",
            }
        ),
    )
    async def set_faults(request: Request) -> dict[str, Any]:
        """Change any subset of the knobs, all or none; the others keep their values.
        They apply to the next requests on every connection: a test sets them to see
        its client retry on 500/503, back off on 429, reconnect after GOAWAY or a
        dropped connection, and cope with slow answers. Answers every knob's value."""
        sandbox.faults.update(await _json_object(request))
        return sandbox.faults.to_json()

    @api.post("/reset", response_model=ResetOut, tags=["state"], summary="Reset")
    async def reset() -> dict[str, str]:
        """Clear the accepted pushes, the counters and the faults between tests; tokens,
        keys and certificates stay. Any body is ignored."""
        sandbox.reset()
        return {"status": "reset"}

    @api.post(
        "/certificates",
        status_code=201,
        response_model=CertificateOut,
        tags=["credentials"],
        summary="Mint a client certificate",
        openapi_extra=_json_body(CertificateIn),
        responses=_errors(
            {400: _NOT_JSON, 422: "`invalid_field`: the message names what is wrong"}
        ),
    )
    async def certificates(request: Request) -> dict[str, Any]:
        """A client certificate and key signed by the sandbox CA, for certificate-based
        authentication: a provider that connects with it may push to the app's topics
        without a provider token, as with an Apple push certificate."""
        body = await _parsed(request, CertificateIn)
        try:
            issued = sandbox.mint_client_certificate(body.bundle_id, environment=body.environment)
        except ValueError as exc:
            raise ApiError(422, "invalid_field", str(exc)) from None
        return {
            "certificate_pem": issued.certificate_pem.decode(),
            "key_pem": issued.key_pem.decode(),
            "bundle_id": body.bundle_id,
        }

    @api.post(
        "/keys",
        status_code=201,
        response_model=KeyOut,
        tags=["credentials"],
        summary="Register a signing key",
        openapi_extra=_json_body(KeyIn),
        responses=_errors(
            {
                400: _NOT_JSON,
                422: "`invalid_field`: a field is missing or of the wrong type, or no key is"
                " given; `invalid_key`: the key id or team id is not 10 upper-case letters or"
                " digits, or the PEM is not a P-256 key",
            }
        ),
    )
    async def keys(request: Request) -> dict[str, Any]:
        """Accept provider tokens (ES256 JWTs) signed by this key, as APNs does for a key
        made in the developer account: register the key your server signs with, or a
        second one to test a key rotation. Tokens from keys the sandbox does not know
        get `403 InvalidProviderToken`."""
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
        return {
            "key_id": key.key_id,
            "team_id": key.team_id,
            "environment": key.environment.value if key.environment else None,
        }

    @api.get(
        "/keys", response_model=list[KeyOut], tags=["credentials"], summary="List signing keys"
    )
    async def list_keys() -> list[dict[str, Any]]:
        """The keys whose provider tokens the sandbox accepts (public halves only)."""
        return [
            {
                "key_id": k.key_id,
                "team_id": k.team_id,
                "environment": k.environment.value if k.environment else None,
            }
            for k in sandbox.registered_keys()
        ]

    @api.get("/stats", response_model=StatsOut, tags=["state"], summary="Counters")
    async def stats() -> dict[str, Any]:
        """How many pushes were accepted and refused (by reason), connections, refused
        and reset streams, answers faults caused, provider tokens per key: a load test's
        or a fault test's check that the client behaved."""
        return sandbox.stats.to_json()

    @api.get(
        "/devices", response_model=list[DeviceOut], tags=["state"], summary="Simulated devices"
    )
    async def devices() -> list[dict[str, Any]]:
        """Simulated devices: tokens (masked), CallKit report failures, why VoIP stopped."""
        return [device.to_json() for device in sandbox.devices]

    fcm = None
    if sandbox.fcm is not None:
        from ringpush.sandbox.fcm.control_api import build_fcm_control_app

        fcm = build_fcm_control_app(sandbox.fcm)
        api.mount("/fcm", fcm)
    api.openapi = lambda: _openapi(api, fcm)  # type: ignore[method-assign]
    return api
