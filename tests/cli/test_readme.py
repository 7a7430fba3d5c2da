"""The README's examples run as they stand (issue 15): the APNs layer by hand (a shell
block, on ports that do not collide with ``make run``'s) and the SDK snippet."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
VENV_BIN = Path(sys.executable).parent


def block_after(marker: str, language: str) -> str:
    text = README.read_text()
    start = text.index(marker)
    found = re.compile(rf"```{language}\n(.*?)```", re.S).search(text, start)
    assert found is not None, marker
    return found.group(1)


def test_the_apns_layer_by_hand_runs_as_written(tmp_path: Path) -> None:
    script = block_after("The APNs layer alone, by hand", "sh")
    assert "2197" not in script and "2198" not in script  # make run's ports
    script = script.replace(".venv/bin/", f"{VENV_BIN}/")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"},
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"apns-id [0-9a-f-]+: 200", done.stdout), done.stdout
    assert '"push_type": "voip"' in done.stdout or '"push_type":"voip"' in done.stdout


def test_the_sdk_snippet_runs_as_written(tmp_path: Path) -> None:
    snippet = block_after("## The app side: `ringpush.sdk`", "python")
    done = subprocess.run(
        [sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "answered-here" in done.stdout
