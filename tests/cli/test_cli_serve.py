"""`ringpush serve` as a process: starts, serves, keeps everything across a restart."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from ringpush.registry import SecretBox, open_registry
from tests.cli.command import ADMIN, ringpush, serving


def test_serve_keeps_apps_devices_and_user_tokens_across_a_restart(tmp_path: Path) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with serving(tmp_path) as url:
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        assert (
            httpx.put(
                f"{url}/v1/apps/demo", headers=admin, json={"bundle_id": "com.example.app"}
            ).status_code
            == 200
        )
        token = httpx.post(
            f"{url}/v1/apps/demo/user-tokens", headers=admin, json={"user_id": "bob"}
        ).json()["token"]
        bob = {"Authorization": f"Bearer {token}"}
        registered = httpx.put(
            f"{url}/v1/devices/phone",
            headers=bob,
            json={"token": "ab" * 32, "environment": "production"},
        )
        assert registered.status_code == 201
    assert (tmp_path / "secret.json").stat().st_mode & 0o777 == 0o600
    with serving(tmp_path) as url:
        devices = httpx.get(f"{url}/v1/devices", headers=bob)
        assert devices.status_code == 200
        assert [d["device_id"] for d in devices.json()] == ["phone"]


def test_serve_refuses_an_unknown_database_scheme(tmp_path: Path) -> None:
    done = ringpush("serve", "--database", "mysql://x", "--state-dir", str(tmp_path))
    assert done.returncode == 2
    assert "unsupported database URL 'mysql'" in done.stderr


def test_serve_reads_a_config_file_and_flags_win(tmp_path: Path) -> None:
    config = tmp_path / "ringpush.toml"
    config.write_text(
        f'port = 0\ndatabase = "sqlite:///{tmp_path / "from-file.db"}"\n'
        f'state_dir = "{tmp_path}"\ndelivery_lease = 5\n'
    )
    env = {**os.environ, "RINGPUSH_ADMIN_KEY": ADMIN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ringpush", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    second = proc.stdout.readline()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert re.search(r"http://127\.0\.0\.1:\d+", first)
    assert "from-file.db" in second
    assert (tmp_path / "from-file.db").exists()


def test_a_bad_config_file_is_one_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('port = "eighty"\n')
    done = ringpush("serve", "--config", str(config))
    assert done.returncode == 2
    assert (
        done.stderr.strip() == f"error: config file {config}: port must be an integer, got 'eighty'"
    )
    config.write_text("colour = 1\n")
    assert "unknown setting 'colour'" in ringpush("serve", "--config", str(config)).stderr
    config.write_text("retention_days = 0\n")
    done = ringpush("serve", "--config", str(config), "--state-dir", str(tmp_path))
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"error: config file {config}: retention_days must be at least 0.01, got 0"
    )
    done = ringpush("serve", "--rate-calls", "-1", "--state-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == "error: rate_calls must be at least 0, got -1"


def test_serve_says_why_it_cannot_reach_postgresql_without_the_password(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://ringpush:hunter22@127.0.0.1:{port}/ringpush"
    done = ringpush("serve", "--database", url, "--state-dir", str(tmp_path))
    assert done.returncode == 2
    assert "error: cannot open database postgresql://ringpush:***@127.0.0.1" in done.stderr
    assert "hunter22" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_serve_refuses_a_database_sealed_under_another_master_key(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'shared.db'}"

    async def create() -> None:  # another instance's key sealed this database
        registry = await open_registry(database, SecretBox({"k": secrets.token_bytes(32)}, "k"))
        await registry.close()

    asyncio.run(create())
    done = ringpush("serve", "--database", database, "--state-dir", str(tmp_path / "b"))
    assert done.returncode == 2
    assert "same RINGPUSH_SECRET_KEY" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_refuses_a_port_out_of_range(tmp_path: Path) -> None:
    done = ringpush("serve", "--port", "70000", "--state-dir", str(tmp_path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def test_serve_stops_when_told_to_while_the_database_does_not_answer(tmp_path: Path) -> None:
    """A database that accepts the connection and then says nothing (a hung server, a
    black-holing firewall) must not make the instance deaf to SIGTERM while it starts."""
    accepted = threading.Event()
    held: list[socket.socket] = []
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()

        def accept() -> None:
            connection, _ = silent.accept()
            held.append(connection)  # kept open, never answered
            accepted.set()

        threading.Thread(target=accept, daemon=True).start()
        port = silent.getsockname()[1]
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "ringpush", "serve", "--state-dir", str(tmp_path),
                "--database", f"postgresql://ringpush:pw@127.0.0.1:{port}/ringpush",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "RINGPUSH_ADMIN_KEY": ADMIN},
        )  # fmt: skip
        try:
            assert accepted.wait(30), "serve never tried the database"
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for connection in held:
                connection.close()
    # Stopped on request (exit 0), not by the connect timeout giving up (exit 2, "cannot
    # open database … timed out" after 10 s), which is what ignoring SIGTERM looked like.
    assert proc.returncode == 0, err
    assert "cannot open database" not in err
    assert "serving" not in out
    assert "Traceback" not in err


def test_serve_logs_failed_pushes_as_json_lines_without_secrets(tmp_path: Path) -> None:
    from ringpush.apns.credentials import generate_signing_key

    key = generate_signing_key()
    env = {**os.environ, "RINGPUSH_ADMIN_KEY": ADMIN, "RINGPUSH_PORT": "0"}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "ringpush", "serve", "--state-dir", str(tmp_path),
            "--database", f"sqlite:///{tmp_path / 'r.db'}",
            "--log-level", "info", "--log-format", "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    match = re.search(r"http://127\.0\.0\.1:(\d+)", proc.stdout.readline())
    assert match
    token = secrets.token_hex(32)
    try:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{match.group(1)}") as http:
            created = http.put(
                "/v1/apps/a",
                headers=admin,
                json={
                    "bundle_id": "com.example.app",
                    "team_id": key.team_id,
                    "key_id": key.key_id,
                    "signing_key": key.pem.decode(),
                    "apns_url": "https://127.0.0.1:1",  # nothing listens there
                },
            )
            assert created.status_code == 200, created.text
            user = http.post("/v1/apps/a/user-tokens", headers=admin, json={"user_id": "bob"})
            bob = {"Authorization": f"Bearer {user.json()['token']}"}
            device = {"token": token, "environment": "production"}
            assert http.put("/v1/devices/phone", headers=bob, json=device).status_code == 201
            service = http.post("/v1/apps/a/service-keys", headers=admin, json={}).json()["key"]
            call = http.post(
                "/v1/calls",
                headers={"Authorization": f"Bearer {service}"},
                json={"caller_id": "alice", "callee_user_id": "bob", "data": {"room": "r-42"}},
            )
            assert call.status_code == 201, call.text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    lines = [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]
    failures = [line for line in lines if "connect_failed" in line["message"]]
    assert failures, lines
    assert {"time", "level", "logger", "message"} <= failures[0].keys()
    assert "device phone of app a (voip)" in failures[0]["message"]
    text = json.dumps(lines)
    assert token not in text and "r-42" not in text and "PRIVATE KEY" not in text
