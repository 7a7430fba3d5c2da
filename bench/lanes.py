"""Lanes under trouble: a healthy app's call → APNs latency, alone and beside a dead lane
or a bulk backlog, as ratios.

``ringpush sandbox`` and ``ringpush serve`` (SQLite) run in processes of their own. Each
scenario starts a fresh ``serve`` and places calls to the healthy app at ``--rate``
calls/s for ``--seconds``, timing each from the request to the sandbox receiving the
VoIP push:

- ``alone``: nothing else happens;
- ``dead lane``: at the same time, as many calls to an app whose APNs is a port where
  nothing listens, and to one whose APNs accepts TCP and never answers TLS;
- ``busy lanes``: the same three-fold traffic, the two other apps healthy: what serving
  that many calls costs the healthy app on these cores, so ``dead lane`` against it is
  what the deadness itself costs;
- ``one dead lane``: the issue's setting, one dead lane beside the healthy one: as many
  calls to an app whose APNs accepts TCP and never answers TLS (``one busy lane``: the
  same, that app healthy);
- ``bulk``: ``--bulk`` alert pushes (50 000) are queued for the healthy app itself (written
  into the outbox through the registry, as a campaign's ``POST /v1/pushes`` would leave
  them), and the sandbox answers every push after ``--apns-latency-ms`` (200), so the
  backlog drains for many seconds while the calls arrive; serve slows bulk down to
  ``--bulk-share`` of the lane's cap while calls arrive;
- ``drain``: the same backlog and no calls, for the speed bulk goes at when nothing rings.

    .venv/bin/python bench/lanes.py [--rate 50] [--seconds 10] [--bulk 50000]
        [--bulk-share 0.05] [--scenarios alone,bulk]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from ringpush.apns.credentials import GeneratedKey, generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.registry import SecretBox, open_registry
from ringpush.registry.outbox_models import OutboxPush, PushState, Urgency

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.figures import bucket_quantile, histogram_buckets, percentile
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

CALLEES = 100
LOOP_LAG = "ringpush_event_loop_lag_seconds"


@dataclass
class Outcome:
    scenario: str
    latencies: list[float]
    failures: int
    bulk_left: int | None = None
    #: serve's event loop lag (p99 and the worst bucket's bound, ms) during the calls.
    loop_lag_p99: float = float("nan")
    loop_lag_max: float = float("nan")
    #: Bulk pushes APNs accepted per second while the calls were placed.
    bulk_rate: float | None = None
    #: Share of one core used while the calls were placed: serve, the sandbox, the load.
    cores: tuple[float, float, float] = (float("nan"),) * 3

    def pct(self, q: float) -> float:
        return percentile(self.latencies, q)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def silent_server() -> asyncio.Server:
    """Accepts TCP, never says a word: a TLS handshake that never completes."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Cancelled when the benchmark ends: end quietly (asyncio reports a cancelled
        # handler as an error).
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await reader.read()
        writer.close()

    return await asyncio.start_server(hold, "127.0.0.1", 0)


async def queue_bulk(database: str, env: dict[str, str], count: int) -> None:
    """``count`` alert pushes for the healthy app's users, written into the outbox with
    the deployment's master key (the server under test claims them)."""
    key = base64.b64decode(env["RINGPUSH_SECRET_KEY"])
    registry = await open_registry(database, SecretBox({"env": key}, "env"))
    try:
        devices = [
            device
            for n in range(CALLEES)
            for device in await registry.devices_of_user("healthy", f"u{n}", PushType.ALERT)
        ]
        now = datetime.now(UTC)
        pushes = [
            OutboxPush(
                push_id=str(uuid.uuid4()),
                app_id="healthy",
                user_id=device.user_id,
                device_id=device.device_id,
                push_type=PushType.ALERT,
                environment=Environment.DEVELOPMENT,
                token=device.token,
                apns_id=str(uuid.uuid4()),
                payload=b'{"aps":{"alert":"Big sale"}}',
                state=PushState.PENDING,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
                urgency=Urgency.BULK,
            )
            for device in (devices[i % len(devices)] for i in range(count))
        ]
        for start in range(0, count, 5000):
            await registry.outbox.enqueue(pushes[start : start + 5000])
    finally:
        await registry.close()


