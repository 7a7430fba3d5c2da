"""The registry at scale: device lookups and a call's time to the wire as the number of
registered devices grows, on SQLite and PostgreSQL.

Devices are bulk-loaded through the registry (``register_device``, as the API does, with
its sealing and token hashes) in this process, four per user, up to each of ``--sizes``.
At each size: the lookup of one user's devices (``devices_of_user``, ``--lookups``
random users, right after the load and again once the database has settled: ``settle``),
then ``ringpush serve`` (own process) on that database with ``ringpush sandbox``:
registration through the API (``PUT /v1/devices``, a sample of 200) and calls to random
callees at ``--rate`` (call → APNs request; 200 callees with four devices each, whose
tokens the sandbox issued, among the loaded users), the database's size and serve's RSS.

    .venv/bin/python bench/registry_scale.py [--sizes 10000,100000,1000000]
        [--database sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from ringpush.apns.credentials import generate_signing_key
from ringpush.apns.environment import Environment
from ringpush.apns.push_type import PushType
from ringpush.registry import SecretBox, SqlRegistry, open_registry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.figures import percentile
from bench.http_load import LoadClient
from bench.processes import Processes
from bench.serving import (
    ADMIN_HEADERS,
    SandboxProcess,
    create_app,
    register_callees,
    serve_env,
    start_sandbox,
    start_serve,
)
from tests.conftest import create_database
from tests.postgres_server import PostgresServer

DEVICES_PER_USER = 4
APP = "scale"
CALLEES = 200


async def load(registry: SqlRegistry, start: int, stop: int, concurrency: int) -> float:
    """Register devices ``start`` … ``stop`` (user ``n // 4``); returns seconds taken."""
    now = datetime.now(UTC)
    numbers = iter(range(start, stop))
    t0 = time.perf_counter()

    async def worker() -> None:
        for n in numbers:
            await registry.register_device(
                app_id=APP,
                user_id=f"u{n // DEVICES_PER_USER}",
                device_id=f"d{n % DEVICES_PER_USER}",
                push_type=PushType.VOIP,
                token=secrets.token_hex(32),
                environment=Environment.DEVELOPMENT,
                now=now,
            )

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0


def _p50_p99(values: list[float], digits: int) -> str:
    return f"p50 {percentile(values, 0.5):.{digits}f} p99 {percentile(values, 0.99):.{digits}f}"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def lookups(registry: SqlRegistry, users: int, count: int) -> list[float]:
    """``count`` lookups of a random loaded user's devices, in ms each."""
    taken = []
    for _ in range(count):
        t0 = time.perf_counter()
        found = await registry.devices_of_user(APP, f"u{random.randrange(users)}")
        taken.append((time.perf_counter() - t0) * 1000)
        assert len(found) == DEVICES_PER_USER, (len(found), users)
    return taken


async def settle(url: str) -> float:
    """What a database does by itself after a bulk load, done now: PostgreSQL's autovacuum
    vacuums and analyzes the new rows within minutes (competing with the lookups while it
    runs), so ``VACUUM (ANALYZE) devices`` runs here to measure the steady state as well;
    SQLite keeps no such debt. Returns the seconds it took."""
    if url.startswith("sqlite"):
        return 0.0
    t0 = time.perf_counter()
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("VACUUM (ANALYZE) devices")
    finally:
        await connection.close()
    return time.perf_counter() - t0


async def place_calls(
    caller: LoadClient,
    service: dict[str, str],
    control: httpx.AsyncClient,
    args: argparse.Namespace,
) -> list[float]:
    """Calls to the callees at ``args.rate``; call → APNs request for each push, in ms
    (after one call that warms the connection, the provider token and the caches)."""
    await caller.post("/v1/calls", {"caller_id": "w", "callee_user_id": "c0"}, service)
    await control.post("/reset", json={})
    sent_at: dict[str, float] = {}

    async def call(i: int) -> None:
        started = time.time()
        status, body = await caller.post(
            "/v1/calls", {"caller_id": "a", "callee_user_id": f"c{i % CALLEES}"}, service
        )
        if status == 201:
            for delivery in body["deliveries"]:
                sent_at[delivery["apns_id"]] = started

    tasks = []
    t0 = time.perf_counter()
    for i in range(args.calls):
        delay = t0 + i / args.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(call(i)))
    await asyncio.gather(*tasks)
    await asyncio.sleep(1)
    records = (await control.get("/notifications")).json()
    return [(r["time"] - sent_at[r["apns_id"]]) * 1000 for r in records if r["apns_id"] in sent_at]


