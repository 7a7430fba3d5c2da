"""The JSON control API over real HTTP/1.1 (uvicorn on its own port, same event loop)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from ringpush.sandbox import Sandbox
from ringpush.sandbox.faults import Faults

from .conftest import BUNDLE, VOIP_TOPIC, Clock, Signer, new_signer, trust


@pytest.fixture
async def running(clock: Clock, signer: Signer) -> AsyncIterator[Sandbox]:
    server = Sandbox([signer.sandbox_key()], clock=clock)
    await server.start(control_port=0)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def control(running: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running.control_url, timeout=5) as http:
        yield http


async def push(sandbox: Sandbox, token: str, authorization: str) -> httpx.Response:
    async with httpx.AsyncClient(http2=True, verify=trust(sandbox), timeout=5) as http:
        return await http.post(
            f"{sandbox.url()}/3/device/{token}",
            content=b'{"call_id":"c9"}',
            headers={
                "apns-topic": VOIP_TOPIC,
                "apns-push-type": "voip",
                "authorization": authorization,
            },
        )


async def issue(control: httpx.AsyncClient, **fields: str) -> str:
    response = await control.post(
        "/tokens", json={"bundle_id": BUNDLE, "push_type": "voip", **fields}
    )
    assert response.status_code == 201
    return str(response.json()["token"])


async def test_healthz_reports_the_ports(running: Sandbox, control: httpx.AsyncClient) -> None:
    response = await control.get("/healthz")
    assert response.json() == {"status": "ok", "ports": {"development": running.port()}}


async def test_post_tokens_issues_a_64_hex_token_that_accepts_pushes(
    running: Sandbox, control: httpx.AsyncClient, signer: Signer
) -> None:
    token = await issue(control, environment="development")
    assert len(token) == 64
    int(token, 16)
    assert (await push(running, token, signer.authorization())).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"bundle_id": BUNDLE, "push_type": "ring"}, 422, "invalid_field"),
        ({"bundle_id": BUNDLE, "environment": "staging"}, 422, "invalid_field"),
        ({"push_type": "voip"}, 422, "invalid_field"),
        ([1, 2], 400, "invalid_json"),
    ],
)
async def test_bad_token_requests_are_4xx_json_errors(
    control: httpx.AsyncClient, body: object, status: int, code: str
) -> None:
    response = await control.post("/tokens", json=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


async def test_malformed_json_is_400(control: httpx.AsyncClient) -> None:
    response = await control.post("/faults", content=b"{nope")
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_json")


async def test_delete_token_makes_pushes_410_with_that_timestamp(
    running: Sandbox, control: httpx.AsyncClient, signer: Signer, clock: Clock
) -> None:
    token = await issue(control)
    deleted = await control.delete(f"/tokens/{token}")
    assert deleted.status_code == 200
    at_ms = deleted.json()["uninstalled_at_ms"]
    assert at_ms == int(clock() * 1000)
    response = await push(running, token, signer.authorization())
    assert response.status_code == 410
    assert response.json() == {"reason": "Unregistered", "timestamp": at_ms}


async def test_delete_unknown_token_is_404(control: httpx.AsyncClient) -> None:
    response = await control.delete(f"/tokens/{'ab' * 32}")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "unknown_token")


async def test_notifications_lists_accepted_pushes_with_filters(
    running: Sandbox, control: httpx.AsyncClient, signer: Signer
) -> None:
    header = signer.authorization()
    first, second = await issue(control), await issue(control)
    sent = await push(running, first, header)
    await push(running, second, header)
    listed = (await control.get("/notifications")).json()
    assert len(listed) == 2
    by_token = (await control.get("/notifications", params={"token": first})).json()
    assert [n["apns_id"] for n in by_token] == [sent.headers["apns-id"]]
    entry = by_token[0]
    assert entry["topic"] == VOIP_TOPIC
    assert entry["push_type"] == "voip"
    assert entry["environment"] == "development"
    assert entry["payload"] == {"call_id": "c9"}
    assert entry["headers"]["authorization"] == "bearer <redacted>"
    assert entry["unique_id"] == sent.headers["apns-unique-id"]
    by_id = await control.get("/notifications", params={"apns_id": sent.headers["apns-id"]})
    assert [n["token"] for n in by_id.json()] == [first]


async def test_faults_partial_update_validation_and_reset(
    running: Sandbox, control: httpx.AsyncClient
) -> None:
    assert (await control.post("/faults", json={"error_rate": 0.25})).status_code == 200
    assert (await control.post("/faults", json={"latency_ms": 10})).status_code == 200
    current = (await control.get("/faults")).json()
    assert (current["error_rate"], current["latency_ms"]) == (0.25, 10)
    bad = await control.post("/faults", json={"error_status": 404})
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_fault")
    unknown = await control.post("/faults", json={"explode": True})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "unknown_fault")
    assert running.faults.error_status == 500
    assert (await control.post("/reset")).status_code == 200
    assert not running.faults.active


async def test_fault_set_over_the_api_reaches_the_apns_port(
    running: Sandbox, control: httpx.AsyncClient, signer: Signer
) -> None:
    token = await issue(control)
    await control.post("/faults", json={"error_rate": 1, "error_status": 503})
    response = await push(running, token, signer.authorization())
    assert (response.status_code, response.json()) == (503, {"reason": "ServiceUnavailable"})
    stats = (await control.get("/stats")).json()
    assert stats["faults_applied"] == {"ServiceUnavailable": 1}


async def test_posted_key_is_accepted_for_tokens(
    running: Sandbox, control: httpx.AsyncClient, clock: Clock
) -> None:
    newcomer = new_signer(clock)
    token = await issue(control)
    assert (await push(running, token, newcomer.authorization())).status_code == 403
    registered = await control.post(
        "/keys",
        json={
            "key_id": newcomer.key_id,
            "team_id": newcomer.team_id,
            "private_key_pem": newcomer.pem,
        },
    )
    assert registered.status_code == 201
    assert (await push(running, token, newcomer.authorization())).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"key_id": "ABCDEFGHIJ", "team_id": "ABCDEFGHIJ", "public_key_pem": "not a key"},
        {"key_id": "short", "team_id": "ABCDEFGHIJ", "public_key_pem": "x"},
        {"key_id": "ABCDEFGHIJ", "team_id": "ABCDEFGHIJ"},
    ],
)
async def test_bad_key_registration_is_422(control: httpx.AsyncClient, body: object) -> None:
    response = await control.post("/keys", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] in {"invalid_key", "invalid_field"}


async def test_post_certificates_mints_a_usable_client_certificate(
    running: Sandbox, control: httpx.AsyncClient, tmp_path: object
) -> None:
    minted = await control.post("/certificates", json={"bundle_id": BUNDLE})
    assert minted.status_code == 201
    pems = minted.json()
    assert pems["certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY" in pems["key_pem"]
    token = await issue(control)
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    chain = tmp_path / "client.pem"
    chain.write_text(pems["certificate_pem"] + pems["key_pem"])
    context = trust(running)
    context.load_cert_chain(chain)
    async with httpx.AsyncClient(http2=True, verify=context, timeout=5) as http:
        response = await http.post(
            f"{running.url()}/3/device/{token}",
            content=b"{}",
            headers={"apns-topic": VOIP_TOPIC},
        )
    assert response.status_code == 200


async def test_stats_counts_accepted_rejected_and_connections(
    running: Sandbox, control: httpx.AsyncClient, signer: Signer
) -> None:
    token = await issue(control)
    await push(running, token, signer.authorization())
    await push(running, "ab" * 32, signer.authorization())
    stats = (await control.get("/stats")).json()
    assert stats["accepted"] == 1
    assert stats["rejected"] == {"BadDeviceToken": 1}
    assert stats["connections_opened"] == 2


ROUTES = {
    ("get", "/healthz"),
    ("post", "/tokens"),
    ("delete", "/tokens/{token}"),
    ("get", "/notifications"),
    ("get", "/faults"),
    ("post", "/faults"),
    ("post", "/reset"),
    ("post", "/certificates"),
    ("post", "/keys"),
    ("get", "/keys"),
    ("get", "/stats"),
    ("get", "/devices"),
}


def _body_schema(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema: dict[str, Any] = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return schema


async def test_openapi_documents_every_route_and_the_bodies(control: httpx.AsyncClient) -> None:
    spec = (await control.get("/openapi.json")).json()
    operations = {
        (method, path): operation
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }
    assert set(operations) == ROUTES
    for operation in operations.values():
        assert operation["summary"] and operation["description"]
        answer = next(status for status in operation["responses"] if status.startswith("2"))
        assert operation["responses"][answer]["content"]["application/json"]["schema"]
        for status, response in operation["responses"].items():
            if not status.startswith("2"):  # every error is the one error body
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}
    assert set(operations["post", "/keys"]["responses"]) == {"201", "400", "422"}
    assert set(operations["delete", "/tokens/{token}"]["responses"]) == {"200", "404"}
    keys = _body_schema(spec, operations["post", "/keys"])
    assert set(keys["properties"]) == {
        "key_id",
        "team_id",
        "public_key_pem",
        "private_key_pem",
        "pem",
        "environment",
        "bundle_ids",
    }
    assert keys["required"] == ["key_id", "team_id"]
    faults = _body_schema(spec, operations["post", "/faults"])
    assert set(faults["properties"]) == set(Faults().to_json())  # every knob
    assert "required" not in faults and faults["additionalProperties"] is False
    for body in (keys, faults, _body_schema(spec, operations["post", "/tokens"])):
        assert all(field.get("description") for field in body["properties"].values())


async def test_faults_are_checked_by_the_sandbox_not_the_schema(
    control: httpx.AsyncClient,
) -> None:
    bad = await control.post("/faults", json={"error_rate": "x"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "invalid_fault")
    curl = await control.post(  # curl -d: a form Content-Type, read as JSON all the same
        "/faults",
        content=b'{"latency_ms": 5}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert (curl.status_code, curl.json()["latency_ms"]) == (200, 5)


async def test_docs_page_refers_only_to_local_assets(
    running: Sandbox, control: httpx.AsyncClient
) -> None:
    page = await control.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    outside = [
        url
        for url in re.findall(r"https?://[^\s\"'<>]+", page.text)
        if urlsplit(url).hostname != "127.0.0.1"
    ]
    assert outside == []
    assets = re.findall(r"(?:src|href)=\"(/[^\"]+)\"", page.text)
    assert len(assets) >= 3  # the script, the style sheet, the icon
    for asset in assets:
        assert (await control.get(asset)).status_code == 200
    assert (await control.get("/redoc")).status_code == 404


async def test_unknown_paths_and_methods_are_json_errors(control: httpx.AsyncClient) -> None:
    missing = await control.get("/nope")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    wrong = await control.put("/reset")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")
