"""Call → APNs-request latency and CPU per call through the whole server, against the
floor measured in the same run.

The floor of "HTTP call in, VoIP pushes out" is what the bare parts cost on this machine:
a bare FastAPI + pydantic JSON route on uvicorn (``bench/bare_route.py``, server CPU per
request) plus ringpush's own APNs client sending the call's pushes (``bench/apns_floor.py``,
client CPU per push), both driven at the same rate in processes of their own. Then, for
each database and each number of devices per callee, ``ringpush serve`` runs (one or
``--instances`` processes) with an app pointed at ``ringpush sandbox``; calls are placed
with ``POST /v1/calls`` at ``--rate`` calls/s for ``--seconds``. Latency per push is the
time from sending the request to the sandbox receiving the VoIP push (same machine
clock). CPU time per call is reported for every process (servers, sandbox, PostgreSQL with
all its backends, this load generator); the ratio is serve's CPU per call over the floor.

    .venv/bin/python bench/call_latency.py [--rate 300] [--seconds 10] [--callees 200]
        [--database sqlite,postgres] [--devices 1,5] [--instances 1] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ringpush.apns.credentials import GeneratedKey, generate_signing_key

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.figures import percentile
from bench.http_load import LoadClient
from bench.processes import Processes, cpu_seconds, cpu_since
from bench.profiles import print_if_taken, record
from bench.serving import (
    SandboxProcess,
    create_app,
    register_callees,
    serve_env,
    start_sandbox,
    start_serve,
)
from tests.conftest import create_database
from tests.postgres_server import PostgresServer


@dataclass
class Floor:
    route_ms: float
    push_ms: dict[int, float]

    def per_call(self, devices: int) -> float:
        return self.route_ms + devices * self.push_ms[devices]


@dataclass
class Run:
    database: str
    devices: int
    instances: int
    calls: int
    failures: int
    seconds: float
    latencies: list[float]
    cpu_ms: dict[str, float]

    def pct(self, q: float) -> float:
        return percentile(self.latencies, q)


async def paced(
    rate: float, total: int, place: Callable[[int], Coroutine[Any, Any, None]]
) -> float:
    """Start ``place(i)`` for i in range(total) at ``rate`` per second; wait for all."""
    tasks = []
    t0 = time.perf_counter()
    for i in range(total):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(place(i)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - t0


async def measure_floor(
    args: argparse.Namespace, processes: Processes, box: SandboxProcess
) -> Floor:
    port = int((await processes.start("bare-route", ["-m", "bench.bare_route"])).strip())
    client = LoadClient(f"http://127.0.0.1:{port}")
    body = {"caller_id": "alice", "callee_user_id": "u1"}
    for _ in range(50):
        await client.post("/v1/calls", body, {})
    before = processes.cpu("bare-route")
    total = int(args.rate * args.seconds)

    async def one(_: int) -> None:
        await client.post("/v1/calls", body, {"Authorization": "Bearer x"})

    await paced(args.rate, total, one)
    route_ms = cpu_since(before, processes.cpu("bare-route")) / total * 1000
    await client.close()
    processes.stop("bare-route")
    push_ms = {}
    for devices in args.devices:
        line = await processes.start(
            f"apns-floor-{devices}",
            [
                "-m", "bench.apns_floor", "--url", f"https://127.0.0.1:{box.port}",
                "--control", box.control, "--ca", str(box.ca), "--key", box.key_arg,
                "--rate", str(args.rate), "--seconds", str(args.seconds),
                "--devices", str(devices),
            ],
        )  # fmt: skip
        push_ms[devices] = json.loads(line)["cpu_ms_per_push"]
        processes.stop(f"apns-floor-{devices}")
    return Floor(route_ms, push_ms)


async def measure(
    args: argparse.Namespace,
    processes: Processes,
    box: SandboxProcess,
    key: GeneratedKey,
    database_kind: str,
    devices: int,
    postgres: PostgresServer | None,
) -> Run:
    work = processes.work / f"{database_kind}-{devices}"
    work.mkdir()
    env = serve_env()
    if database_kind == "sqlite":
        database = f"sqlite:///{work / 'bench.db'}"
    elif postgres is not None:
        database = await create_database(postgres)
    else:
        database = database_kind
    names, bases = [], []
    for n in range(args.instances):
        name = f"serve-{database_kind}-{devices}-{n}"
        bases.append(await start_serve(processes, name, work / f"state{n}", database, env))
        names.append(name)
    callers = [LoadClient(base) for base in bases]  # lean: see bench/http_load.py
    async with (
        httpx.AsyncClient(base_url=bases[0], timeout=30) as http,  # setting up only
        httpx.AsyncClient(base_url=box.control, timeout=60) as sandbox_http,
    ):
        service = await create_app(http, "bench", key, f"https://127.0.0.1:{box.port}", box.ca)
        await register_callees(http, sandbox_http, "bench", args.callees, devices)
        for caller in callers:  # warm: connections up, app and provider token cached
            await caller.post("/v1/calls", {"caller_id": "w", "callee_user_id": "u0"}, service)
        await sandbox_http.post("/reset", json={})

        sent_at: dict[str, float] = {}
        failures = 0

        async def place(i: int) -> None:
            nonlocal failures
            started = time.time()
            status, body = await callers[i % len(callers)].post(
                "/v1/calls",
                {"caller_id": "alice", "callee_user_id": f"u{i % args.callees}"},
                service,
            )
            if status != 201:
                failures += 1
                return
            for delivery in body["deliveries"]:
                sent_at[delivery["apns_id"]] = started

        watched = {name: processes.running[name].pid for name in [*names, "sandbox"]}
        if postgres is not None and postgres.pid is not None:
            watched["postgres"] = postgres.pid
        cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
        generator_cpu = time.process_time()
        spy = None
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
            raw = args.profile / f"{database_kind}-{devices}.raw"
            spy = record(watched[names[0]], max(1.0, args.seconds - 1), raw)
        total = int(args.rate * args.seconds)
        elapsed = await paced(args.rate, total, place)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 60:  # the last pushes, and their CPU
            if (await sandbox_http.get("/stats")).json()["accepted"] >= len(sent_at):
                break
            await asyncio.sleep(0.2)
        cpu_used = {
            name.split("-")[0] if name.startswith("serve") and args.instances == 1 else name: (
                cpu_since(cpu_before[name], cpu_seconds(pid))
            )
            for name, pid in watched.items()
        }
        cpu_used["load generator"] = time.process_time() - generator_cpu
        records = (await sandbox_http.get("/notifications")).json()
        for caller in callers:
            await caller.close()
    if spy is not None:
        spy.wait(60)
    for name in names:
        processes.stop(name)
    latencies = sorted(
        (r["time"] - sent_at[r["apns_id"]]) * 1000 for r in records if r["apns_id"] in sent_at
    )
    served = max(1, total - failures)
    return Run(
        database=database_kind.split(":")[0],
        devices=devices,
        instances=args.instances,
        calls=total,
        failures=failures,
        seconds=elapsed,
        latencies=latencies,
        cpu_ms={name: used / served * 1000 for name, used in cpu_used.items()},
    )


async def main_async(args: argparse.Namespace) -> None:
    if "sqlite" in args.database and args.instances != 1:
        raise SystemExit("SQLite serves one instance: use --database postgres")
    key = generate_signing_key()
    with tempfile.TemporaryDirectory() as tmp:
        processes = Processes(Path(tmp))
        postgres = PostgresServer() if "postgres" in args.database else None
        try:
            if postgres is not None:
                postgres.start()
            box = await start_sandbox(processes, key)
            floor = await measure_floor(args, processes, box)
            print(
                f"floor at {args.rate:g} calls/s: bare FastAPI route {floor.route_ms:.3f} ms CPU"
                " per request; ringpush APNs client "
                + ", ".join(
                    f"{ms:.3f} ms per push ({d} per call)" for d, ms in floor.push_ms.items()
                )
            )
            print(
                "database    devices  calls/s  p50 ms  p99 ms  serve CPU/call  floor/call  ratio"
                "  (CPU per call of the others)"
            )
            for database in args.database:
                for devices in args.devices:
                    run = await measure(args, processes, box, key, database, devices, postgres)
                    serve_ms = sum(
                        ms for name, ms in run.cpu_ms.items() if name.startswith("serve")
                    )
                    others = ", ".join(
                        f"{name} {ms:.2f}"
                        for name, ms in run.cpu_ms.items()
                        if not name.startswith("serve")
                    )
                    per_call = floor.per_call(devices)
                    mean = statistics.fmean(run.latencies or [0])
                    print(
                        f"{run.database:<11} {devices:>7}  {run.calls / run.seconds:>7.0f}"
                        f"  {run.pct(0.5):>6.1f}  {run.pct(0.99):>6.1f}  {serve_ms:>14.2f}"
                        f"  {per_call:>10.2f}  {serve_ms / per_call:>5.2f}"
                        f"  ({others}; {run.failures} failed calls,"
                        f" {len(run.latencies)} pushes, mean {mean:.1f} ms)"
                    )
                    print_if_taken(args.profile, f"{database}-{devices}")
        finally:
            processes.stop_all()
            if postgres is not None:
                postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--callees", type=int, default=200)
    parser.add_argument(
        "--database",
        type=lambda text: text.split(","),
        default=["sqlite", "postgres"],
        help="comma-separated: sqlite, postgres (a throwaway server) or a postgresql:// URL",
    )
    parser.add_argument(
        "--devices", type=lambda text: [int(n) for n in text.split(",")], default=[1, 5]
    )
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--profile", type=Path, help="write py-spy profiles of serve here")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
