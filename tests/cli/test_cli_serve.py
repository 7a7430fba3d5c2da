"""`ringpush serve` as a process: starts, serves, keeps everything across a restart."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.cli.command import ringpush

ADMIN = "rpa_" + "s" * 40


@contextmanager
def serving(state: Path) -> Iterator[str]:
    env = {**os.environ, "RINGPUSH_ADMIN_KEY": ADMIN, "RINGPUSH_PORT": "0"}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "ringpush", "serve", "--state-dir", str(state),
            "--database", f"sqlite:///{state / 'r.db'}",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", first)
    assert match, first
    try:
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


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
    assert done.stderr.strip() == f"error: config file {config}: port must be an integer"
    config.write_text("colour = 1\n")
    assert "unknown setting 'colour'" in ringpush("serve", "--config", str(config)).stderr
