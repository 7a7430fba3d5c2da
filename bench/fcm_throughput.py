"""FCM client throughput: ringpush against firebase-admin (the official Admin SDK), the
same local FCM, the same run.

The clients: ``ringpush-httpx`` (``FcmClient`` on its default transport, httpx over
HTTP/2), ``ringpush-h2`` (the same client on ``ringpush.fcm.h2_transport``),
``admin-async`` (firebase-admin's ``messaging.send_each_async``: httpx over HTTP/2) and
``admin-threads`` (its ``messaging.send_each``: a thread per message, requests over
HTTP/1.1); see ``bench/fcm_admin.py`` for how the Admin SDK is pointed at the sandbox.

The sandbox (``bench/fcm_sandbox.py``) runs in a process of its own, and so does each
client (``bench/fcm_senders.py``): a client's CPU time is its process's alone, and the
sandbox's is read from ``/proc`` over the same seconds. Every client sends ``--messages``
high-priority data messages (a call's wake-up, ttl 30 s) in batches of ``--concurrency``
sent at once, firebase-admin's shape for many messages (at most 500 a call); each run
starts on a fresh process, warmed (an access token, a connection) before the clock
starts. Per run: messages/s, p50/p99 latency per message (from its batch's start to
its answer), client CPU ms per message, the sandbox's CPU per message (on 2 cores it is
often the cap), and the cores each kept busy. The sandbox must have accepted every
message: its own counters are checked, and a refusal (a 429 of the per-device quota, a
5xx) fails the run. The summary is the median of the rounds, then the ratios ringpush
/ each firebase-admin path, against the floor of issue 16: messages/s at least 1x and CPU
per message at most 0.5x the Admin SDK's.

    .venv/bin/python bench/fcm_throughput.py [--messages 5000] [--concurrency 500]
        [--rounds 2] [--clients ringpush-httpx,ringpush-h2,admin-async,admin-threads]
        [--profile DIR] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.fcm_profile import record, summary
from bench.fcm_sandbox import Counts, FcmSandboxProcess, start_fcm_sandbox
from bench.fcm_senders import CLIENTS, Run
from bench.processes import Processes

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "ringpush-bench"
PACKAGE = "com.example.bench"
PEERS = ("admin-async", "admin-threads")
#: Messages per device per minute the sandbox allows (FCM's quota), less a margin.
PER_DEVICE = 200
#: The floor of issue 16: ringpush / firebase-admin.
FLOOR_RATE, FLOOR_CPU = 1.0, 0.5


@dataclass(frozen=True, slots=True)
class Measured:
    run: Run
    counts: Counts
    sandbox_cpu_seconds: float

    @property
    def verified(self) -> bool:
        expected = self.run.messages
        return (
            self.run.sent == expected
            and self.counts.accepted == expected
            and not (self.counts.refused or self.counts.faults)
        )

    @property
    def sandbox_cpu_ms_per_message(self) -> float:
        return self.sandbox_cpu_seconds / self.run.messages * 1000

    def row(self) -> dict[str, Any]:
        run = self.run
        return {
            "client": run.client,
            "messages_per_s": round(run.rate),
            "p50_ms": round(run.p50_ms, 1),
            "p99_ms": round(run.p99_ms, 1),
            "cpu_ms_per_message": round(run.cpu_ms_per_message, 3),
            "sandbox_cpu_ms_per_message": round(self.sandbox_cpu_ms_per_message, 3),
            "client_cores": round(run.cpu_seconds / run.seconds, 2),
            "sandbox_cores": round(self.sandbox_cpu_seconds / run.seconds, 2),
            "accepted": self.counts.accepted,
            "refused": self.counts.rejected,
            "failures": run.failures,
            "verified": self.verified,
        }


def child_env(**more: str) -> dict[str, str]:
    """The environment of the processes this one starts: they import ``bench``."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, **more}


