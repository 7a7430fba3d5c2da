"""OpenAPI links: how one answer's values lead to the next request.

A client reading the document (and schemathesis's stateful tests) learns from them that a
started call's ``call_id`` is what ends, answers or declines it, that a minted user token
names the user whose devices can then be listed, and so on. Each link names its source and
target by method and path; the FastAPI operation ids are looked up when the document is
built, so renaming a handler cannot leave a link dangling (an unknown target fails at once).

The event stream is left out on purpose: following a link to it holds the request open
until the call ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Link:
    """``name`` from the ``status`` answer of ``source`` to ``target`` (each
    ``"METHOD /path"``), filling the target's ``parameters`` (runtime expressions)."""

    name: str
    source: str
    status: int
    target: str
    parameters: dict[str, str]


_APP = {"app_id": "$request.path.app_id"}
_CALL = {"call_id": "$response.body#/call_id"}

LINKS = (
    Link("GetApp", "PUT /v1/apps/{app_id}", 200, "GET /v1/apps/{app_id}", _APP),
    Link("MintUserToken", "PUT /v1/apps/{app_id}", 200, "POST /v1/apps/{app_id}/user-tokens", _APP),
    Link(
        "MintServiceKey", "PUT /v1/apps/{app_id}", 200, "POST /v1/apps/{app_id}/service-keys", _APP
    ),
    Link("ListUsers", "PUT /v1/apps/{app_id}", 200, "GET /v1/apps/{app_id}/users", _APP),
    Link("DeleteApp", "PUT /v1/apps/{app_id}", 200, "DELETE /v1/apps/{app_id}", _APP),
    Link(
        "UserDevices",
        "POST /v1/apps/{app_id}/user-tokens",
        201,
        "GET /v1/apps/{app_id}/users/{user_id}/devices",
        {"app_id": "$response.body#/app_id", "user_id": "$response.body#/user_id"},
    ),
    Link(
        "RevokeUserTokens",
        "POST /v1/apps/{app_id}/user-tokens",
        201,
        "DELETE /v1/apps/{app_id}/users/{user_id}/tokens",
        {"app_id": "$response.body#/app_id", "user_id": "$response.body#/user_id"},
    ),
    *(
        Link(name, "PUT /v1/devices/{device_id}", status, target, parameters)
        for status in (200, 201)
        for name, target, parameters in (
            (
                "UnregisterDevice",
                "DELETE /v1/devices/{device_id}",
                {
                    "device_id": "$request.path.device_id",
                    "push_type": "$response.body#/device/push_type",
                },
            ),
            ("MyDevices", "GET /v1/devices", {}),
        )
    ),
    Link("GetCall", "POST /v1/calls", 201, "GET /v1/calls/{call_id}", _CALL),
    Link("AnswerCall", "POST /v1/calls", 201, "POST /v1/calls/{call_id}/answer", _CALL),
    Link("DeclineCall", "POST /v1/calls", 201, "POST /v1/calls/{call_id}/decline", _CALL),
    Link("EndCall", "POST /v1/calls", 201, "POST /v1/calls/{call_id}/end", _CALL),
    Link("CallDeliveries", "POST /v1/calls", 201, "GET /v1/deliveries", _CALL),
    Link(
        "PushDeliveries",
        "POST /v1/pushes",
        201,
        "GET /v1/deliveries",
        {"apns_id": "$response.body#/deliveries/0/apns_id"},
    ),
)


def add_links(spec: dict[str, Any], links: tuple[Link, ...] = LINKS) -> None:
    """Write ``links`` into ``spec``'s responses, in place: those whose source route the
    API serves (an API without a delivery engine has no call routes)."""
    for link in links:
        method, path = link.source.split(" ", 1)
        if method.lower() not in spec["paths"].get(path, {}):
            continue
        target = _operation(spec, link.target)
        answer = _operation(spec, link.source)["responses"][str(link.status)]
        answer.setdefault("links", {})[link.name] = {
            "operationId": target["operationId"],
            "parameters": link.parameters,
        }


def _operation(spec: dict[str, Any], route: str) -> dict[str, Any]:
    method, path = route.split(" ", 1)
    try:
        operation: dict[str, Any] = spec["paths"][path][method.lower()]
    except KeyError:
        raise LookupError(f"an OpenAPI link names {route}, which the API does not have") from None
    return operation
