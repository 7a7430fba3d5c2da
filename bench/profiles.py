"""Sampling profiles of a process under test: py-spy attached for a while, then the
busiest functions (own time, and time including callees), idle waits left out.

    python -m bench.profiles FILE.raw   # summarise a profile taken earlier
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
from pathlib import Path

#: Frames where a thread waits rather than works.
IDLE = (
    "EpollSelector.select",
    "_worker (concurrent/futures/thread.py",
    "Condition.wait",
    "Event.wait",
)


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Start py-spy on ``pid`` for ``seconds``, writing collapsed stacks to ``out``."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy is not installed: no profile", file=sys.stderr)
        return None
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250",
         "--format", "raw", "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def summary(raw: Path, top: int = 15) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    busy = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or any(idle in frames[-1] for idle in IDLE):
            continue
        busy += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    if not busy:
        return "no busy samples"
    lines = [f"{busy} busy samples; own time:"]
    lines += [f"  {100 * n / busy:5.1f}% {name[:110]}" for name, n in own.most_common(top)]
    lines.append("including callees (ringpush, FastAPI/Starlette, uvicorn, database):")
    interesting = ("ringpush", "fastapi", "starlette", "uvicorn", "asyncpg", "jwt")
    chosen = [(k, n) for k, n in inclusive.most_common() if any(w in k for w in interesting)]
    lines += [f"  {100 * n / busy:5.1f}% {name[:110]}" for name, n in chosen[: top * 2]]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(Path(sys.argv[1])))


def print_if_taken(directory: Path | None, name: str) -> None:
    """Print the summary of the profile ``name`` if one was taken into ``directory``."""
    if directory is not None and (raw := directory / f"{name}.raw").exists():
        print(summary(raw))
