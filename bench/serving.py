"""Setting up what the server benchmarks drive: ``ringpush sandbox`` and ``ringpush serve``
in processes of their own, an app pointed at the sandbox, callees with VoIP devices."""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.processes import Processes
from ringpush.apns.credentials import GeneratedKey

ADMIN = "rpa_bench_" + "x" * 30
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}
BUNDLE = "com.example.bench"


@dataclass
class SandboxProcess:
    port: int
    control: str
    ca: Path
    key_arg: str


async def start_sandbox(
    processes: Processes, key: GeneratedKey, *, name: str = "sandbox"
) -> SandboxProcess:
    work = processes.work
    key_file = work / f"{name}-AuthKey.p8"
    key_file.write_bytes(key.pem)
    key_arg = f"{key_file}:{key.key_id}:{key.team_id}"
    line = await processes.ringpush(
        name,
        ["sandbox", "--port", "0", "--control-port", "0",
         "--ca-out", str(work / f"{name}-ca.pem"), "--key", key_arg],
    )  # fmt: skip
    info = json.loads(line)
    return SandboxProcess(
        info["port"], f"http://127.0.0.1:{info['control_port']}", work / f"{name}-ca.pem", key_arg
    )


def serve_env() -> dict[str, str]:
    """What every instance of one deployment shares: the operator and master keys."""
    return {
        **os.environ,
        "RINGPUSH_ADMIN_KEY": ADMIN,
        "RINGPUSH_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
    }


async def start_serve(
    processes: Processes,
    name: str,
    state: Path,
    database: str,
    env: dict[str, str],
    *more: str,
) -> str:
    """Start ``ringpush serve`` (with the flags ``more``); returns its base URL."""
    line = await processes.ringpush(
        name,
        ["serve", "--port", "0", "--state-dir", str(state), "--database", database,
         "--log-level", "warning", "--rate-calls", "0", "--rate-pushes", "0", *more],
        env,
    )  # fmt: skip
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert match, line
    return f"http://127.0.0.1:{match.group(1)}"


async def create_app(
    http: httpx.AsyncClient, app_id: str, key: GeneratedKey, url: str, ca: Path
) -> dict[str, str]:
    """Create the app; returns the headers of a new service key of it."""
    ca_pem = ca.read_text()  # noqa: ASYNC240 - a small file, read once while setting up
    created = await http.put(
        f"/v1/apps/{app_id}",
        headers=ADMIN_HEADERS,
        json={
            "bundle_id": BUNDLE,
            "team_id": key.team_id,
            "key_id": key.key_id,
            "signing_key": key.pem.decode(),
            "default_environment": "development",
            "apns_url": url,
            "ca_pem": ca_pem,
        },
    )
    assert created.status_code == 200, created.text
    minted = await http.post(f"/v1/apps/{app_id}/service-keys", headers=ADMIN_HEADERS, json={})
    return {"Authorization": f"Bearer {minted.json()['key']}"}


async def register_callees(
    http: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    app_id: str,
    callees: int,
    devices: int,
    *,
    push_type: str = "voip",
    user_prefix: str = "u",
) -> None:
    """Users ``u0`` … (``user_prefix``) with ``devices`` devices each, their tokens
    issued by the sandbox."""
    for n in range(callees):
        minted = await http.post(
            f"/v1/apps/{app_id}/user-tokens",
            headers=ADMIN_HEADERS,
            json={"user_id": f"{user_prefix}{n}"},
        )
        user = {"Authorization": f"Bearer {minted.json()['token']}"}
        for d in range(devices):
            issued = await sandbox.post(
                "/tokens",
                json={"bundle_id": BUNDLE, "push_type": push_type, "environment": "development"},
            )
            registered = await http.put(
                f"/v1/devices/{push_type}-{d}",
                headers=user,
                json={
                    "token": issued.json()["token"],
                    "push_type": push_type,
                    "environment": "development",
                },
            )
            assert registered.status_code in (200, 201), registered.text
