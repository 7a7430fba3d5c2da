"""No secret leaves ringpush in a log, an error body or a database file (issue 14).

A whole session against a real ``ringpush serve`` logging at debug (JSON): an app with an
APNs signing key, a service key, a user token, devices registered with their install's
secret, a call rung and ended, pushes, a token APNs calls gone (410), refused requests.
Then every secret used (the operator key, the service key, the user token, the master
key, the signing key's PEM lines, each device token as hex and as bytes, the install
secret) is looked for in serve's whole log, in every answer it gave, and in the SQLite
database, its WAL and shared-memory files: none may appear.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from pathlib import Path

import httpx
import pytest

from ringpush.apns.credentials import generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.sandbox import Sandbox
from tests.deployment.instances import ADMIN, BUNDLE, create_app, start_instance


def found_in(secret: bytes, places: dict[str, bytes]) -> list[str]:
    return [name for name, content in places.items() if secret in content]


@pytest.mark.timeout(120)
async def test_no_secret_is_logged_answered_or_stored_in_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RINGPUSH_LOG_LEVEL", "debug")
    monkeypatch.setenv("RINGPUSH_LOG_FORMAT", "json")
    key = generate_signing_key()
    sandbox = Sandbox()
    sandbox.register_key(key.key_id, key.team_id, key.pem)
    await sandbox.start(control_port=None, environments=(Environment.DEVELOPMENT,))
    master = secrets.token_bytes(32)
    state = tmp_path / "state"
    instance = await start_instance(
        "serve", f"sqlite:///{tmp_path / 'ringpush.db'}", state, base64.b64encode(master).decode()
    )
    answers: list[bytes] = []
    voip = sandbox.issue_token(BUNDLE, PushType.VOIP, Environment.DEVELOPMENT)
    alert = sandbox.issue_token(BUNDLE, PushType.ALERT, Environment.DEVELOPMENT)
    install_secret = secrets.token_urlsafe(24)
    try:
        async with httpx.AsyncClient(base_url=instance.url, timeout=30) as http:

            async def send(
                method: str, path: str, *, keep: bool = True, **kwargs: object
            ) -> httpx.Response:
                """``keep=False``: an answer that hands out the secret (a minted token)."""
                response = await http.request(method, path, **kwargs)  # type: ignore[arg-type]
                if keep:
                    answers.append(response.content)
                return response

            service = await create_app(http, sandbox, key)
            admin = {"Authorization": f"Bearer {ADMIN}"}
            minted = await send(
                "POST",
                "/v1/apps/deploy/user-tokens",
                keep=False,
                headers=admin,
                json={"user_id": "bob"},
            )
            user_token = minted.json()["token"]
            bob = {"Authorization": f"Bearer {user_token}"}
            for device, token, kind in (("phone", voip, "voip"), ("phone", alert, "alert")):
                registered = await send(
                    "PUT",
                    f"/v1/devices/{device}",
                    headers=bob,
                    json={
                        "token": token,
                        "push_type": kind,
                        "environment": "development",
                        "install_secret": install_secret,
                    },
                )
                assert registered.status_code in (200, 201), registered.text
            call = await send(
                "POST",
                "/v1/calls",
                headers=service,
                json={"call_id": "c1", "caller_id": "alice", "callee_user_id": "bob"},
            )
            assert call.status_code == 201, call.text
            ended = await send(
                "POST", "/v1/calls/c1/end", headers=service, json={"reason": "canceled"}
            )
            assert ended.status_code == 200, ended.text
            sandbox.uninstall(alert)  # the next alert push is answered 410 and dropped
            pushed = await send(
                "POST",
                "/v1/pushes",
                headers=service,
                json={"user_id": "bob", "push_type": "alert", "payload": {"aps": {"alert": "x"}}},
            )
            assert pushed.status_code == 201, pushed.text
            # Refusals: a wrong key, a token that is not hex, a stranger's token.
            await send("GET", "/v1/devices", headers={"Authorization": "Bearer rps_wrong"})
            await send(
                "PUT",
                "/v1/devices/tablet",
                headers=bob,
                json={"token": voip + "zz", "environment": "development"},
            )
            eve = (
                await send(
                    "POST", "/v1/apps/deploy/user-tokens", headers=admin, json={"user_id": "eve"}
                )
            ).json()["token"]
            taken = await send(
                "PUT",
                "/v1/devices/other",
                headers={"Authorization": f"Bearer {eve}"},
                json={"token": voip, "environment": "development"},
            )
            assert taken.status_code == 409, taken.text
            for _ in range(100):  # the 410's outcome is written
                log = await send("GET", "/v1/deliveries", headers=service)
                if any(d["state"] == "dropped" for d in log.json()):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the uninstalled token's push never ended dropped")
    finally:
        instance.stop()
        await sandbox.stop()
    assert instance.process.returncode == 0
    places = {"serve's log": instance.log.read_bytes(), "answers": b"\n".join(answers)}
    for suffix in ("", "-wal", "-shm"):
        if (path := tmp_path / f"ringpush.db{suffix}").exists():
            places[path.name] = path.read_bytes()
    assert b'"level": "debug"' in places["serve's log"]  # debug logging was on, as JSON
    assert len(places["serve's log"]) > 1000
    pem_lines = [line for line in key.pem.splitlines() if len(line) >= 40]
    device_tokens = (("voip", voip), ("alert", alert))
    wanted = {
        "operator key": ADMIN.encode(),
        "service key": service["Authorization"][7:].encode(),
        "user token": user_token.encode(),
        "user token signature": user_token.rsplit(".", 1)[1].encode(),
        "master key": master,
        "master key (base64)": base64.b64encode(master),
        "install secret": install_secret.encode(),
        **{f"signing key line {n}": line for n, line in enumerate(pem_lines)},
        **{f"{kind} token": token.encode() for kind, token in device_tokens},
        **{f"{kind} token bytes": bytes.fromhex(token) for kind, token in device_tokens},
    }
    leaks = {name: where for name, secret in wanted.items() if (where := found_in(secret, places))}
    assert not leaks, leaks
