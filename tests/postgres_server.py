"""A real PostgreSQL server for the tests: initdb into a temporary directory, loopback
only, started and stopped by the test session.

PostgreSQL refuses to run as root; when the tests run as root (as on CI) the server runs
as the ``postgres`` system user that Debian's package creates, through ``runuser``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def postgres_bin() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run scripts/install-system-packages.sh")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="ringpush-pg-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://ringpush@127.0.0.1:{self.port}/postgres"

    @property
    def pid(self) -> int | None:
        """The server's process (with ``runuser`` when run as root: its parent)."""
        return self._process.pid if self._process is not None else None

    def url_for(self, database: str) -> str:
        return f"postgresql://ringpush@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        data = self.dir / "data"
        subprocess.run(
            [
                *self._as,
                str(self.bin / "initdb"),
                "-D",
                str(data),
                "-U",
                "ringpush",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        self._process = subprocess.Popen(
            [
                *self._as,
                str(self.bin / "postgres"),
                "-D",
                str(data),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(self.dir),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "server.log", "wb"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"postgres exited: {(self.dir / 'server.log').read_text()}")
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres did not become ready within 30 s")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(15)
            if self._process.poll() is None:
                self._process.kill()
            self._process = None
        shutil.rmtree(self.dir, ignore_errors=True)