async def database_mb(url: str, work: Path) -> float:
    if url.startswith("sqlite"):
        files = work.glob("scale.db*")  # noqa: ASYNC240 - a few files, between measurements
        return sum(p.stat().st_size for p in files) / 2**20
    connection = await asyncpg.connect(url)
    try:
        size = await connection.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await connection.close()
    return int(size) / 2**20


async def measure(
    args: argparse.Namespace, kind: str, processes: Processes, postgres: PostgresServer | None
) -> None:
    work = processes.work / kind
    work.mkdir()
    secret = os.urandom(32)
    env = serve_env()
    env["RINGPUSH_SECRET_KEY"] = base64.b64encode(secret).decode()
    url = f"sqlite:///{work / 'scale.db'}" if kind == "sqlite" else None
    if url is None:
        assert postgres is not None
        url = await create_database(postgres)
    key = generate_signing_key()
    sandbox: SandboxProcess = await start_sandbox(processes, key, name=f"sandbox-{kind}")
    # The app first, through serve, so that it is stored as the API stores it.
    base = await start_serve(processes, f"serve-{kind}", work / "state", url, env)
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        service = await create_app(http, APP, key, f"https://127.0.0.1:{sandbox.port}", sandbox.ca)
        # The callees: 200 users whose four tokens the sandbox knows (it accepts their
        # pushes), among all the loaded ones (whose tokens it has never heard of).
        async with httpx.AsyncClient(base_url=sandbox.control, timeout=60) as control:
            await register_callees(http, control, APP, CALLEES, DEVICES_PER_USER, user_prefix="c")
    processes.stop(f"serve-{kind}")
    loaded = 0
    for size in args.sizes:
        registry = await open_registry(url, SecretBox({"env": secret}, "env"))
        try:
            seconds = await load(registry, loaded, size, 1 if kind == "sqlite" else 8)
            rate = (size - loaded) / seconds
            loaded = size
            users = size // DEVICES_PER_USER
            fresh = await lookups(registry, users, args.lookups)
            settling = await settle(url)
            settled = await lookups(registry, users, args.lookups)
        finally:
            await registry.close()
        base = await start_serve(processes, f"serve-{kind}-{size}", work / "state", url, env)
        pid = processes.running[f"serve-{kind}-{size}"].pid
        caller = LoadClient(base)
        async with (
            httpx.AsyncClient(base_url=base, timeout=60) as http,
            httpx.AsyncClient(base_url=sandbox.control, timeout=60) as control,
        ):
            registrations = []
            for n in range(200):
                minted = await http.post(
                    f"/v1/apps/{APP}/user-tokens", headers=ADMIN_HEADERS, json={"user_id": f"s{n}"}
                )
                user = {"Authorization": f"Bearer {minted.json()['token']}"}
                body = {"token": secrets.token_hex(32), "environment": "development"}
                t0 = time.perf_counter()
                status, _ = await caller.request("PUT", "/v1/devices/phone", body, user)
                registrations.append((time.perf_counter() - t0) * 1000)
                assert status in (200, 201), status
            wire = await place_calls(caller, service, control, args)
        print(
            f"{kind:<10} {size:>9}  load {rate:>6.0f}/s  lookup {_p50_p99(fresh, 2)} ms"
            f" (settled in {settling:.0f} s: {_p50_p99(settled, 2)} ms)"
            f"  API registration {_p50_p99(registrations, 1)} ms"
            f"  call→APNs {_p50_p99(wire, 1)} ms ({len(wire)})"
            f"  db {await database_mb(url, work):.0f} MB  serve RSS {rss_mb(pid):.0f} MB",
            flush=True,
        )
        await caller.close()
        processes.stop(f"serve-{kind}-{size}")


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        processes = Processes(Path(tmp))
        postgres = PostgresServer() if "postgres" in args.database else None
        try:
            if postgres is not None:
                postgres.start()
            for kind in args.database:
                await measure(args, kind, processes, postgres)
        finally:
            processes.stop_all()
            if postgres is not None:
                postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[10_000, 100_000, 1_000_000],
    )
    parser.add_argument(
        "--database", type=lambda text: text.split(","), default=["sqlite", "postgres"]
    )
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--lookups", type=int, default=3000)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
