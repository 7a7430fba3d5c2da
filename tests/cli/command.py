"""Runs the real ``ringpush`` command in a child process, as a user would."""

from __future__ import annotations

import subprocess
import sys


def ringpush(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ringpush", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
