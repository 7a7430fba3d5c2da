"""`ringpush serve` processes on one database, started as an operator would start them."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from ringpush.apns.credentials import GeneratedKey
from ringpush.apns.environment import Environment
from ringpush.sandbox import Sandbox

ADMIN = "rpa_" + "d" * 40
BUNDLE = "com.example.deploy"


@dataclass
class Instance:
    name: str
    process: subprocess.Popen[str]
    url: str
    #: Where the instance's log (stderr) goes.
    log: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not gone within 15 s (cleanup after a failure)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def spawn(
    name: str, database: str, state: Path, secret: str, lease_seconds: float
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "RINGPUSH_ADMIN_KEY": ADMIN,
        "RINGPUSH_SECRET_KEY": secret,
        "RINGPUSH_PORT": "0",
    }
    state.mkdir(parents=True, exist_ok=True)
    with open(state.parent / f"{name}.stderr", "w") as log:
        return subprocess.Popen(
            [
                sys.executable, "-m", "ringpush", "serve", "--database", database,
                "--state-dir", str(state), "--delivery-lease", str(lease_seconds),
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )  # fmt: skip


async def start_instance(
    name: str, database: str, state: Path, secret: str, *, lease_seconds: float = 60
) -> Instance:
    """Start one and wait for its "serving on" line."""
    process = await asyncio.to_thread(spawn, name, database, state, secret, lease_seconds)
    assert process.stdout is not None
    first = await asyncio.to_thread(process.stdout.readline)
    match = re.search(r"http://127\.0\.0\.1:(\d+)", first)
    assert match, f"{name} did not start: {first!r}"
    url = f"http://127.0.0.1:{match.group(1)}"
    return Instance(name, process, url, state.parent / f"{name}.stderr")


async def create_app(
    http: httpx.AsyncClient, sandbox: Sandbox, key: GeneratedKey
) -> dict[str, str]:
    """App ``deploy`` signing with ``key`` and sending to ``sandbox``; returns the calling
    service's Authorization header."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    app = await http.put(
        "/v1/apps/deploy",
        headers=admin,
        json={
            "bundle_id": BUNDLE, "team_id": key.team_id, "key_id": key.key_id,
            "signing_key": key.pem.decode(), "default_environment": "development",
            "apns_url": sandbox.url(Environment.DEVELOPMENT),
            "ca_pem": sandbox.ca_pem.decode(),
        },
    )  # fmt: skip
    assert app.status_code == 200, app.text
    made = await http.post("/v1/apps/deploy/service-keys", headers=admin, json={})
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['key']}"}