async def scenario(
    name: str,
    args: argparse.Namespace,
    processes: Processes,
    box: SandboxProcess,
    key: GeneratedKey,
) -> Outcome:
    work = processes.work / name.replace(" ", "-")
    work.mkdir()
    env = serve_env()
    database = f"sqlite:///{work / 'lanes.db'}"
    base = await start_serve(
        processes,
        f"serve-{work.name}",
        work / "state",
        database,
        env,
        "--lane-concurrency",
        str(args.lane_concurrency),
        "--bulk-share-during-calls",
        str(args.bulk_share),
    )
    caller = LoadClient(base)
    silent = await silent_server()
    async with (
        httpx.AsyncClient(base_url=base, timeout=60) as http,
        httpx.AsyncClient(base_url=box.control, timeout=60) as sandbox,
    ):
        apns = f"https://127.0.0.1:{box.port}"
        healthy = await create_app(http, "healthy", key, apns, box.ca)
        await register_callees(http, sandbox, "healthy", CALLEES, 1)
        other_services = []
        others: list[tuple[str, str]] = []
        if name == "dead lane":
            others = [
                ("dead-port", f"https://127.0.0.1:{closed_port()}"),
                ("dead-tls", f"https://127.0.0.1:{silent.sockets[0].getsockname()[1]}"),
            ]
        elif name == "busy lanes":  # the same traffic as "dead lane", to healthy apps
            others = [("busy-1", apns), ("busy-2", apns)]
        elif name == "one dead lane":  # the issue's own setting: one dead, one healthy
            others = [("dead-tls", f"https://127.0.0.1:{silent.sockets[0].getsockname()[1]}")]
        elif name == "one busy lane":
            others = [("busy-1", apns)]
        if others:
            for app_id, url in others:
                other_services.append(await create_app(http, app_id, key, url, box.ca))
                await register_callees(http, sandbox, app_id, CALLEES, 1)
        await caller.post("/v1/calls", {"caller_id": "w", "callee_user_id": "u0"}, healthy)
        await sandbox.post("/reset", json={})
        bulk_total = 0
        if name in ("bulk", "drain"):
            await register_callees(http, sandbox, "healthy", CALLEES, 1, push_type="alert")
            await queue_bulk(database, env, args.bulk)
            bulk_total = args.bulk
        await sandbox.post("/faults", json={"latency_ms": args.apns_latency_ms})

        sent_at: dict[str, float] = {}
        failures = 0

        async def call(i: int, service: dict[str, str], timed: bool) -> None:
            nonlocal failures
            started = time.time()
            status, body = await caller.post(
                "/v1/calls", {"caller_id": "alice", "callee_user_id": f"u{i % CALLEES}"}, service
            )
            if not timed:
                return
            if status != 201:
                failures += 1
                return
            for delivery in body["deliveries"]:
                sent_at[delivery["apns_id"]] = started

        serve_pid = processes.running[f"serve-{work.name}"].pid
        spy = None
        if args.profile is not None:
            args.profile.mkdir(parents=True, exist_ok=True)
            spy = record(serve_pid, args.seconds, args.profile / f"{work.name}.raw")
        lag_before = histogram_buckets((await http.get("/metrics")).text, LOOP_LAG)
        accepted_before = (await sandbox.get("/stats")).json()["accepted"]
        box_pid = processes.running["sandbox"].pid
        cpu_before = (cpu_seconds(serve_pid), cpu_seconds(box_pid), time.process_time())
        tasks = []
        total = 0 if name == "drain" else int(args.rate * args.seconds)
        t0 = time.perf_counter()
        if name == "drain":  # no calls: how fast bulk goes when nothing rings
            await asyncio.sleep(args.seconds)
        for i in range(total):
            delay = t0 + i / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(call(i, healthy, True)))
            for service in other_services:
                tasks.append(asyncio.create_task(call(i, service, False)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
        cores = (
            cpu_since(cpu_before[0], cpu_seconds(serve_pid)) / elapsed,
            cpu_since(cpu_before[1], cpu_seconds(box_pid)) / elapsed,
            (time.process_time() - cpu_before[2]) / elapsed,
        )
        lag_after = histogram_buckets((await http.get("/metrics")).text, LOOP_LAG)
        stats = (await sandbox.get("/stats")).json()
        bulk_left = bulk_total - (stats["accepted"] - len(sent_at)) if bulk_total else None
        bulk_rate = (stats["accepted"] - accepted_before - len(sent_at)) / elapsed
        records = (await sandbox.get("/notifications")).json()
        await sandbox.post("/faults", json={"latency_ms": 0})
    await caller.close()
    silent.close()
    if spy is not None:
        spy.wait(60)
    processes.stop(f"serve-{work.name}")
    latencies = [
        (r["time"] - sent_at[r["apns_id"]]) * 1000 for r in records if r["apns_id"] in sent_at
    ]
    return Outcome(
        name,
        latencies,
        failures,
        bulk_left,
        bucket_quantile(lag_before, lag_after, 0.99) * 1000,
        bucket_quantile(lag_before, lag_after, 1.0) * 1000,
        bulk_rate if bulk_total else None,
        cores,
    )


async def main_async(args: argparse.Namespace) -> None:
    key = generate_signing_key()
    with tempfile.TemporaryDirectory() as tmp:
        processes = Processes(Path(tmp))
        try:
            box = await start_sandbox(processes, key)
            outcomes = [await scenario(name, args, processes, box, key) for name in args.scenarios]
        finally:
            processes.stop_all()
    alone = outcomes[0]  # the first scenario is the reference
    print(
        f"healthy app's calls at {args.rate:g}/s for {args.seconds:g} s,"
        f" APNs answering after {args.apns_latency_ms} ms, lane concurrency"
        f" {args.lane_concurrency}; call → APNs request:"
    )
    print(
        "scenario       pushes  failed  p50 ms  p99 ms  p99 ratio to alone"
        "  (serve's loop lag p99 / max, ms, bucket bounds)"
        "  [cores busy: serve / sandbox / load]"
    )
    for outcome in outcomes:
        left = (
            f"  (bulk sent at {outcome.bulk_rate:.0f}/s meanwhile; {outcome.bulk_left} of"
            f" {args.bulk} still queued at the end)"
            if outcome.bulk_left is not None and outcome.bulk_rate is not None
            else ""
        )
        print(
            f"{outcome.scenario:<13} {len(outcome.latencies):>7} {outcome.failures:>7}"
            f"  {outcome.pct(0.5):>6.1f}  {outcome.pct(0.99):>6.1f}"
            f"  {outcome.pct(0.99) / alone.pct(0.99):>5.2f}"
            f"  ({outcome.loop_lag_p99:g} / {outcome.loop_lag_max:g})"
            f"  [{' / '.join(f'{c:.2f}' for c in outcome.cores)}]{left}"
        )
        print_if_taken(args.profile, outcome.scenario.replace(" ", "-"))
    by_name = {outcome.scenario: outcome for outcome in outcomes}
    for dead_name, busy_name in (("dead lane", "busy lanes"), ("one dead lane", "one busy lane")):
        if dead_name in by_name and busy_name in by_name:
            dead, busy = by_name[dead_name], by_name[busy_name]
            print(
                f"{dead_name} against {busy_name} (the same traffic, every app healthy): p99"
                f" {dead.pct(0.99) / busy.pct(0.99):.2f}x,"
                f" p50 {dead.pct(0.5) / busy.pct(0.5):.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--bulk", type=int, default=50_000)
    parser.add_argument("--apns-latency-ms", type=int, default=200)
    parser.add_argument(
        "--lane-concurrency",
        type=int,
        default=100,
        help="serve's pushes in flight per lane: 100 at 200 ms is 500 bulk pushes/s, which"
        " the sandbox (Python, on the same 2 cores) can take without becoming the queue",
    )
    parser.add_argument(
        "--scenarios",
        type=lambda text: text.split(","),
        default=["alone", "busy lanes", "dead lane", "bulk", "drain"],
        help="comma-separated, the first is the reference: alone, dead lane, busy lanes,"
        " one dead lane, one busy lane,"
        " bulk, drain"
        " (the bulk backlog with no calls: how fast it goes when nothing rings)",
    )
    parser.add_argument(
        "--bulk-share",
        type=float,
        default=0.05,
        help="serve --bulk-share-during-calls: the share of a lane's cap bulk may use while"
        " calls arrive (1: bulk is never slowed down)",
    )
    parser.add_argument("--profile", type=Path, help="write py-spy profiles of serve here")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
