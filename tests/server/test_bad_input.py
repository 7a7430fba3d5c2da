"""Input that is not text, numbers past what a database holds, NUL characters: each a 4xx
naming the field, never a 500, on SQLite and on PostgreSQL, and nothing stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.stack import ADMIN, Stack, running_stack

#: A lone surrogate as JSON writes it: valid JSON, not text.
LONE = "\\ud800"


@pytest.fixture
async def stack(database_url: str) -> AsyncIterator[Stack]:
    async with running_stack(database_url) as running:
        yield running


async def post_raw(stack: Stack, path: str, headers: dict[str, str], body: str) -> Any:
    """Send ``body`` as it is (json= would refuse to encode a lone surrogate)."""
    return await stack.http.post(
        path, headers={**headers, "Content-Type": "application/json"}, content=body.encode()
    )


def refused(response: Any, field: str) -> None:
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_field", error
    assert field in error["message"], error


async def test_a_lone_surrogate_in_call_data_is_refused(stack: Stack) -> None:
    bob = await stack.user("bob")
    await stack.device(bob, "phone")
    body = '{"caller_id": "alice", "callee_user_id": "bob", "data": {"room": "' + LONE + '"}}'
    refused(await post_raw(stack, "/v1/calls", stack.service, body), "data")
    caller = '{"caller_id": "ali' + LONE + '", "callee_user_id": "bob"}'
    refused(await post_raw(stack, "/v1/calls", stack.service, caller), "caller_id")
    log = await stack.http.get("/v1/deliveries", headers=stack.service)
    assert log.json() == []  # nothing stored, nothing sent
    assert stack.sandbox.notifications() == []


async def test_a_lone_surrogate_in_a_push_payload_is_refused(stack: Stack) -> None:
    body = '{"user_id": "bob", "push_type": "alert", "payload": {"aps": {"alert": "' + LONE + '"}}}'
    refused(await post_raw(stack, "/v1/pushes", stack.service, body), "payload")


@pytest.mark.parametrize("field", ["signing_key", "ca_pem", "certificate"])
async def test_credentials_must_be_pem_text(stack: Stack, field: str) -> None:
    for value in ('"-----BEGIN ' + LONE + '"', '"-----BEGIN CERTIFICATE-----\\u00e9"'):
        body = '{"bundle_id": "com.example.other", "' + field + '": ' + value + "}"
        response = await stack.http.put(
            "/v1/apps/other",
            headers={**ADMIN, "Content-Type": "application/json"},
            content=body.encode(),
        )
        refused(response, field)
    assert (await stack.http.get("/v1/apps/other", headers=ADMIN)).status_code == 404


@pytest.mark.parametrize("expiration", [10**30, 2**63, 2**32])
async def test_an_expiration_past_32_bits_is_refused(stack: Stack, expiration: int) -> None:
    bob = await stack.user("bob")
    await stack.device(bob, "phone")
    response = await stack.http.post(
        "/v1/pushes",
        headers=stack.service,
        json={
            "user_id": "bob",
            "push_type": "alert",
            "payload": {"aps": {"alert": "hi"}},
            "expiration": expiration,
        },
    )
    refused(response, "expiration")


async def test_nul_characters_are_refused_in_text_and_parameters(stack: Stack) -> None:
    bob = await stack.user("bob")
    await stack.device(bob, "phone")
    call = await stack.http.post(
        "/v1/calls", headers=stack.service, json={"caller_id": "a\x00b", "callee_user_id": "bob"}
    )
    refused(call, "caller_id")
    named = await stack.http.post(
        "/v1/calls",
        headers=stack.service,
        json={"caller_id": "alice", "caller_name": "A\x00", "callee_user_id": "bob"},
    )
    refused(named, "caller_name")
    key = await stack.http.post("/v1/apps/demo/service-keys", headers=ADMIN, json={"name": "k\x00"})
    refused(key, "name")
    for parameter in ("user_id", "call_id", "device_id", "apns_id", "app_id"):
        log = await stack.http.get("/v1/deliveries", headers=ADMIN, params={parameter: "x\x00y"})
        refused(log, parameter)
    device = await stack.http.put(
        "/v1/devices/pho%00ne",
        headers=bob,
        json={"token": "ab" * 32, "push_type": "voip", "environment": "development"},
    )
    refused(device, "device_id")


@pytest.mark.parametrize(
    ("body", "status"),
    [("{not json", 400), ('{"caller_id": 5}', 422), ('{"callee_user_id": "bob", "x": 1}', 422)],
)
async def test_a_caller_without_a_credential_hears_401_whatever_its_body(
    stack: Stack, body: str, status: int
) -> None:
    for headers in ({}, {"Authorization": "Bearer rps_forged"}):
        response = await post_raw(stack, "/v1/calls", headers, body)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["error"]["code"] == "unauthorized"
    # with its credential, the same body gets what is wrong with it
    answered = await post_raw(stack, "/v1/calls", stack.service, body)
    assert answered.status_code == status, answered.text


async def test_a_422_names_every_invalid_field_and_asks_for_json(tmp_path: Path) -> None:
    async with running_stack(f"sqlite:///{tmp_path / 'fields.db'}") as stack:
        bob = await stack.user("bob")
        both = await stack.http.put("/v1/devices/phone", headers=bob, json={"push_type": "x"})
        form = await stack.http.put("/v1/devices/phone", headers=bob, content=b"token=ab")
        call = await stack.http.post("/v1/calls", headers=stack.service, content=b"callee=bob")
    message = both.json()["error"]["message"]
    assert both.status_code == 422
    assert "token" in message and "push_type" in message and "environment" in message
    assert form.status_code == 422
    assert "JSON object" in form.json()["error"]["message"]
    assert call.status_code == 400
    assert "Content-Type: application/json" in call.json()["error"]["message"]
