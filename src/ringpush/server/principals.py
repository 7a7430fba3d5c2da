"""Who may call a route, as typed dependencies: a handler asks for the principal it needs
(``Operator``, ``Service``, ``User``, or a union) and gets it with the ids it may act on,
or the request is refused with 401/403 before the handler runs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError

from ringpush.server.auth import Principal, Role, forbidden
from ringpush.server.errors import ApiError
from ringpush.server.schemas import ID_PATTERN
from ringpush.server.state import ServerState


@dataclass(frozen=True, slots=True)
class Operator:
    """The operator key: every app."""


@dataclass(frozen=True, slots=True)
class Service:
    """A calling service's API key: its own app."""

    app_id: str


@dataclass(frozen=True, slots=True)
class User:
    """A user token, held by the app on the user's device: that user of that app."""

    app_id: str
    user_id: str


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.ringpush
    return state


async def server_state(request: Request) -> ServerState:
    """The server's state, as a dependency. Every dependency is ``async def``: FastAPI
    runs a plain ``def`` one in a worker thread, a thread round trip per request (with
    three of them on the call route, ``bench/call_latency.py`` measured serve at 3.15 ms
    of CPU per call; 2.88-2.94 ms once they were async)."""
    return state_of(request)


State = Annotated[ServerState, Depends(server_state)]


async def principal(request: Request, state: State) -> Principal:
    """The caller, from ``Authorization: Bearer …`` (read here, not declared as a header
    parameter: the OpenAPI document states it once, as the bearer security scheme)."""
    return await _identify(request, state, request.headers.get("authorization"))


async def authenticate(request: Request) -> Principal:
    """:func:`principal` outside dependency injection (a malformed request's handler)."""
    return await _identify(request, state_of(request), request.headers.get("authorization"))


async def _identify(request: Request, state: ServerState, authorization: str | None) -> Principal:
    """Who is calling; an address that failed to authenticate too often is refused
    (429) before its credential is looked at."""
    address = request.client.host if request.client is not None else "unknown"
    state.limits.check_address(address)
    try:
        return await state.authenticator.identify(authorization)
    except ApiError as exc:
        if exc.status == 401:
            state.limits.failed_authentication(address)
        raise


Caller = Annotated[Principal, Depends(principal)]


def _service(caller: Principal) -> Service | None:
    if caller.role is Role.SERVICE and caller.app_id is not None:
        return Service(caller.app_id)
    return None


def _user(caller: Principal) -> User | None:
    if caller.role is Role.USER and caller.app_id is not None and caller.user_id is not None:
        return User(caller.app_id, caller.user_id)
    return None


async def operator(caller: Caller) -> Operator:
    if caller.role is not Role.OPERATOR:
        raise forbidden("this call needs the operator credential")
    return Operator()


#: The query parameter with which the operator acts for one app where a route takes a
#: service key (the console places test calls and sends test pushes this way).
APP_QUERY_DESCRIPTION = (
    "With the operator key: the app to act for. A service key acts for its own app"
    " (another app here is 403)."
)
AppQuery = Annotated[str | None, Query(pattern=ID_PATTERN, description=APP_QUERY_DESCRIPTION)]
ID_REGEX = re.compile(ID_PATTERN)
NEEDS_SERVICE = "this call needs the calling service's API key (or the operator key and ?app_id=)"


def _acting_service(caller: Principal, app_id: str | None) -> Service | None:
    """The app ``caller`` acts for: a service key's own, or the operator's ``app_id``."""
    if caller.role is Role.OPERATOR:
        return Service(app_id) if app_id is not None else None
    found = _service(caller)
    if found is not None and app_id not in (None, found.app_id):
        raise forbidden("a service key acts only for its own app")
    return found


async def service(caller: Caller, app_id: AppQuery = None) -> Service:
    found = _acting_service(caller, app_id)
    if found is None:
        raise forbidden(NEEDS_SERVICE)
    return found


async def service_of(request: Request) -> Service:
    """:func:`service` for a lean route (:mod:`ringpush.server.lean_route`), which reads
    its query itself."""
    caller = await authenticate(request)
    app_id = request.query_params.get("app_id")
    if app_id is not None and not ID_REGEX.fullmatch(app_id):
        raise RequestValidationError(
            [
                {
                    "type": "string_pattern_mismatch",
                    "loc": ("query", "app_id"),
                    "msg": f"String should match pattern '{ID_PATTERN}'",
                    "input": app_id,
                }
            ]
        )
    found = _acting_service(caller, app_id)
    if found is None:
        raise forbidden(NEEDS_SERVICE)
    return found


async def user(caller: Caller) -> User:
    found = _user(caller)
    if found is None:
        raise forbidden("this call needs the user credential")
    return found


async def service_or_user(caller: Caller, app_id: AppQuery = None) -> Service | User:
    found = _acting_service(caller, app_id) or _user(caller)
    if found is None:
        raise forbidden(NEEDS_SERVICE)
    if isinstance(found, User) and app_id not in (None, found.app_id):
        raise forbidden("a user token acts only for its own app")
    return found


async def operator_or_service(caller: Caller) -> Operator | Service:
    if caller.role is Role.OPERATOR:
        return Operator()
    found = _service(caller)
    if found is None:
        raise forbidden("the delivery log needs the operator or service credential")
    return found


AsOperator = Annotated[Operator, Depends(operator)]
AsService = Annotated[Service, Depends(service)]
AsUser = Annotated[User, Depends(user)]
AsServiceOrUser = Annotated[Service | User, Depends(service_or_user)]
AsOperatorOrService = Annotated[Operator | Service, Depends(operator_or_service)]
