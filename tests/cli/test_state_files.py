"""State files: created private, refused when not, and every start-up problem with them
one line and exit 2 (no traceback)."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ringpush.registry.sqlite_database import SqliteDatabase

GOOD_ADMIN = "rpa_" + "s" * 40


def serve(state: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``serve`` on a broken state: it must refuse to start, at once."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RINGPUSH_")}
    return subprocess.run(
        [sys.executable, "-m", "ringpush", "serve", "--port", "0", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**environ, **env},
    )


def one_line_exit_2(done: subprocess.CompletedProcess[str], needle: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], done.stderr
    assert "Traceback" not in done.stderr


async def test_the_database_and_its_wal_and_shm_are_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "r.db"
    path.parent.mkdir(mode=0o700)
    db = await SqliteDatabase.open(path)
    try:
        await db.execute("CREATE TABLE t (n INTEGER)")
        await db.execute("INSERT INTO t (n) VALUES (1)")
        for name in ("r.db", "r.db-wal", "r.db-shm"):
            mode = stat.S_IMODE((path.parent / name).stat().st_mode)
            assert mode == 0o600, f"{name} is {mode:o}"
    finally:
        await db.close()


def test_a_first_start_makes_a_private_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "new-state"
    # a short operator key: refused after the state dir and key file were made
    one_line_exit_2(serve(state, RINGPUSH_ADMIN_KEY="short"), "at least 32")
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "secret.json").stat().st_mode) == 0o600
    # the database is kept beside the keys that seal it, not in the working directory
    assert stat.S_IMODE((state / "ringpush.db").stat().st_mode) == 0o600


def test_an_admin_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    tmp_path.joinpath("admin.key").write_text(GOOD_ADMIN)
    tmp_path.joinpath("admin.key").chmod(0o644)
    one_line_exit_2(serve(tmp_path), "readable by others")


def test_a_short_admin_key_file_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "admin.key"
    key.write_text("x")
    key.chmod(0o600)
    one_line_exit_2(serve(tmp_path), "at least 32")


@pytest.mark.parametrize(
    ("content", "mode", "needle"),
    [
        ("{}", 0o600, "not a ringpush key file"),
        ("not json", 0o600, "not a ringpush key file"),
        ('{"current": "k1", "keys": {"k1": "%%%"}}', 0o600, "not a ringpush key file"),
        ('{"current": "k1", "keys": {}}', 0o644, "readable by others"),
    ],
)
def test_a_broken_secret_file_is_one_line(
    tmp_path: Path, content: str, mode: int, needle: str
) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(content)
    secret.chmod(mode)
    one_line_exit_2(serve(tmp_path, RINGPUSH_ADMIN_KEY=GOOD_ADMIN), needle)


@pytest.mark.parametrize("value", ["notbase64", base64.b64encode(b"short").decode()])
def test_a_bad_secret_key_variable_is_one_line(tmp_path: Path, value: str) -> None:
    done = serve(tmp_path, RINGPUSH_ADMIN_KEY=GOOD_ADMIN, RINGPUSH_SECRET_KEY=value)
    one_line_exit_2(done, "RINGPUSH_SECRET_KEY must be base64 of 32 bytes")