def spawn(client: str, spec: Path, log: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    with open(log, "w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "bench.fcm_senders", client, str(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )


async def _line(process: subprocess.Popen[str], log: Path) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 600)
    if not line:
        raise SystemExit(f"the sender stopped:\n{await asyncio.to_thread(log.read_text)}")
    answer: dict[str, Any] = json.loads(line)
    return answer


async def measure(
    client: str,
    spec: Path,
    sandbox: FcmSandboxProcess,
    work: Path,
    *,
    env: dict[str, str] | None = None,
    profile: Path | None = None,
) -> Measured:
    """One run of ``client`` in a new process, the sandbox reset first."""
    sandbox.reset()
    log = work / f"{client}.log"
    process = spawn(client, spec, log, env or child_env())
    assert process.stdin is not None
    try:
        await _line(process, log)  # ready: warmed
        spy = record(process.pid, profile) if profile is not None else None
        stats, cpu = sandbox.stats(), sandbox.cpu()
        process.stdin.write("go\n")
        process.stdin.flush()
        run = Run(**await _line(process, log))
        used = sandbox.cpu() - cpu
        counts = FcmSandboxProcess.delta(stats, sandbox.stats())
        await asyncio.to_thread(process.wait, 60)
        if spy is not None:
            await asyncio.to_thread(spy.wait, 60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return Measured(run, counts, used)


def median_row(runs: list[Measured]) -> dict[str, Any]:
    rows = [m.row() for m in runs]
    keys = ("messages_per_s", "p50_ms", "p99_ms", "cpu_ms_per_message",
            "sandbox_cpu_ms_per_message", "client_cores", "sandbox_cores")  # fmt: skip
    median = {k: round(statistics.median(r[k] for r in rows), 3) for k in keys}
    median["messages_per_s"] = round(median["messages_per_s"])
    return {"client": rows[0]["client"], **median, "verified": all(r["verified"] for r in rows)}


def ratios(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    rate = ours["messages_per_s"] / theirs["messages_per_s"]
    cpu = ours["cpu_ms_per_message"] / theirs["cpu_ms_per_message"]
    return {
        "messages_per_s": round(rate, 2),
        "p50": round(ours["p50_ms"] / theirs["p50_ms"], 2),
        "p99": round(ours["p99_ms"] / theirs["p99_ms"], 2),
        "cpu_per_message": round(cpu, 2),
        "floor_met": rate >= FLOOR_RATE and cpu <= FLOOR_CPU,
    }


COLUMNS = (
    ("client", "client", 14, ""),
    ("messages_per_s", "msgs/s", 8, ""),
    ("p50_ms", "p50 ms", 9, ""),
    ("p99_ms", "p99 ms", 9, ""),
    ("cpu_ms_per_message", "CPU ms/msg", 12, ""),
    ("sandbox_cpu_ms_per_message", "sandbox ms/msg", 16, ""),
    ("client_cores", "cores", 7, ""),
    ("sandbox_cores", "sb cores", 9, ""),
    ("verified", "ok", 6, ""),
)


def print_rows(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{title}")
    print("".join(f"{label:>{w}}" if key != "client" else f"{label:<{w}}"
                  for key, label, w, _ in COLUMNS))  # fmt: skip
    for row in rows:
        cells = []
        for key, _, width, _ in COLUMNS:
            value = row[key]
            cells.append(f"{value!s:<{width}}" if key == "client" else f"{value!s:>{width}}")
        print("".join(cells))
        if row.get("refused") or row.get("failures"):
            print(f"   refused by the sandbox: {row.get('refused')}; failed: {row.get('failures')}")


def report(results: dict[str, list[Measured]], args: argparse.Namespace) -> dict[str, Any]:
    print(
        f"\n{args.messages} high-priority data messages per run, batches of {args.concurrency},"
        f" {args.rounds} rounds, {args.tokens} tokens, {os.cpu_count()} cores"
    )
    for n in range(args.rounds):
        print_rows(f"round {n + 1}", [runs[n].row() for runs in results.values()])
    medians = {name: median_row(runs) for name, runs in results.items()}
    print_rows("median of the rounds", list(medians.values()))
    out: dict[str, Any] = {
        "rounds": {name: [m.row() for m in runs] for name, runs in results.items()},
        "median": medians,
        "ratios": {},
    }
    ours_all = [n for n in medians if n.startswith("ringpush")]
    peers = [n for n in medians if n in PEERS]
    if ours_all and peers:
        print(f"\nratios (floor: msgs/s >= {FLOOR_RATE}x, CPU/msg <= {FLOOR_CPU}x)")
        print(f"{'':<32}{'msgs/s':>8}{'p50':>7}{'p99':>7}{'CPU/msg':>9}  floor")
        for ours in ours_all:
            for peer in peers:
                r = ratios(medians[ours], medians[peer])
                out["ratios"][f"{ours}/{peer}"] = r
                floor = "met" if r["floor_met"] else "NOT met"
                print(
                    f"{ours + ' / ' + peer:<32}{r['messages_per_s']:>8}{r['p50']:>7}"
                    f"{r['p99']:>7}{r['cpu_per_message']:>9}  {floor}"
                )
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = [c for c in clients if c not in CLIENTS]
    if unknown:
        raise SystemExit(f"unknown clients {unknown}; known: {sorted(CLIENTS)}")
    with tempfile.TemporaryDirectory(prefix="fcm-bench-") as tmp:
        work = Path(tmp)
        processes = Processes(work)
        try:
            sandbox = await start_fcm_sandbox(processes, child_env())
            account = sandbox.issue_service_account(PROJECT)
            tokens = sandbox.issue_tokens(PACKAGE, PROJECT, args.tokens)
            spec = work / "spec.json"
            spec.write_text(
                json.dumps(
                    {
                        "url": sandbox.url,
                        "ca_file": sandbox.ca_file,
                        "account": account,
                        "tokens": tokens,
                        "messages": args.messages,
                        "batch": args.concurrency,
                        "warm": min(args.concurrency, 100),
                    }
                )
            )
            results: dict[str, list[Measured]] = {c: [] for c in clients}
            for n in range(args.rounds):
                # Alternate the order, so that a drift of the machine favours no client.
                for client in clients if n % 2 == 0 else clients[::-1]:
                    measured = await measure(client, spec, sandbox, work)
                    results[client].append(measured)
                    row = measured.row()
                    print(f"round {n + 1} {client}: {row['messages_per_s']} msgs/s,"
                          f" {row['cpu_ms_per_message']} CPU ms/msg, verified {row['verified']}",
                          file=sys.stderr)  # fmt: skip
            out = report(results, args)
            if args.profile is not None:
                out["profiles"] = await profile(clients, spec, sandbox, work, args.profile)
            return out
        finally:
            processes.stop_all()


async def profile(
    clients: list[str], spec: Path, sandbox: FcmSandboxProcess, work: Path, directory: Path
) -> dict[str, str]:
    """One more run of each client with py-spy attached, on asyncio's own loop so that
    its Python frames show (uvloop's are C); figures of these runs are not counted."""
    directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, between runs
    env = child_env(RINGPUSH_EVENT_LOOP="asyncio")
    found = {}
    for client in clients:
        raw = directory / f"{client}.raw"
        measured = await measure(client, spec, sandbox, work, env=env, profile=raw)
        text = summary(raw) if raw.exists() else "no profile taken"
        row = measured.row()
        print(f"\nprofile of {client} (asyncio loop, py-spy attached: {row['messages_per_s']}"
              f" msgs/s, {row['cpu_ms_per_message']} CPU ms/msg)\n{text}")  # fmt: skip
        found[client] = text
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument(
        "--concurrency", type=int, default=500, help="messages per batch, sent at once (≤ 500)"
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", default="ringpush-httpx,ringpush-h2,admin-async,admin-threads")
    parser.add_argument("--tokens", type=int, help="tokens to spread the messages over")
    parser.add_argument("--profile", type=Path, help="py-spy each client once more, into DIR")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    if not 1 <= args.concurrency <= 500:
        parser.error("--concurrency: firebase-admin takes 1 to 500 messages a call")
    # Under FCM's per-device quota in every run (the sandbox's windows are reset between).
    warm = min(args.concurrency, 100) * 2
    args.tokens = args.tokens or max(100, math.ceil((args.messages + warm) / PER_DEVICE))
    out = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(out, indent=2))
    failed = [r for runs in out["rounds"].values() for r in runs if not r["verified"]]
    if failed:
        raise SystemExit(f"{len(failed)} runs had messages refused or lost: figures not valid")


if __name__ == "__main__":
    main()
