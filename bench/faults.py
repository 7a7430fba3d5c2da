"""Faults (issue 14): VoIP pushes while APNs misbehaves, and what became of each one.

    python bench/faults.py [--calls 10000] [--rate 200] [--error-rate 0.05]
        [--goaway-every 1000] [--drop-every 700]

``ringpush sandbox`` answers a share of the pushes 500 or 503 (half each), tells each
connection GOAWAY after ``--goaway-every`` streams and drops a connection (TCP, before the
answer) after ``--drop-every`` pushes; ``ringpush serve`` (SQLite) takes ``--calls`` calls,
one VoIP push each. Once every push has ended (or its ring time is over), the outbox rows
in serve's database and the pushes the sandbox accepted are compared: a push is lost if
it neither reached the sandbox nor ended with a recorded reason; a duplicate is a second
arrival of the same apns-id (at-least-once), which is allowed; two different apns-ids for
one call's device would not be.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx

from bench.call_latency import paced
from bench.http_load import LoadClient
from bench.processes import Processes
from bench.serving import create_app, register_callees, serve_env, start_sandbox, start_serve
from ringpush.apns.credentials import generate_signing_key

#: Pushes still open after the last call when the run gives up waiting (ring time 60 s).
SETTLE_SECONDS = 90


async def run(args: argparse.Namespace) -> None:
    key = generate_signing_key()
    with tempfile.TemporaryDirectory() as tmp:
        processes = Processes(Path(tmp))
        try:
            box = await start_sandbox(processes, key)
            database = Path(tmp) / "faults.db"
            base = await start_serve(
                processes, "serve", Path(tmp) / "state", f"sqlite:///{database}", serve_env()
            )
            async with (
                httpx.AsyncClient(base_url=base, timeout=30) as http,
                httpx.AsyncClient(base_url=box.control, timeout=60) as sandbox,
            ):
                service = await create_app(
                    http, "faults", key, f"https://127.0.0.1:{box.port}", box.ca
                )
                await register_callees(http, sandbox, "faults", args.callees, 1)
                faults = {
                    "error_rate": args.error_rate,
                    "goaway_after_streams": args.goaway_every,
                    "reset_after_streams": args.drop_every,
                }
                assert (await sandbox.post("/faults", json=faults)).status_code == 200
                caller = LoadClient(base)
                answers: collections.Counter[int] = collections.Counter()
                flip = 0

                async def place(i: int) -> None:
                    nonlocal flip
                    if i % 200 == 0:  # half the errors 500, half 503
                        flip ^= 1
                        await sandbox.post("/faults", json={"error_status": 500 + 3 * flip})
                    status, _ = await caller.post(
                        "/v1/calls",
                        {
                            "call_id": f"c{i}",
                            "caller_id": "a",
                            "callee_user_id": f"u{i % args.callees}",
                        },
                        service,
                    )
                    answers[status] += 1

                started = time.monotonic()
                await paced(args.rate, args.calls, place)
                placed = time.monotonic() - started
                await caller.close()
                open_rows = -1
                deadline = time.monotonic() + SETTLE_SECONDS
                while time.monotonic() < deadline:
                    open_rows = count_open(database)
                    if open_rows == 0:
                        break
                    await asyncio.sleep(1)
                records = (await sandbox.get("/notifications")).json()
        finally:
            processes.stop_all()
        report(args, answers, placed, open_rows, database, records)


def count_open(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT COUNT(*) FROM outbox WHERE call_id IS NOT NULL"
            " AND state IN ('pending', 'sending')"
        ).fetchone()
    return int(row[0])


def report(
    args: argparse.Namespace,
    answers: collections.Counter[int],
    placed: float,
    open_rows: int,
    database: Path,
    records: list[dict[str, object]],
) -> None:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT call_id, device_id, apns_id, state, status, reason, attempts FROM outbox"
            " WHERE call_id LIKE 'c%'"
        ).fetchall()
    arrived = collections.Counter(str(r["apns_id"]) for r in records)
    states = collections.Counter(state for _, _, _, state, _, _, _ in rows)
    reasons = collections.Counter(
        str(reason) for _, _, _, state, _, reason, _ in rows if state != "delivered"
    )
    lost = [
        call
        for call, _, apns_id, state, _, reason, _ in rows
        if apns_id not in arrived and not (state in ("failed", "dropped") and reason)
    ]
    ids_per_device = collections.Counter((call, device) for call, device, _, _, _, _, _ in rows)
    attempts = collections.Counter(tries for *_, tries in rows)
    print(
        f"calls: {args.calls} at {args.rate}/s ({placed:.0f} s), answers {dict(answers)};"
        f" faults: {args.error_rate:.0%} 500/503, GOAWAY every {args.goaway_every} streams,"
        f" connection dropped every {args.drop_every} pushes"
    )
    print(f"pushes stored: {len(rows)}; final states: {dict(states)}; still open: {open_rows}")
    print(f"not delivered, by reason: {dict(reasons.most_common(5))}")
    print(f"attempts per push: {dict(sorted(attempts.items()))}")
    print(
        f"arrived at the sandbox: {len(arrived)} distinct apns-ids,"
        f" {sum(arrived.values()) - len(arrived)} duplicate arrivals (same apns-id)"
    )
    print(f"lost (neither arrived nor ended with a reason): {len(lost)}")
    print(
        f"devices of one call with two apns-ids: {sum(1 for n in ids_per_device.values() if n > 1)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--callees", type=int, default=500)
    parser.add_argument("--error-rate", type=float, default=0.05)
    parser.add_argument("--goaway-every", type=int, default=1000)
    parser.add_argument("--drop-every", type=int, default=700)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
