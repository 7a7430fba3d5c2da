"""Call → APNs-request latency through the whole server, at a steady call rate.

Starts ``ringpush sandbox`` and ``--instances`` ``ringpush serve`` processes (on SQLite,
or on one PostgreSQL database: ``--database postgres`` starts a throwaway server the way
the tests do, or give a ``postgresql://`` URL), creates an app pointed at the sandbox and
one VoIP device per callee, then places calls with ``POST /v1/calls`` at ``--rate``
calls/s for ``--seconds``, round-robin over the instances. Latency per call is the time
from sending the request to the sandbox receiving the VoIP push (the sandbox's record of
the push, same machine clock).

    .venv/bin/python bench/call_latency.py [--rate 200] [--seconds 10] [--callees 200]
        [--database sqlite|postgres|postgresql://…] [--instances 1]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ringpush.apns.credentials import generate_signing_key

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import create_database
from tests.postgres_server import PostgresServer

ADMIN = "rpa_bench_" + "x" * 30


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ringpush", *args], stdout=subprocess.PIPE, text=True, env=env
    )


async def main_async(args: argparse.Namespace) -> None:
    key = generate_signing_key()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        key_file = work / "AuthKey.p8"
        key_file.write_bytes(key.pem)
        sandbox = start(
            [
                "sandbox", "--port", "0", "--control-port", "0",
                "--ca-out", str(work / "ca.pem"),
                "--key", f"{key_file}:{key.key_id}:{key.team_id}",
            ]
        )  # fmt: skip
        assert sandbox.stdout is not None
        info = json.loads(sandbox.stdout.readline())
        control = f"http://127.0.0.1:{info['control_port']}"
        env = {
            **os.environ,
            "RINGPUSH_ADMIN_KEY": ADMIN,
            "RINGPUSH_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
        }
        postgres: PostgresServer | None = None
        if args.database == "sqlite":
            if args.instances != 1:
                raise SystemExit("SQLite serves one instance: use --database postgres")
            database = f"sqlite:///{work / 'bench.db'}"
        elif args.database == "postgres":
            postgres = PostgresServer()
            postgres.start()
            database = await create_database(postgres)
        else:
            database = args.database
        servers = []
        bases = []
        for n in range(args.instances):
            server = start(
                [
                    "serve", "--port", "0", "--state-dir", str(work / f"state{n}"),
                    "--database", database,
                ],
                env,
            )  # fmt: skip
            assert server.stdout is not None
            match = re.search(r"http://127\.0\.0\.1:(\d+)", server.stdout.readline())
            assert match
            servers.append(server)
            bases.append(f"http://127.0.0.1:{match.group(1)}")
        admin = {"Authorization": f"Bearer {ADMIN}"}
        try:
            limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
            async with contextlib.AsyncExitStack() as stack:
                clients = [
                    await stack.enter_async_context(
                        httpx.AsyncClient(base_url=base, timeout=30, limits=limits)
                    )
                    for base in bases
                ]
                http = clients[0]
                await http.put(
                    "/v1/apps/bench",
                    headers=admin,
                    json={
                        "bundle_id": "com.example.bench",
                        "team_id": key.team_id,
                        "key_id": key.key_id,
                        "signing_key": key.pem.decode(),
                        "default_environment": "development",
                        "apns_url": f"https://127.0.0.1:{info['port']}",
                        "ca_pem": (work / "ca.pem").read_text(),
                    },
                )
                service_key = (
                    await http.post("/v1/apps/bench/service-keys", headers=admin, json={})
                ).json()["key"]
                service = {"Authorization": f"Bearer {service_key}"}
                async with httpx.AsyncClient(base_url=control) as sandbox_http:
                    for n in range(args.callees):
                        token = (
                            await sandbox_http.post(
                                "/tokens",
                                json={
                                    "bundle_id": "com.example.bench",
                                    "push_type": "voip",
                                    "environment": "development",
                                },
                            )
                        ).json()["token"]
                        user = (
                            await http.post(
                                "/v1/apps/bench/user-tokens",
                                headers=admin,
                                json={"user_id": f"u{n}"},
                            )
                        ).json()["token"]
                        await http.put(
                            "/v1/devices/phone",
                            headers={"Authorization": f"Bearer {user}"},
                            json={"token": token, "environment": "development"},
                        )
                    await sandbox_http.post("/reset", json={})
                sent_at: dict[str, float] = {}
                failures = 0

                async def place(i: int) -> None:
                    nonlocal failures
                    started = time.time()
                    response = await clients[i % len(clients)].post(
                        "/v1/calls",
                        headers=service,
                        json={"caller_id": "alice", "callee_user_id": f"u{i % args.callees}"},
                    )
                    if response.status_code != 201:
                        failures += 1
                        return
                    for delivery in response.json()["deliveries"]:
                        sent_at[delivery["apns_id"]] = started

                total = int(args.rate * args.seconds)
                tasks = []
                t0 = time.perf_counter()
                for i in range(total):
                    delay = t0 + i / args.rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(place(i)))
                await asyncio.gather(*tasks)
                elapsed = time.perf_counter() - t0
                async with httpx.AsyncClient(base_url=control, timeout=60) as sandbox_http:
                    records = (await sandbox_http.get("/notifications")).json()
        finally:
            for process in [*servers, sandbox]:
                process.terminate()
                process.wait(15)
            if postgres is not None:
                postgres.stop()
    latencies = sorted(
        (r["time"] - sent_at[r["apns_id"]]) * 1000 for r in records if r["apns_id"] in sent_at
    )
    print(
        f"{args.database.split(':')[0]}, {args.instances} instance(s):"
        f" {total} calls at {args.rate}/s (offered) in {elapsed:.1f} s;"
        f" {len(latencies)} VoIP pushes received by APNs (sandbox); {failures} failed calls"
    )
    if latencies:
        p50 = latencies[len(latencies) // 2]
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(
            f"call -> APNs request latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms,"
            f" mean {statistics.fmean(latencies):.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--callees", type=int, default=200)
    parser.add_argument("--database", default="sqlite", help="sqlite, postgres or a URL")
    parser.add_argument("--instances", type=int, default=1)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
