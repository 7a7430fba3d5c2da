"""What every benchmark needs around the processes under test: starting them, reading
their CPU time (Linux /proc, a process and everything under it), stopping them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_seconds(root: int) -> dict[int, float]:
    """CPU time (user + system) used so far by ``root`` and every process under it, per
    pid (PostgreSQL serves each connection from a process of its own)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in tree:
        if (fields := _stat(pid)) is not None:
            used[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return used


def cpu_since(before: dict[int, float], now: dict[int, float]) -> float:
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items())


@dataclass
class Processes:
    work: Path
    running: dict[str, subprocess.Popen[str]] = field(default_factory=dict)

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None) -> None:
        with open(self.work / f"{name}.log", "w") as stderr:
            self.running[name] = subprocess.Popen(
                [sys.executable, *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
            )

    async def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> str:
        """Start ``python <args>`` and return the first line it prints once it is up."""
        log = self.work / f"{name}.log"
        self.spawn(name, args, env)
        process = self.running[name]
        assert process.stdout is not None
        try:
            line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 60)
        except TimeoutError:
            line = ""
        if not line:
            raise SystemExit(f"{name} did not start:\n{log.read_text()}")
        return line

    async def ringpush(self, name: str, args: list[str], env: dict[str, str] | None = None) -> str:
        return await self.start(name, ["-m", "ringpush", *args], env)

    def cpu(self, name: str) -> dict[int, float]:
        return cpu_seconds(self.running[name].pid)

    def stop(self, name: str) -> None:
        process = self.running.pop(name)
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            print(f"{name} ignored SIGTERM for 15 s: killed", file=sys.stderr)
            process.kill()
            process.wait()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)
