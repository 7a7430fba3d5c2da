"""Faults (issue 14): VoIP pushes while APNs misbehaves, and what became of each one.

    python bench/faults.py [--calls 10000] [--rate 200] [--error-rate 0.05]
        [--goaway-every 1000] [--drop-every 700]
    python bench/faults.py --outage 30 [--rate 100]

``ringpush sandbox`` answers a share of the pushes 500 or 503 (half each), tells each
connection GOAWAY after ``--goaway-every`` streams and drops a connection (TCP, before the
answer) after ``--drop-every`` pushes; ``ringpush serve`` (SQLite) takes ``--calls`` calls,
one VoIP push each. Once every push has ended (or its ring time is over), the outbox rows
in serve's database and the pushes the sandbox accepted are compared: a push is lost if
it neither reached the sandbox nor ended with a recorded reason; a duplicate is a second
arrival of the same apns-id (at-least-once), which is allowed; two different apns-ids for
one call's device would not be.

``--outage SECONDS`` puts a TCP proxy between serve and the sandbox instead (no other
fault) and, 10 s into the calls, cuts every connection through it and refuses new ones
for that long, then lets them through again; calls keep arriving throughout. A push
placed meanwhile must go out once APNs is back, within its ring time (60 s), or end
recorded as over its ring time; the run prints how long after its call each one arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from ringpush.apns.credentials import generate_signing_key

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.call_latency import paced
from bench.figures import percentile
from bench.http_load import LoadClient
from bench.processes import Processes
from bench.serving import create_app, register_callees, serve_env, start_sandbox, start_serve

#: Pushes still open after the last call when the run gives up waiting (ring time 60 s).
SETTLE_SECONDS = 90
#: Seconds of calls before the outage begins, and after it ends.
OUTAGE_MARGIN = 10


class OutageProxy:
    """TCP between serve and the sandbox, which can go down: every connection through it
    cut at once, and new ones closed as soon as they are accepted."""

    def __init__(self, port: int) -> None:
        self._target = port
        self.down = False
        self._open: set[asyncio.StreamWriter] = set()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        self.go_down()
        if self._server is not None:
            self._server.close()

    def go_down(self) -> None:
        self.down = True
        for writer in list(self._open):
            writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._open |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.transport.abort()
                self._open.discard(sink)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def run(args: argparse.Namespace) -> None:
    key = generate_signing_key()
    with tempfile.TemporaryDirectory() as tmp:
        processes = Processes(Path(tmp))
        proxy: OutageProxy | None = None
        try:
            box = await start_sandbox(processes, key)
            database = Path(tmp) / "faults.db"
            base = await start_serve(
                processes, "serve", Path(tmp) / "state", f"sqlite:///{database}", serve_env()
            )
            proxy = OutageProxy(box.port)
            await proxy.start()
            port = proxy.port if args.outage else box.port
            async with (
                httpx.AsyncClient(base_url=base, timeout=30) as http,
                httpx.AsyncClient(base_url=box.control, timeout=60) as sandbox,
            ):
                service = await create_app(http, "faults", key, f"https://127.0.0.1:{port}", box.ca)
                await register_callees(http, sandbox, "faults", args.callees, 1)
                if not args.outage:
                    faults = {
                        "error_rate": args.error_rate,
                        "goaway_after_streams": args.goaway_every,
                        "reset_after_streams": args.drop_every,
                    }
                    assert (await sandbox.post("/faults", json=faults)).status_code == 200
                calls = (
                    args.calls
                    if not args.outage
                    else int(args.rate * (args.outage + 2 * OUTAGE_MARGIN))
                )
                caller = LoadClient(base)
                answers: collections.Counter[int] = collections.Counter()
                placed_at: dict[str, float] = {}
                flip = 0

                async def place(i: int) -> None:
                    nonlocal flip
                    if i % 200 == 0 and not args.outage:  # half the errors 500, half 503
                        flip ^= 1
                        await sandbox.post("/faults", json={"error_status": 500 + 3 * flip})
                    placed_at[f"c{i}"] = time.time()
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

                async def outage() -> None:
                    await asyncio.sleep(OUTAGE_MARGIN)
                    proxy.go_down()
                    await asyncio.sleep(args.outage)
                    proxy.down = False

                started = time.monotonic()
                window = asyncio.create_task(outage()) if args.outage else None
                await paced(args.rate, calls, place)
                if window is not None:
                    await window
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
                stats = (await sandbox.get("/stats")).json()
                applied = {
                    **stats.get("faults_applied", {}),
                    "connections": stats.get("connections_opened"),
                }
        finally:
            if proxy is not None:
                proxy.stop()
                await asyncio.sleep(0.1)  # the pipes see their connections end
            processes.stop_all()
        print(f"faults the sandbox applied, and connections opened: {applied}")
        report(args, calls, answers, placed, open_rows, database, records)
        if args.outage:
            report_outage(database, records, placed_at, started_wall=min(placed_at.values()))


def report_outage(
    database: Path,
    records: list[dict[str, Any]],
    placed_at: dict[str, float],
    started_wall: float,
) -> None:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        pushes = dict(
            db.execute("SELECT apns_id, call_id FROM outbox WHERE call_id LIKE 'c%'").fetchall()
        )
    arrival: dict[str, float] = {}
    for record in records:
        call = pushes.get(str(record["apns_id"]))
        if call is not None:
            arrival.setdefault(call, float(record["time"]))
    begin = started_wall + OUTAGE_MARGIN
    during = sorted(
        arrival[call] - placed
        for call, placed in placed_at.items()
        if call in arrival and placed >= begin
    )
    waited = [d for d in during if d > 1.0]
    if waited:
        print(
            f"calls that waited for APNs to come back: {len(waited)}; delay from the call to"
            f" its push: min {waited[0]:.1f} s, p50 {percentile(waited, 0.5):.1f} s,"
            f" max {waited[-1]:.1f} s"
        )


def count_open(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT COUNT(*) FROM outbox WHERE call_id IS NOT NULL"
            " AND state IN ('pending', 'sending')"
        ).fetchone()
    return int(row[0])


def report(
    args: argparse.Namespace,
    calls: int,
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
    faults = (
        f"APNs unreachable for {args.outage:g} s"
        if args.outage
        else f"{args.error_rate:.0%} 500/503, GOAWAY every {args.goaway_every} streams,"
        f" connection dropped every {args.drop_every} pushes"
    )
    print(f"calls: {calls} at {args.rate}/s ({placed:.0f} s), answers {dict(answers)}; {faults}")
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
    parser.add_argument("--outage", type=float, default=0, help="seconds APNs is unreachable")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
