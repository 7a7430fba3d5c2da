"""Device registration over real HTTP: auth kinds, idempotency, isolation, validation."""

from __future__ import annotations

import pytest

from ringpush.apns.environment import Environment
from ringpush.registry.models import App
from tests.server.conftest import Running

TOKEN_A = "a1" * 32
TOKEN_B = "b2" * 32


async def test_register_is_created_then_idempotent(server: Running) -> None:
    await server.create_app()
    bob = await server.user("bob")
    body = {"token": TOKEN_A, "push_type": "voip", "environment": "development"}
    first = await server.http.put("/v1/devices/phone", headers=bob, json=body)
    assert first.status_code == 201
    assert first.json()["created"] is True
    again = await server.http.put("/v1/devices/phone", headers=bob, json=body)
    assert again.status_code == 200
    assert again.json()["created"] is False
    listed = (await server.http.get("/v1/devices", headers=bob)).json()
    assert len(listed) == 1
    assert listed[0]["token"] == "a1a1…a1a1"  # masked, never the whole token


async def test_many_devices_and_push_types_per_user(server: Running) -> None:
    await server.create_app()
    bob = await server.user("bob")
    for device, token, kind in (
        ("phone", TOKEN_A, "voip"),
        ("phone", "c3" * 32, "alert"),
        ("ipad", TOKEN_B, "voip"),
        ("watch", "d4" * 32, "complication"),
    ):
        response = await server.http.put(
            f"/v1/devices/{device}",
            headers=bob,
            json={"token": token, "push_type": kind, "environment": "production"},
        )
        assert response.status_code == 201, response.text
    listed = (await server.http.get("/v1/devices", headers=bob)).json()
    assert sorted((d["device_id"], d["push_type"]) for d in listed) == [
        ("ipad", "voip"),
        ("phone", "alert"),
        ("phone", "voip"),
        ("watch", "complication"),
    ]


INSTALL = "Xq3-install-secret-of-the-phone_9"


async def test_a_phone_changing_hands_moves_its_token_from_the_same_install(
    server: Running,
) -> None:
    await server.create_app()
    bob, alice = await server.user("bob"), await server.user("alice")
    body = {"token": TOKEN_A, "environment": "development", "install_secret": INSTALL}
    await server.http.put("/v1/devices/phone", headers=bob, json=body)
    moved = await server.http.put("/v1/devices/phone", headers=alice, json=body)
    assert moved.json()["moved_from_other_device"] is True
    assert (await server.http.get("/v1/devices", headers=bob)).json() == []
    assert len((await server.http.get("/v1/devices", headers=alice)).json()) == 1


@pytest.mark.parametrize("secret", [None, "a-stranger-guessing-a-secret-0"])
async def test_a_stranger_with_the_full_token_cannot_take_the_device_over(
    server: Running, secret: str | None
) -> None:
    await server.create_app()
    bob, alice = await server.user("bob"), await server.user("alice")
    await server.http.put(
        "/v1/devices/phone",
        headers=alice,
        json={"token": TOKEN_A, "environment": "development", "install_secret": INSTALL},
    )
    body = {"token": TOKEN_A, "environment": "development"}
    if secret is not None:
        body["install_secret"] = secret
    taken = await server.http.put("/v1/devices/x", headers=bob, json=body)
    assert taken.status_code == 409
    error = taken.json()["error"]
    assert error["code"] == "device_token_unavailable"
    assert "alice" not in error["message"]  # nothing says who holds it
    assert (await server.http.get("/v1/devices", headers=bob)).json() == []
    [kept] = (await server.http.get("/v1/devices", headers=alice)).json()
    assert kept["device_id"] == "phone"


async def test_install_secret_is_checked_for_form(server: Running) -> None:
    await server.create_app()
    bob = await server.user("bob")
    for secret in ("short", "has spaces in it, far too many of them", "x" * 129):
        response = await server.http.put(
            "/v1/devices/phone",
            headers=bob,
            json={"token": TOKEN_A, "environment": "development", "install_secret": secret},
        )
        assert response.status_code == 422, secret
        assert "install_secret" in response.json()["error"]["message"]


async def test_a_user_cannot_remove_another_users_device(server: Running) -> None:
    await server.create_app()
    bob, alice = await server.user("bob"), await server.user("alice")
    await server.http.put(
        "/v1/devices/phone", headers=bob, json={"token": TOKEN_A, "environment": "development"}
    )
    denied = await server.http.delete("/v1/devices/phone", headers=alice)
    assert denied.status_code == 404
    assert len((await server.http.get("/v1/devices", headers=bob)).json()) == 1
    assert (await server.http.delete("/v1/devices/phone", headers=bob)).status_code == 204


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"token": "zz" * 32, "environment": "development"}, 422, "invalid_token", "token"),
        ({"token": "abc", "environment": "development"}, 422, "invalid_token", "token"),
        ({"token": TOKEN_A, "environment": "staging"}, 422, "invalid_field", "environment"),
        ({"token": TOKEN_A}, 422, "missing_field", "environment"),
        (
            {"token": TOKEN_A, "environment": "production", "push_type": "fax"},
            422,
            "invalid_field",
            "push_type",
        ),
        (
            {"token": TOKEN_A, "environment": "production", "extra": 1},
            422,
            "invalid_field",
            "extra",
        ),
    ],
)
async def test_bad_registrations_get_precise_errors(
    server: Running, body: dict[str, object], status: int, code: str, field: str
) -> None:
    await server.create_app()
    bob = await server.user("bob")
    response = await server.http.put("/v1/devices/phone", headers=bob, json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert field in error["message"]


async def test_malformed_json_is_400(server: Running) -> None:
    await server.create_app()
    bob = await server.user("bob")
    response = await server.http.put(
        "/v1/devices/phone",
        headers={**bob, "content-type": "application/json"},
        content=b"{not json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic abc", "Bearer", "Bearer rpa_wrong", "Bearer rps_unknown", "Bearer eyJ.bad.jwt"],
)
async def test_missing_or_forged_credentials_are_401(
    server: Running, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await server.http.get("/v1/devices", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthorized"


async def test_expired_user_token_is_401(server: Running) -> None:
    await server.create_app()
    app = App("demo", "com.example.app", None, None, Environment.DEVELOPMENT)
    token = server.authenticator.mint_user_token(app, "bob", ttl=-10)
    response = await server.http.get("/v1/devices", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


async def test_wrong_kind_of_credential_is_403(server: Running) -> None:
    await server.create_app()
    bob = await server.user("bob")
    assert (await server.http.get("/v1/apps", headers=bob)).status_code == 403
    operator = await server.http.get("/v1/devices", headers=server.admin())
    assert operator.status_code == 403
    key = (
        await server.http.post("/v1/apps/demo/service-keys", headers=server.admin(), json={})
    ).json()["key"]
    service = {"Authorization": f"Bearer {key}"}
    assert (await server.http.get("/v1/devices", headers=service)).status_code == 403
