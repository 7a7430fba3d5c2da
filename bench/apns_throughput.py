"""APNs client throughput: ringpush against aioapns, same sandbox, same run.

The sandbox runs in its own process (``ringpush sandbox``), so the CPU time measured here
is the sending process's alone. For each client the benchmark sends ``--count`` VoIP pushes
with ``--concurrency`` pushes in flight and reports pushes/s, p50/p99 latency (submit to
result), the same latencies under light load (``--light-concurrency`` in flight, where the
server is not the queue) and client CPU µs per push (``time.process_time`` of this
process), then the ratios ringpush / aioapns. Each client is warmed with a few pushes
first, so both start on an authenticated connection whose stream limit has been raised
(aioapns cannot wait for the rise itself).

    .venv/bin/python bench/apns_throughput.py [--count 20000] [--concurrency 500] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ringpush.apns.client import ApnsClient
from ringpush.apns.credentials import TokenCredentials, generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.apns.notification import Notification

BUNDLE = "com.example.bench"
PAYLOAD: dict[str, Any] = {
    "aps": {},
    "call_id": "3f1c2a9e-5b7d-4c1e-9a2b-8d7e6f5a4b3c",
    "caller": {"handle": "+15551234567", "name": "Alice Example"},
    "video": False,
    "ts": 1_800_000_000,
}


@dataclass
class Figures:
    name: str
    count: int
    seconds: float
    cpu_seconds: float
    latencies: list[float]
    failures: int
    light_latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def cpu_us_per_push(self) -> float:
        return self.cpu_seconds / self.count * 1e6

    def pct(self, q: float, *, light: bool = False) -> float:
        ordered = sorted(self.light_latencies if light else self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


Send = Callable[[str], Awaitable[bool]]


async def drive(name: str, send: Send, tokens: list[str], count: int, concurrency: int) -> Figures:
    """Send ``count`` pushes with ``concurrency`` workers; the same loop for every client."""
    latencies: list[float] = []
    failures = 0
    remaining = iter(range(count))
    clock = time.perf_counter

    async def worker() -> None:
        nonlocal failures
        for i in remaining:
            started = clock()
            ok = await send(tokens[i % len(tokens)])
            latencies.append(clock() - started)
            if not ok:
                failures += 1

    cpu0, t0 = time.process_time(), clock()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Figures(name, count, clock() - t0, time.process_time() - cpu0, latencies, failures)


class SandboxProcess:
    """``ringpush sandbox`` in a child process, on free loopback ports."""

    def __init__(self, workdir: Path, key_file: Path, key_id: str, team_id: str) -> None:
        self.ca_file = workdir / "ca.pem"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ringpush",
                "sandbox",
                "--port",
                "0",
                "--control-port",
                "0",
                "--ca-out",
                str(self.ca_file),
                "--key",
                f"{key_file}:{key_id}:{team_id}",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the sandbox did not start")
        info = json.loads(line)
        self.apns_url = f"https://127.0.0.1:{info['port']}"
        self.control_url = f"http://127.0.0.1:{info['control_port']}"

    def issue_tokens(self, n: int) -> list[str]:
        with httpx.Client(base_url=self.control_url) as http:
            return [
                http.post(
                    "/tokens",
                    json={"bundle_id": BUNDLE, "push_type": "voip", "environment": "development"},
                ).json()["token"]
                for _ in range(n)
            ]

    def accepted(self) -> int:
        with httpx.Client(base_url=self.control_url) as http:
            return int(http.get("/stats").json()["accepted"])

    def reset_records(self) -> None:
        with httpx.Client(base_url=self.control_url) as http:
            http.post("/reset", json={"keep_tokens": True})

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


async def run_ringpush(
    sandbox: SandboxProcess, credentials: TokenCredentials, tokens: list[str], args: Any
) -> Figures:
    async with ApnsClient(
        credentials, Environment.DEVELOPMENT, base_url=sandbox.apns_url, ca_file=sandbox.ca_file
    ) as client:

        async def send(token: str) -> bool:
            result = await client.send(Notification.voip(BUNDLE, token, PAYLOAD))
            return result.sent

        await drive("warm-up", send, tokens, 50, 1)
        light = await drive("ringpush", send, tokens, args.light_count, args.light_concurrency)
        figures = await drive("ringpush", send, tokens, args.count, args.concurrency)
        figures.light_latencies = light.latencies
        return figures


async def run_aioapns(
    sandbox: SandboxProcess, key_pem: str, key_id: str, team_id: str, tokens: list[str], args: Any
) -> Figures:
    from aioapns import APNs, NotificationRequest, PushType
    from aioapns import connection as aioapns_connection

    port = int(sandbox.apns_url.rsplit(":", 1)[1])
    aioapns_connection.APNsDevelopmentClientProtocol.APNS_SERVER = "127.0.0.1"
    aioapns_connection.APNsDevelopmentClientProtocol.APNS_PORT = port
    context = ssl.create_default_context(cafile=str(sandbox.ca_file))
    client = APNs(
        key=key_pem,
        key_id=key_id,
        team_id=team_id,
        topic=f"{BUNDLE}.voip",
        use_sandbox=True,
        ssl_context=context,
    )

    async def send(token: str) -> bool:
        request = NotificationRequest(
            device_token=token, message=PAYLOAD, push_type=PushType.VOIP, time_to_live=0
        )
        result = await client.send_notification(request)
        return bool(result.is_successful)

    try:
        await drive("warm-up", send, tokens, 50, 1)
        light = await drive("aioapns", send, tokens, args.light_count, args.light_concurrency)
        figures = await drive("aioapns", send, tokens, args.count, args.concurrency)
        figures.light_latencies = light.latencies
        return figures
    finally:
        client.pool.close()


def report(results: dict[str, list[Figures]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name, runs in results.items():
        best = max(runs, key=lambda f: f.rate)
        summary[name] = {
            "pushes_per_s": round(best.rate),
            "p50_ms": round(best.pct(0.50), 2),
            "p99_ms": round(best.pct(0.99), 2),
            "light_p50_ms": round(best.pct(0.50, light=True), 2),
            "light_p99_ms": round(best.pct(0.99, light=True), 2),
            "cpu_us_per_push": round(statistics.median(f.cpu_us_per_push for f in runs), 1),
            "failures": sum(f.failures for f in runs),
        }
    ours, theirs = summary["ringpush"], summary["aioapns"]
    summary["ratio_ringpush_over_aioapns"] = {
        "pushes_per_s": round(ours["pushes_per_s"] / theirs["pushes_per_s"], 2),
        "p50": round(ours["p50_ms"] / theirs["p50_ms"], 2),
        "p99": round(ours["p99_ms"] / theirs["p99_ms"], 2),
        "light_p50": round(ours["light_p50_ms"] / theirs["light_p50_ms"], 2),
        "light_p99": round(ours["light_p99_ms"] / theirs["light_p99_ms"], 2),
        "cpu_per_push": round(ours["cpu_us_per_push"] / theirs["cpu_us_per_push"], 2),
    }
    return summary


def print_table(summary: dict[str, Any], args: Any) -> None:
    print(
        f"\n{args.count} VoIP pushes per run, {args.concurrency} in flight, {args.rounds} rounds;"
        f" light load: {args.light_count} pushes, {args.light_concurrency} in flight"
    )
    print(
        f"{'client':<10}{'pushes/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'CPU µs/push':>13}"
        f"{'light p50':>11}{'light p99':>11}{'fail':>6}"
    )
    for name in ("ringpush", "aioapns"):
        row = summary[name]
        print(
            f"{name:<10}{row['pushes_per_s']:>10}{row['p50_ms']:>9}{row['p99_ms']:>9}"
            f"{row['cpu_us_per_push']:>13}{row['light_p50_ms']:>11}{row['light_p99_ms']:>11}"
            f"{row['failures']:>6}"
        )
    ratio = summary["ratio_ringpush_over_aioapns"]
    print(
        f"{'ratio':<10}{ratio['pushes_per_s']:>10}{ratio['p50']:>9}{ratio['p99']:>9}"
        f"{ratio['cpu_per_push']:>13}{ratio['light_p50']:>11}{ratio['light_p99']:>11}"
    )


async def main_async(args: Any) -> dict[str, Any]:
    generated = generate_signing_key()
    credentials = TokenCredentials.from_pem(generated.pem, generated.key_id, generated.team_id)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        key_file = workdir / f"AuthKey_{generated.key_id}.p8"
        key_file.write_bytes(generated.pem)
        sandbox = SandboxProcess(workdir, key_file, generated.key_id, generated.team_id)
        try:
            tokens = sandbox.issue_tokens(16)
            results: dict[str, list[Figures]] = {"ringpush": [], "aioapns": []}
            for _ in range(args.rounds):
                sandbox.reset_records()
                results["ringpush"].append(await run_ringpush(sandbox, credentials, tokens, args))
                sandbox.reset_records()
                results["aioapns"].append(
                    await run_aioapns(
                        sandbox,
                        generated.pem.decode(),
                        generated.key_id,
                        generated.team_id,
                        tokens,
                        args,
                    )
                )
        finally:
            sandbox.stop()
    return report(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--light-count", type=int, default=5_000)
    parser.add_argument(
        "--light-concurrency", type=int, default=16, help="in flight for the latency run"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON too")
    args = parser.parse_args()
    summary = asyncio.run(main_async(args))
    print_table(summary, args)
    if args.json:
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
