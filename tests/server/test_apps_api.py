"""The operator API: apps and credentials (never returned), tokens, listings."""

from __future__ import annotations

from ringpush.apns.credentials import generate_signing_key
from tests.server.conftest import Running


async def test_app_with_signing_key_never_returns_the_key(server: Running) -> None:
    key = generate_signing_key()
    response = await server.http.put(
        "/v1/apps/demo",
        headers=server.admin(),
        json={
            "bundle_id": "com.example.app",
            "team_id": key.team_id,
            "key_id": key.key_id,
            "signing_key": key.pem.decode(),
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["auth"] == "token"
    listed = await server.http.get("/v1/apps", headers=server.admin())
    assert "PRIVATE KEY" not in listed.text
    assert [a["app_id"] for a in listed.json()] == ["demo"]


async def test_bad_credentials_are_refused_with_a_reason(server: Running) -> None:
    response = await server.http.put(
        "/v1/apps/demo",
        headers=server.admin(),
        json={
            "bundle_id": "com.example.app",
            "team_id": "TEAM123456",
            "key_id": "KEY1234567",
            "signing_key": "not a key",
        },
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_credentials"
    missing = await server.http.put(
        "/v1/apps/demo",
        headers=server.admin(),
        json={"bundle_id": "com.example.app", "signing_key": generate_signing_key().pem.decode()},
    )
    assert missing.json()["error"]["message"] == "signing_key needs key_id and team_id"


async def test_unknown_app_is_404_everywhere(server: Running) -> None:
    admin = server.admin()
    assert (await server.http.get("/v1/apps/nope", headers=admin)).status_code == 404
    minted = await server.http.post(
        "/v1/apps/nope/user-tokens", headers=admin, json={"user_id": "b"}
    )
    assert minted.status_code == 404
    assert minted.json()["error"]["code"] == "unknown_app"


async def test_operator_lists_users_and_masked_devices(server: Running) -> None:
    await server.create_app()
    bob = await server.user("bob")
    await server.http.put(
        "/v1/devices/phone", headers=bob, json={"token": "ab" * 32, "environment": "production"}
    )
    users = await server.http.get("/v1/apps/demo/users", headers=server.admin())
    assert users.json() == ["bob"]
    devices = await server.http.get("/v1/apps/demo/users/bob/devices", headers=server.admin())
    assert devices.json()[0]["token"] == "abab…abab"
    assert "ab" * 32 not in devices.text


async def test_deleting_an_app_invalidates_its_user_tokens(server: Running) -> None:
    await server.create_app()
    bob = await server.user("bob")
    assert (await server.http.delete("/v1/apps/demo", headers=server.admin())).status_code == 204
    response = await server.http.put(
        "/v1/devices/phone", headers=bob, json={"token": "ab" * 32, "environment": "production"}
    )
    assert response.status_code == 401
    assert "deleted" in response.json()["error"]["message"]


async def test_openapi_is_served(server: Running) -> None:
    assert (await server.http.get("/docs")).status_code == 200
    spec = (await server.http.get("/openapi.json")).json()
    assert "/v1/devices/{device_id}" in spec["paths"]


async def test_a_ca_that_is_not_pem_is_refused(server: Running) -> None:
    response = await server.http.put(
        "/v1/apps/demo",
        headers=server.admin(),
        json={"bundle_id": "com.example.app", "ca_pem": "-----BEGIN CERTIFICATE-----\nno"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("ca_pem: not a PEM CA")


async def test_an_app_takes_one_apns_url_per_environment(server: Running) -> None:
    body = {
        "bundle_id": "com.example.app",
        "apns_url": "https://both.example:2197",
        "apns_url_production": "https://prod.example",
    }
    stored = await server.http.put("/v1/apps/urls", headers=server.admin(), json=body)
    assert stored.status_code == 200, stored.text
    shown = stored.json()
    assert (shown["apns_url"], shown["apns_url_development"], shown["apns_url_production"]) == (
        "https://both.example:2197",
        None,
        "https://prod.example",
    )
    # The old combined string is refused, naming the field.
    old = {**body, "apns_url": "development=https://a.example,production=https://b.example"}
    refused = await server.http.put("/v1/apps/urls", headers=server.admin(), json=old)
    assert refused.status_code == 422
    assert refused.json()["error"]["message"].startswith("apns_url:")
