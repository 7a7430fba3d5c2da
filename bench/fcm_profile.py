"""Where an FCM client's CPU goes: py-spy on its process until it exits, then the busy
samples by package (own time: the frame running; including callees: any frame on the
stack) and the busiest functions.

    python -m bench.fcm_profile FILE.raw   # summarise a profile taken earlier

The packages are what a client's send path crosses: its own code, the HTTP stack
(httpx, httpcore, h2, hpack, hyperframe, requests, urllib3), TLS (``ssl``), the event
loop (``asyncio``), google-auth and firebase-admin.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
from pathlib import Path

from bench.profiles import IDLE

#: On every stack of a sender: the entry point and its event loop.
_EVERYWHERE = frozenset({"<frozen runpy>", "bench", "asyncio", "runpy"})
_FILE = re.compile(r"\((?P<path>[^():]+):\d+\)$")


def record(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy on ``pid`` until it exits (an hour at most), collapsed stacks into ``out``."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy is not installed: no profile", file=sys.stderr)
        return None
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--duration", "3600", "--rate", "250",
         "--format", "raw", "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def package(frame: str) -> str:
    """``h2`` for ``send_data (h2/connection.py:123)``; a module of its own (``ssl.py``)
    is named without ``.py``."""
    if not frame:
        return "(no Python frame: C code, a thread starting or ending)"
    found = _FILE.search(frame)
    if found is None:
        return frame
    parts = Path(found["path"]).parts
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    elif "src" in parts:
        parts = parts[parts.index("src") + 1 :]
    if not parts:
        return frame
    if parts[0] == "ringpush" and len(parts) > 2:
        return "/".join(parts[:2])  # ringpush/fcm, ringpush/apns
    return parts[0].removesuffix(".py")


def summary(raw: Path, top: int = 12) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    functions: collections.Counter[str] = collections.Counter()
    busy = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or any(idle in frames[-1] for idle in IDLE):
            continue
        n = int(count)
        busy += n
        own[package(frames[-1])] += n
        functions[frames[-1]] += n
        for name in {package(f) for f in frames[1:]} - _EVERYWHERE:
            inclusive[name] += n
    if not busy:
        return "no busy samples"
    lines = [f"{busy} busy samples; own time by package:"]
    lines += [f"  {100 * n / busy:5.1f}% {name}" for name, n in own.most_common(top)]
    lines.append("including callees, by package (the entry point and the loop left out):")
    lines += [f"  {100 * n / busy:5.1f}% {name}" for name, n in inclusive.most_common(top)]
    lines.append("busiest functions (own time):")
    lines += [
        f"  {100 * n / busy:5.1f}% {package(name) if not name else name[:110]}"
        for name, n in functions.most_common(top)
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(Path(sys.argv[1])))
