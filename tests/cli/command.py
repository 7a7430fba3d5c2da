"""Runs the real ``ringpush`` command in a child process, as a user would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The operator key the served processes of these tests take from the environment.
ADMIN = "rpa_" + "s" * 40


def ringpush(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``ringpush ARGS``; ``env`` is added to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "ringpush", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env} if env is not None else None,
        cwd=cwd,
    )


@contextmanager
def serving(state: Path, *flags: str) -> Iterator[str]:
    """``ringpush serve`` on a free port with its state in ``state``: its URL; stopped
    with SIGTERM, which must exit 0."""
    env = {**os.environ, "RINGPUSH_ADMIN_KEY": ADMIN, "RINGPUSH_PORT": "0"}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "ringpush", "serve", "--state-dir", str(state),
            "--database", f"sqlite:///{state / 'r.db'}", *flags,
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
