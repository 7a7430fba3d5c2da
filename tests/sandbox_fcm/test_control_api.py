"""The control API, mounted under ``/fcm`` of another app and served over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from ringpush.embedded_uvicorn import EmbeddedUvicorn, bound_socket
from ringpush.sandbox.fcm import FcmSandbox, build_fcm_control_app
from ringpush.sandbox.fcm.accounts import new_service_account
from tests.sandbox_fcm.conftest import (
    PACKAGE,
    PROJECT,
    Clock,
    access_token,
    call_wakeup,
    send,
)


@pytest.fixture
async def control(sandbox: FcmSandbox) -> AsyncIterator[httpx.AsyncClient]:
    parent = Starlette(routes=[Mount("/fcm", app=build_fcm_control_app(sandbox))])
    sock = bound_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = EmbeddedUvicorn(parent)
    await server.start(sock)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/fcm") as client:
            yield client
    finally:
        await server.stop()


def error_code(answer: httpx.Response) -> str:
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    code: str = body["error"]["code"]
    return code


async def test_healthz_names_the_fcm_url(control: httpx.AsyncClient, sandbox: FcmSandbox) -> None:
    answer = await control.get("/healthz")
    assert answer.json() == {"status": "ok", "url": sandbox.url, "token_url": sandbox.token_url}


async def test_an_issued_service_account_can_get_an_access_token(
    control: httpx.AsyncClient, client: httpx.AsyncClient, clock: Clock
) -> None:
    answer = await control.post("/service-accounts", json={"project_id": PROJECT})
    assert answer.status_code == 201
    key_file = answer.json()
    await access_token(client, key_file, clock())
    listed = (await control.get("/service-accounts")).json()
    assert [a["client_email"] for a in listed] == [key_file["client_email"]]
    projects = (await control.get("/projects")).json()
    assert projects[0]["project_id"] == PROJECT and projects[0]["number"].isdigit()


async def test_a_service_account_made_elsewhere_is_imported(
    control: httpx.AsyncClient, sandbox: FcmSandbox
) -> None:
    outside, key = new_service_account("elsewhere-project", "https://oauth2.googleapis.com/token")
    answer = await control.post("/service-accounts/import", json=outside)
    assert answer.status_code == 201
    assert answer.json()["key_id"] == key.key_id
    assert sandbox.core.accounts.key(key.key_id) is not None
    broken = await control.post("/service-accounts/import", json={**outside, "type": "user"})
    assert (broken.status_code, error_code(broken)) == (422, "invalid_service_account")


async def test_tokens_are_issued_uninstalled_and_refreshed(
    control: httpx.AsyncClient, client: httpx.AsyncClient, bearer: str
) -> None:
    issued = await control.post("/tokens", json={"package": PACKAGE, "project_id": PROJECT})
    assert issued.status_code == 201
    token = issued.json()["token"]
    refreshed = await control.post(f"/tokens/{token}/refresh")
    new = refreshed.json()["token"]
    assert (await send(client, bearer, call_wakeup(token))).status_code == 404
    assert (await send(client, bearer, call_wakeup(new))).status_code == 200
    assert (await control.delete(f"/tokens/{new}")).json()["installed"] is False
    assert (await send(client, bearer, call_wakeup(new))).status_code == 404
    again = await control.delete(f"/tokens/{new}")
    assert (again.status_code, error_code(again)) == (404, "unknown_token")


async def test_accepted_messages_are_readable_by_token(
    control: httpx.AsyncClient, client: httpx.AsyncClient, sandbox: FcmSandbox, bearer: str
) -> None:
    token = sandbox.issue_token(PACKAGE, PROJECT)
    other = sandbox.issue_token(PACKAGE, PROJECT)
    name = (await send(client, bearer, call_wakeup(token))).json()["name"]
    await send(client, bearer, call_wakeup(other))
    found = (await control.get("/messages", params={"token": token})).json()
    assert [m["name"] for m in found] == [name]
    assert found[0]["message"] == call_wakeup(token)
    assert len((await control.get("/messages")).json()) == 2


async def test_faults_are_set_and_read_all_or_nothing(control: httpx.AsyncClient) -> None:
    answer = await control.post("/faults", json={"error_rate": 1, "error_status": 500})
    assert answer.json()["error_rate"] == 1.0
    bad = await control.post("/faults", json={"error_rate": 0, "latency_ms": -5})
    assert (bad.status_code, error_code(bad)) == (422, "invalid_fault")
    assert (await control.get("/faults")).json()["error_rate"] == 1.0
    unknown = await control.post("/faults", json={"brownout": True})
    assert error_code(unknown) == "unknown_fault"


async def test_access_tokens_are_expired_and_their_lifetime_set(
    control: httpx.AsyncClient, client: httpx.AsyncClient, sandbox: FcmSandbox, bearer: str
) -> None:
    assert (await control.post("/access-tokens/expire")).json() == {"expired": 1}
    token = sandbox.issue_token(PACKAGE, PROJECT)
    assert (await send(client, bearer, call_wakeup(token))).status_code == 401
    answer = await control.put("/access-tokens/lifetime", json={"seconds": 120})
    assert answer.json() == {"lifetime_seconds": 120.0}
    assert sandbox.access_token_lifetime == 120.0
    assert (await control.get("/access-tokens")).json()["live"] == 0


async def test_devices_show_their_deprioritization_and_take_notifications(
    control: httpx.AsyncClient, client: httpx.AsyncClient, bearer: str
) -> None:
    body: dict[str, Any] = {
        "name": "pixel",
        "package": PACKAGE,
        "project_id": PROJECT,
        "notification_deadline": 0,
        "max_misses": 1,
    }
    created = await control.post("/devices", json=body)
    assert created.status_code == 201
    token = created.json()["token"]
    await send(client, bearer, call_wakeup(token))
    listed = {d["name"]: d for d in (await control.get("/devices")).json()}
    assert listed["pixel"]["deprioritized"] is True
    assert listed["pixel"]["token"] != token  # masked in listings

    patient = {**body, "name": "patient", "notification_deadline": 60}
    patient_token = (await control.post("/devices", json=patient)).json()["token"]
    name = (await send(client, bearer, call_wakeup(patient_token))).json()["name"]
    shown = await control.post("/devices/patient/notifications", json={"full_screen": True})
    assert shown.json() == {"credited": name}
    state = await control.post("/devices/patient/state", json={"online": False})
    assert state.json()["online"] is False and state.json()["deprioritized"] is False


async def test_bad_requests_get_4xx_error_bodies(control: httpx.AsyncClient) -> None:
    cases = [
        (await control.post("/tokens", content=b"{nope"), 400, "invalid_json"),
        (await control.post("/tokens", json={"package": PACKAGE}), 422, "invalid_field"),
        (
            await control.post("/tokens", json={"package": "nodots", "project_id": PROJECT}),
            422,
            "invalid_value",
        ),
        (await control.post("/devices/ghost/notifications"), 404, "unknown_device"),
        (await control.get("/nothing-here"), 404, "not_found"),
        (await control.delete("/faults"), 405, "method_not_allowed"),
    ]
    for answer, status, code in cases:
        assert (answer.status_code, error_code(answer)) == (status, code), answer.text


async def test_reset_clears_records_and_faults(
    control: httpx.AsyncClient, client: httpx.AsyncClient, sandbox: FcmSandbox, bearer: str
) -> None:
    await send(client, bearer, call_wakeup(sandbox.issue_token(PACKAGE, PROJECT)))
    sandbox.faults.update({"latency_ms": 5})
    assert (await control.post("/reset")).json() == {"status": "reset"}
    assert sandbox.messages() == [] and sandbox.faults.latency_ms == 0
    assert (await control.get("/stats")).json()["accepted"] == 0


async def test_what_needs_a_running_sandbox_is_a_409_before_start() -> None:
    idle = FcmSandbox()
    transport = httpx.ASGITransport(app=build_fcm_control_app(idle))
    async with httpx.AsyncClient(transport=transport, base_url="http://control") as control:
        answer = await control.post("/service-accounts", json={"project_id": PROJECT})
        assert (answer.status_code, error_code(answer)) == (409, "not_running")
        infinite = await control.put("/access-tokens/lifetime", content=b'{"seconds": Infinity}')
        assert (infinite.status_code, error_code(infinite)) == (422, "invalid_field")
