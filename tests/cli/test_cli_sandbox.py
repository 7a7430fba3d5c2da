"""The shell interface end to end: `ringpush sandbox` in its own process, `ringpush send`."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ringpush.local_stack import LocalStack
from ringpush.quickstart import run_local
from tests.cli.command import ringpush


@dataclass
class RunningSandbox:
    info: dict[str, object]
    key: dict[str, str]
    control: str

    def send_args(self, token: str, *extra: str) -> list[str]:
        return [
            "send", "--bundle-id", "com.example.app", "--key-file", self.key["key_file"],
            "--key-id", self.key["key_id"], "--team-id", self.key["team_id"],
            "--environment", "development", "--push-type", "voip", "--token", token,
            "--apns-url", f"https://127.0.0.1:{self.info['port']}",
            "--ca-file", str(self.info["ca_file"]), *extra,
        ]  # fmt: skip


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    workdir = tmp_path_factory.mktemp("sandbox")
    key = json.loads(ringpush("keygen", "--out", str(workdir)).stdout)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ringpush",
            "sandbox",
            "--port",
            "0",
            "--control-port",
            "0",
            "--ca-out",
            str(workdir / "ca.pem"),
            "--key",
            f"{key['key_file']}:{key['key_id']}:{key['team_id']}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    try:
        yield RunningSandbox(info, key, f"http://127.0.0.1:{info['control_port']}")
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def issue_token(control: str, environment: str = "development") -> str:
    response = httpx.post(
        f"{control}/tokens",
        json={"bundle_id": "com.example.app", "push_type": "voip", "environment": environment},
    )
    assert response.status_code == 201
    return str(response.json()["token"])


def test_sandbox_prints_its_ports_and_writes_the_ca(running: RunningSandbox) -> None:
    assert int(str(running.info["port"])) > 0
    assert int(str(running.info["control_port"])) > 0
    assert Path(str(running.info["ca_file"])).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert "fcm_port" not in running.info  # FCM only with --fcm


def test_send_delivers_a_voip_push_the_sandbox_records(running: RunningSandbox) -> None:
    token = issue_token(running.control)
    done = ringpush(*running.send_args(token, "--payload", '{"call_id":"c1"}', "--json"))
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["status"] == 200
    assert outcome["unique_id"]
    recorded = httpx.get(f"{running.control}/notifications", params={"token": token}).json()
    assert [n["apns_id"] for n in recorded] == [outcome["apns_id"]]
    assert recorded[0]["topic"] == "com.example.app.voip"
    assert recorded[0]["payload"] == {"call_id": "c1"}


def test_send_to_an_uninstalled_token_reports_410_and_exits_1(running: RunningSandbox) -> None:
    token = issue_token(running.control)
    assert httpx.delete(f"{running.control}/tokens/{token}").status_code == 200
    done = ringpush(*running.send_args(token, "--payload", "{}"))
    assert done.returncode == 1
    assert ": 410 Unregistered (invalid since " in done.stdout


def test_send_to_the_wrong_environment_is_bad_device_token(running: RunningSandbox) -> None:
    token = issue_token(running.control, environment="production")
    done = ringpush(*running.send_args(token, "--payload", "{}"))
    assert done.returncode == 1
    assert ": 400 BadDeviceToken" in done.stdout


def test_run_once_rings_bobs_iphone_and_android_phone(tmp_path: Path) -> None:
    """`make run`'s job without serving forever: server, sandbox (APNs and FCM), demo app,
    one call ringing both of bob's simulated phones."""
    done = ringpush(
        "run", "--state-dir", str(tmp_path), "--port", "0", "--sandbox-port", "0",
        "--control-port", "0", "--fcm-port", "0", "--once",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "running ringpush on SQLite with its local APNs sandbox" in done.stdout
    assert re.search(r"Rang bob's simulated phone: apns-id \S+: 200 \(delivered\)", done.stdout)
    assert re.search(
        r"Rang bob's simulated Android phone through FCM: push id \S+: 200 \(delivered\)",
        done.stdout,
    )
    assert re.search(
        r"FCM sandbox: https://127\.0\.0\.1:\d+ \(project ringpush-demo\)", done.stdout
    )
    assert (tmp_path / "sandbox" / "fcm-ca.pem").exists()
    assert (tmp_path / "ringpush.db").exists()
    assert (tmp_path / "admin.key").stat().st_mode & 0o777 == 0o600


async def test_a_second_run_never_rings_devices_registered_by_hand(tmp_path: Path) -> None:
    ports = {"port": 0, "sandbox_port": 0, "control_port": 0, "fcm_port": 0}
    first: list[str] = []
    assert await run_local(tmp_path, **ports, say=first.append, serve=False)
    assert any(line.startswith("Rang bob's simulated phone") for line in first)
    # bob's real phone, registered by hand between two runs.
    async with LocalStack(tmp_path) as stack:  # any free ports
        token = await stack.user_token("bob")
        registered = await stack.http.put(
            "/v1/devices/hand-phone",
            headers={"Authorization": f"Bearer {token}"},
            json={"token": "ab" * 32, "push_type": "voip", "environment": "production"},
        )
        assert registered.status_code == 201
    second: list[str] = []
    assert await run_local(tmp_path, **ports, say=second.append, serve=False)
    assert not any(line.startswith("Rang") for line in second)
    assert any("Not ringing bob" in line and "hand-phone" in line for line in second)


def test_ctrl_c_on_run_stops_cleanly_with_exit_0(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "ringpush", "run", "--state-dir", str(tmp_path),
         "--port", "0", "--sandbox-port", "0", "--control-port", "0", "--fcm-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("Serving until Ctrl-C."):
                break
        proc.send_signal(signal.SIGINT)
        code = proc.wait(20)
    finally:
        proc.kill()
    assert proc.stderr is not None
    errors = proc.stderr.read()
    assert code == 0, errors
    assert "Traceback" not in errors


def _sandbox_once(state_dir: Path) -> dict[str, object]:
    """Start ``ringpush sandbox --state-dir``, read its JSON line, stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ringpush", "sandbox", "--port", "0", "--control-port", "0",
         "--state-dir", str(state_dir)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        info: dict[str, object] = json.loads(proc.stdout.readline())
        control = f"http://127.0.0.1:{info['control_port']}"
        info["issued"] = httpx.post(
            f"{control}/tokens",
            json={"bundle_id": "com.example.app", "push_type": "voip"},
        ).json()["token"]
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    return info


def test_the_sandbox_command_keeps_its_state_dir(tmp_path: Path) -> None:
    first = _sandbox_once(tmp_path)
    ca = Path(str(first["ca_file"])).read_bytes()
    second = _sandbox_once(tmp_path)
    assert (second["port"], second["control_port"]) == (first["port"], first["control_port"])
    assert Path(str(second["ca_file"])).read_bytes() == ca
    saved = json.loads((tmp_path / "sandbox.json").read_text())
    assert {t["token"] for t in saved["tokens"]} == {first["issued"], second["issued"]}
    (tmp_path / "sandbox.json").write_text("{}")
    broken = ringpush("sandbox", "--port", "0", "--state-dir", str(tmp_path))
    assert broken.returncode == 2
    assert broken.stderr.count("\n") == 1 and "not a sandbox state file" in broken.stderr
