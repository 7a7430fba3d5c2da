"""Call → APNs-request latency through the whole server, at a steady call rate.

Starts ``ringpush sandbox`` and ``--instances`` ``ringpush serve`` processes (on SQLite,
or on one PostgreSQL database: ``--database postgres`` starts a throwaway server the way
the tests do, or give a ``postgresql://`` URL), creates an app pointed at the sandbox and
one VoIP device per callee, then places calls with ``POST /v1/calls`` at ``--rate``
calls/s for ``--seconds``, round-robin over the instances. Latency per call is the time
from sending the request to the sandbox receiving the VoIP push (the sandbox's record of
the push, same machine clock). CPU time per call is reported for every process (the
server instances, the sandbox, PostgreSQL with all its backends, this load generator):
on 2 cores they share the machine, and the sum says when it, not ringpush, is the limit.

    .venv/bin/python bench/call_latency.py [--rate 200] [--seconds 10] [--callees 200]
        [--database sqlite|postgres|postgresql://…] [--instances 1]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ringpush.apns.credentials import GeneratedKey, generate_signing_key

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.http_load import LoadClient
from tests.conftest import create_database
from tests.postgres_server import PostgresServer

ADMIN = "rpa_bench_" + "x" * 30


# -- CPU time per process tree (Linux /proc) ------------------------------------------


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


# -- the processes under test ---------------------------------------------------------


@dataclass
class Processes:
    work: Path
    running: dict[str, subprocess.Popen[str]] = field(default_factory=dict)

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None) -> None:
        with open(self.work / f"{name}.log", "w") as stderr:
            self.running[name] = subprocess.Popen(
                [sys.executable, "-m", "ringpush", *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
            )

    async def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> str:
        """Start ``ringpush <args>`` and return the line it prints once it is up."""
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

    def stop_all(self) -> None:
        for name, process in self.running.items():
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                print(f"{name} ignored SIGTERM for 15 s: killed", file=sys.stderr)
                process.kill()
                process.wait()


async def main_async(args: argparse.Namespace) -> None:
    if args.database == "sqlite" and args.instances != 1:
        raise SystemExit("SQLite serves one instance: use --database postgres")
    key = generate_signing_key()
    with tempfile.TemporaryDirectory() as tmp:
        processes = Processes(Path(tmp))
        postgres = PostgresServer() if args.database == "postgres" else None
        try:
            if postgres is not None:
                postgres.start()
            await measure(args, key, processes, postgres)
        finally:
            processes.stop_all()
            if postgres is not None:
                postgres.stop()


async def measure(
    args: argparse.Namespace,
    key: GeneratedKey,
    processes: Processes,
    postgres: PostgresServer | None,
) -> None:
    work = processes.work
    key_file = work / "AuthKey.p8"
    key_file.write_bytes(key.pem)
    sandbox_line = await processes.start(
        "sandbox",
        [
            "sandbox", "--port", "0", "--control-port", "0",
            "--ca-out", str(work / "ca.pem"),
            "--key", f"{key_file}:{key.key_id}:{key.team_id}",
        ],
    )  # fmt: skip
    info = json.loads(sandbox_line)
    control = f"http://127.0.0.1:{info['control_port']}"
    env = {
        **os.environ,
        "RINGPUSH_ADMIN_KEY": ADMIN,
        "RINGPUSH_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
    }
    if args.database == "sqlite":
        database = f"sqlite:///{work / 'bench.db'}"
    elif postgres is not None:
        database = await create_database(postgres)
    else:
        database = args.database
    bases = []
    for n in range(args.instances):
        line = await processes.start(
            f"serve{n}",
            [
                "serve",
                "--port",
                "0",
                "--state-dir",
                str(work / f"state{n}"),
                "--database",
                database,
            ],
            env,
        )
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        bases.append(f"http://127.0.0.1:{match.group(1)}")
    admin = {"Authorization": f"Bearer {ADMIN}"}
    callers = [LoadClient(base) for base in bases]  # lean: see bench/http_load.py
    async with (
        httpx.AsyncClient(base_url=bases[0], timeout=30) as http,  # setting up only
        httpx.AsyncClient(base_url=control, timeout=60) as sandbox_http,
    ):
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
                    "/v1/apps/bench/user-tokens", headers=admin, json={"user_id": f"u{n}"}
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

        watched = {name: process.pid for name, process in processes.running.items()}
        if postgres is not None and postgres.pid is not None:
            watched["postgres"] = postgres.pid
        cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
        generator_cpu = time.process_time()
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
        while time.perf_counter() - t0 < elapsed + 60:  # the last pushes, and their CPU
            if (await sandbox_http.get("/stats")).json()["accepted"] >= len(sent_at):
                break
            await asyncio.sleep(0.2)
        cpu_used = {
            name: cpu_since(cpu_before[name], cpu_seconds(pid)) for name, pid in watched.items()
        }
        cpu_used["load generator"] = time.process_time() - generator_cpu
        records = (await sandbox_http.get("/notifications")).json()
        for caller in callers:
            await caller.close()

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
    served = max(1, total - failures)
    print(
        "CPU per call (ms): "
        + ", ".join(f"{name} {used / served * 1000:.2f}" for name, used in cpu_used.items())
        + f"; all together {sum(cpu_used.values()) / served * 1000:.2f}"
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
