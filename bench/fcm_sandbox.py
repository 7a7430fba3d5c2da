"""The FCM sandbox in a process of its own, for the FCM benchmarks: ``FcmSandbox`` on a
free port (TLS, HTTP/2 and HTTP/1.1) and its control API on another (plain HTTP), both
on the process's event loop (uvloop unless ``RINGPUSH_EVENT_LOOP=asyncio``).

    python -m bench.fcm_sandbox   # prints {"url", "control", "ca_file"} once it accepts

The sandbox takes assertions whose ``aud`` is Google's token URL, which google-auth (so
firebase-admin) signs whatever the key file's ``token_uri`` says. Its quotas are FCM's
own (240 messages a minute per device): a benchmark issues enough tokens, resets the
windows between runs and checks that nothing was refused (:meth:`FcmSandboxProcess.delta`).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from dataclasses import dataclass
from typing import Any

import httpx

from bench.processes import Processes
from ringpush.embedded_uvicorn import EmbeddedUvicorn, bound_socket
from ringpush.event_loop import runner
from ringpush.sandbox.fcm.control_api import build_fcm_control_app
from ringpush.sandbox.fcm.sandbox import FcmSandbox

NAME = "fcm-sandbox"


@dataclass(frozen=True, slots=True)
class Counts:
    """The sandbox's counters between two readings."""

    accepted: int
    rejected: dict[str, int]
    faults: dict[str, int]

    @property
    def refused(self) -> int:
        return sum(self.rejected.values())


@dataclass
class FcmSandboxProcess:
    """The parent's side: the control API's URL and the process's CPU time."""

    processes: Processes
    url: str
    control: str
    ca_file: str

    def issue_service_account(self, project_id: str) -> dict[str, Any]:
        with httpx.Client(base_url=self.control) as http:
            answer = http.post("/service-accounts", json={"project_id": project_id})
            answer.raise_for_status()
            info: dict[str, Any] = answer.json()
            return info

    def issue_tokens(self, package: str, project_id: str, n: int) -> list[str]:
        with httpx.Client(base_url=self.control) as http:
            body = {"package": package, "project_id": project_id}
            return [str(http.post("/tokens", json=body).json()["token"]) for _ in range(n)]

    def stats(self) -> dict[str, Any]:
        with httpx.Client(base_url=self.control) as http:
            stats: dict[str, Any] = http.get("/stats").json()
            return stats

    def reset(self) -> None:
        """Records, counters and rate windows cleared; accounts and tokens kept."""
        with httpx.Client(base_url=self.control) as http:
            http.post("/reset").raise_for_status()

    def cpu(self) -> float:
        return sum(self.processes.cpu(NAME).values())

    @staticmethod
    def delta(before: dict[str, Any], after: dict[str, Any]) -> Counts:
        def counter(key: str) -> dict[str, int]:
            old: dict[str, int] = before[key]
            return {k: v - old.get(k, 0) for k, v in after[key].items() if v != old.get(k, 0)}

        return Counts(
            after["accepted"] - before["accepted"],
            counter("rejected"),
            counter("faults_applied"),
        )


async def start_fcm_sandbox(
    processes: Processes, env: dict[str, str] | None = None
) -> FcmSandboxProcess:
    line = await processes.start(NAME, ["-m", "bench.fcm_sandbox"], env)
    info = json.loads(line)
    return FcmSandboxProcess(processes, info["url"], info["control"], info["ca_file"])


async def serve() -> None:
    sandbox = FcmSandbox(accept_google_audience=True)
    await sandbox.start("127.0.0.1", 0)
    control = EmbeddedUvicorn(build_fcm_control_app(sandbox))
    sock = bound_socket("127.0.0.1", 0)
    control_port = sock.getsockname()[1]
    await control.start(sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ready = {
        "url": sandbox.url,
        "control": f"http://127.0.0.1:{control_port}",
        "ca_file": str(sandbox.ca_file),
    }
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await control.stop()
        await sandbox.stop()


if __name__ == "__main__":
    runner()(serve())
