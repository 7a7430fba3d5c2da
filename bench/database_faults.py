"""Database faults (issue 14): calls while serve's database is locked by another
process, on a full disk, or read-only; what callers heard, what was lost, and recovery.

    python bench/database_faults.py [--faults locked,full,read-only-start,pg-locked,pg-read-only]
        [--seconds 10] [--rate 50] [--callees 50]

Each fault gets a fresh ``ringpush serve`` and one shared ``ringpush sandbox``. Calls
arrive at ``--rate`` for ``--seconds`` before the fault, for ``--seconds`` while it lasts,
and for ``--seconds`` after it is lifted:

- ``locked`` (SQLite): another process holds ``BEGIN EXCLUSIVE`` on the database (a
  long write transaction: a backup tool, an operator's ``sqlite3`` shell), then commits;
- ``full`` (SQLite): a file fills the database's file system to its last byte, then is
  removed;
- ``read-only-start`` (SQLite): serve is stopped, its file system remounted read-only and
  serve started on it (Linux refuses to remount a file system read-only while a file on
  it is open for writing, so a running SQLite serve cannot meet this), then remounted
  read-write and started again: the start must fail with one line, the data survive;
- ``pg-locked`` (PostgreSQL): another session holds ``LOCK TABLE … IN EXCLUSIVE MODE``
  on the outbox and calls (reads go on, writes wait), then commits;
- ``pg-read-only`` (PostgreSQL): the server turns read-only under serve
  (``default_transaction_read_only``, as a standby after a failover would be), then
  read-write again.

The SQLite databases live on small tmpfs mounts; mounting needs no root: those faults
run in a user and mount namespace of their own (``unshare --user --map-root-user
--mount``), where the benchmark may mount and nothing outside sees the mounts.
PostgreSQL will not run as root, so its faults run outside that namespace, on a server
the benchmark starts (``tests/postgres_server.py``).

Printed per fault: the answers callers got (status and error code; a 5xx other than
503 ``database_unavailable``, or a body that is not the API's JSON error, is a failure),
what ``/readyz`` said, the calls accepted (201) whose push neither reached the sandbox
nor ended with a reason (lost: must be 0), calls refused whose push went out anyway, the
database's integrity afterwards, and how soon after the fault was lifted calls were
accepted again.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.call_latency import paced
from bench.figures import percentile
from bench.processes import Processes
from bench.serving import (
    SandboxProcess,
    create_app,
    register_callees,
    serve_env,
    start_sandbox,
    start_serve,
)
from ringpush.apns.credentials import GeneratedKey, generate_signing_key
from tests.conftest import create_database
from tests.postgres_server import PostgresServer

SQLITE_FAULTS = ("locked", "full", "read-only-start")
POSTGRES_FAULTS = ("pg-locked", "pg-read-only")
FAULTS = SQLITE_FAULTS + POSTGRES_FAULTS
#: The tmpfs each SQLite fault's database lives on.
TMPFS_SIZE = "64m"
#: How long the pushes of accepted calls may take to end once the calls stop.
SETTLE_SECONDS = 90
INSIDE = "RINGPUSH_BENCH_IN_NAMESPACE"
#: Enough connections that no caller waits for one while calls hang on a locked database.
CALLERS = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
#: The tables a PostgreSQL lock holds: what a call writes.
LOCKED_TABLES = "outbox, calls"


@dataclass
class Answers:
    """What the callers heard, by phase (before, during, after the fault)."""

    by_phase: dict[str, collections.Counter[str]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    accepted: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    bad: list[str] = field(default_factory=list)  # 5xx other than 503, or not our JSON
    first_accepted_after: float | None = None
    #: Seconds each refused call waited for its answer.
    refused_in: list[float] = field(default_factory=list)
    ready_during: collections.Counter[str] = field(default_factory=collections.Counter)
    notes: list[str] = field(default_factory=list)


class Fault:
    """One fault on serve's database, put on and taken off."""

    def __init__(self, kind: str, database: str, mount: Path | None) -> None:
        self.kind = kind
        self.database = database
        self.mount = mount
        self._locker: asyncio.subprocess.Process | None = None
        self._session: asyncpg.Connection | None = None

    async def begin(self) -> None:
        if self.kind == "locked":
            self._locker = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                SQLITE_LOCKER,
                sqlite_file(self.database),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            assert self._locker.stdout is not None
            line = await self._locker.stdout.readline()
            assert line.strip() == b"locked", line
        elif self.kind == "full":
            assert self.mount is not None
            await asyncio.to_thread(fill, self.mount / "filler")
        elif self.kind == "pg-locked":
            self._session = await asyncpg.connect(self.database)
            await self._session.execute("BEGIN")
            await self._session.execute(f"LOCK TABLE {LOCKED_TABLES} IN EXCLUSIVE MODE")
        elif self.kind == "pg-read-only":
            await self._set_read_only("on")

    async def end(self) -> None:
        if self.kind == "locked":
            assert self._locker is not None and self._locker.stdin is not None
            self._locker.stdin.write(b"release\n")
            await self._locker.stdin.drain()
            await asyncio.wait_for(self._locker.wait(), 10)
        elif self.kind == "full":
            assert self.mount is not None
            (self.mount / "filler").unlink()
        elif self.kind == "pg-locked":
            assert self._session is not None
            await self._session.execute("COMMIT")
            await self._session.close()
        elif self.kind == "pg-read-only":
            await self._set_read_only("off")

    async def _set_read_only(self, value: str) -> None:
        """Every session's next transaction read-only (or not): a reload applies a
        changed default to sessions already open."""
        admin = await asyncpg.connect(self.database)
        try:
            await admin.execute(f"ALTER SYSTEM SET default_transaction_read_only = {value}")
            await admin.execute("SELECT pg_reload_conf()")
        finally:
            await admin.close()


#: Holds the database's write lock until told to let go (run as its own process).
SQLITE_LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


def fill(path: Path) -> None:
    """Write ``path`` until its file system has no byte left."""
    with open(path, "wb", buffering=0) as filler:
        for size in (1 << 20, 4096, 512, 1):
            try:
                while True:
                    filler.write(b"\0" * size)
            except OSError:  # ENOSPC: on to a smaller piece
                pass


def mount(args: list[str]) -> None:
    subprocess.run(["mount", *args], check=True)


def sqlite_file(url: str) -> str:
    return url.removeprefix("sqlite:///")


async def run_fault(
    kind: str,
    args: argparse.Namespace,
    processes: Processes,
    box: SandboxProcess,
    key: GeneratedKey,
    postgres: PostgresServer | None,
) -> None:
    root = processes.work / kind
    root.mkdir(parents=True)
    fs: Path | None = None
    if postgres is not None:
        database = await create_database(postgres)
    else:
        fs = root / "fs"
        fs.mkdir()
        mount(["-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700", "tmpfs", str(fs)])
        database = f"sqlite:///{fs / 'ringpush.db'}"
    fault = Fault(kind, database, fs)
    answers = Answers()
    env = serve_env()
    name = f"serve-{kind}"
    base = await start_serve(processes, name, root / "state", database, env)
    try:
        async with (
            httpx.AsyncClient(base_url=base, timeout=30, limits=CALLERS) as http,
            httpx.AsyncClient(base_url=box.control, timeout=60) as sandbox,
        ):
            service = await create_app(http, kind, key, f"https://127.0.0.1:{box.port}", box.ca)
            await register_callees(http, sandbox, kind, args.callees, 1, user_prefix=f"{kind}-")
            lifted_at = 0.0

            async def place(phase: str, i: int) -> None:
                call_id = f"{phase}-{i}"
                sent = time.monotonic()
                status, code = await post_call(http, service, call_id, f"{kind}-{i % args.callees}")
                answers.by_phase[phase][f"{status} {code}".strip()] += 1
                if status == 201:
                    answers.accepted.add(call_id)
                    if lifted_at and sent >= lifted_at and answers.first_accepted_after is None:
                        answers.first_accepted_after = time.monotonic() - lifted_at
                else:
                    answers.refused.add(call_id)
                    answers.refused_in.append(time.monotonic() - sent)
                    if status >= 500 and (status, code) != (503, "database_unavailable"):
                        answers.bad.append(f"{phase} {call_id}: {status} {code}")

            calls = int(args.rate * args.seconds)
            await paced(args.rate, calls, lambda i: place("before", i))
            if kind == "read-only-start":
                assert fs is not None
                await restart_read_only(processes, name, root, database, env, fs, answers)
                base = await start_serve(processes, name, root / "state", database, env)
                http.base_url = httpx.URL(base)
            else:
                await fault.begin()
                watching = asyncio.create_task(watch_ready(http, answers.ready_during))
                during = asyncio.create_task(paced(args.rate, calls, lambda i: place("during", i)))
                await asyncio.sleep(args.seconds)  # the fault lasts this long, answered or not
                await fault.end()
                watching.cancel()
                await during  # calls placed during the fault, answered during or after it
            lifted_at = time.monotonic()
            await paced(args.rate, calls, lambda i: place("after", i))
            for _ in range(SETTLE_SECONDS):
                if await count_open(database) <= 0:
                    break
                await asyncio.sleep(1)
            records = (await sandbox.get("/notifications")).json()
            ready = await http.get("/readyz")
            answers.notes.append(f"/readyz after: {ready.status_code}")
    finally:
        processes.stop(name)
    await report(kind, database, answers, records)


async def restart_read_only(
    processes: Processes,
    name: str,
    root: Path,
    database: str,
    env: dict[str, str],
    fs: Path,
    answers: Answers,
) -> None:
    """Stop serve, remount its file system read-only, and try to start serve on it."""
    processes.stop(name)
    mount(["-o", "remount,ro", str(fs)])
    try:
        started = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "ringpush", "serve", "--port", "0", "--state-dir",
             str(root / "state"), "--database", database],
            env=env, capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        answers.notes.append("serve on a read-only file system: still running after 30 s")
        answers.bad.append("serve started on a read-only database")
    else:
        lines = started.stderr.strip().splitlines()
        answers.notes.append(
            f"serve on a read-only file system: exit {started.returncode},"
            f" {len(lines)} line(s) on stderr: {lines[-1] if lines else ''!r}"
        )
        if started.returncode != 2 or len(lines) != 1:
            answers.bad.append("start on a read-only database: not one line and exit 2")
    mount(["-o", "remount,rw", str(fs)])


async def post_call(
    http: httpx.AsyncClient, service: dict[str, str], call_id: str, callee: str
) -> tuple[int, str]:
    """Place one call; returns the status and the error code (empty when none)."""
    try:
        answer = await http.post(
            "/v1/calls",
            headers=service,
            json={"call_id": call_id, "caller_id": "a", "callee_user_id": callee},
        )
    except httpx.HTTPError as failed:
        return 599, f"transport: {type(failed).__name__}"
    if answer.status_code < 400:
        return answer.status_code, ""
    try:
        return answer.status_code, str(answer.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return answer.status_code, f"not the API's JSON: {answer.text[:60]!r}"


async def watch_ready(http: httpx.AsyncClient, seen: collections.Counter[str]) -> None:
    """What ``/readyz`` says while the fault lasts."""
    while True:
        try:
            ready = await http.get("/readyz")
            writes = ready.json().get("database_writes", {}).get("trouble", "ok")
            seen[f"{ready.status_code} writes {writes}"] += 1
        except httpx.HTTPError:
            seen["no answer"] += 1
        await asyncio.sleep(0.5)


async def query(database: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on serve's database, read beside serve."""
    if database.startswith("sqlite:///"):
        uri = f"file:{sqlite_file(database)}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
            return [tuple(row) for row in db.execute(sql).fetchall()]
    connection = await asyncpg.connect(database)
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


async def count_open(database: str) -> int:
    try:
        rows = await query(
            database, "SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')"
        )
    except (sqlite3.Error, asyncpg.PostgresError, OSError):
        return -1
    return int(rows[0][0])


async def report(kind: str, database: str, answers: Answers, records: list[dict[str, Any]]) -> None:
    if database.startswith("sqlite:///"):
        integrity = str((await query(database, "PRAGMA integrity_check"))[0][0])
    else:
        integrity = "ok (PostgreSQL)" if await query(database, "SELECT 1") else "no answer"
    rows = await query(database, "SELECT call_id, apns_id, state, reason FROM outbox")
    stored_calls = {row[0] for row in await query(database, "SELECT call_id FROM calls")}
    arrived = {str(r["apns_id"]) for r in records}
    pushes: dict[str, list[tuple[str, str, str | None]]] = collections.defaultdict(list)
    for call_id, apns_id, state, reason in rows:
        pushes[call_id].append((apns_id, state, reason))

    def ended(call_id: str) -> bool:
        return bool(pushes.get(call_id)) and all(
            apns_id in arrived or (state in ("failed", "dropped") and reason)
            for apns_id, state, reason in pushes[call_id]
        )

    lost = sorted(c for c in answers.accepted if not ended(c))
    refused_but_stored = sorted(c for c in answers.refused if c in stored_calls)
    refused_but_sent = [
        c for c in refused_but_stored if any(a in arrived for a, _, _ in pushes.get(c, []))
    ]
    print(f"\n== {kind}")
    for phase, counts in answers.by_phase.items():
        print(f"  answers {phase:6}: {dict(counts)}")
    if answers.ready_during:
        print(f"  /readyz while it lasted: {dict(answers.ready_during)}")
    for note in answers.notes:
        print(f"  {note}")
    if answers.refused_in:
        waits = sorted(answers.refused_in)
        print(
            f"  refused calls waited for their answer: p50 {percentile(waits, 0.5):.2f} s,"
            f" max {waits[-1]:.2f} s"
        )
    print(f"  5xx other than 503 database_unavailable, or not JSON: {len(answers.bad)}")
    for line in answers.bad[:5]:
        print(f"    {line}")
    print(f"  accepted: {len(answers.accepted)}; lost (accepted, push neither arrived nor"
          f" ended with a reason): {len(lost)} {lost[:5]}")  # fmt: skip
    print(
        f"  refused but stored anyway: {len(refused_but_stored)}"
        f" (their push sent: {len(refused_but_sent)})"
    )
    after = answers.first_accepted_after
    print(
        "  first call placed after the fault was lifted accepted within: "
        + (f"{after:.2f} s" if after is not None else "never")
    )
    print(f"  integrity: {integrity}")


async def run(args: argparse.Namespace, work: Path) -> None:
    key = generate_signing_key()
    processes = Processes(work)
    postgres: PostgresServer | None = None
    try:
        box = await start_sandbox(processes, key)
        for kind in args.faults:
            if kind in POSTGRES_FAULTS and postgres is None:
                postgres = PostgresServer()
                postgres.start()
            await run_fault(
                kind, args, processes, box, key, postgres if kind in POSTGRES_FAULTS else None
            )
    finally:
        processes.stop_all()
        if postgres is not None:
            postgres.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--callees", type=int, default=50)
    args = parser.parse_args()
    faults = [f for f in args.faults.split(",") if f]
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        parser.error(f"unknown fault {unknown[0]!r}: choose from {', '.join(FAULTS)}")
    inside = os.environ.get(INSIDE) == "1"
    on_sqlite = [f for f in faults if f in SQLITE_FAULTS]
    if on_sqlite and not inside:
        # The SQLite faults need mounts: in a namespace of their own, this same command.
        if shutil.which("unshare") is None:
            parser.error("the SQLite faults need unshare (util-linux) to mount a tmpfs")
        command = [sys.executable, *sys.argv[:1], *rest_of(sys.argv), "--faults",
                   ",".join(on_sqlite)]  # fmt: skip
        done = subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", *command],
            env={**os.environ, INSIDE: "1"},
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(done.returncode)
    args.faults = on_sqlite if inside else [f for f in faults if f in POSTGRES_FAULTS]
    if not args.faults:
        return
    work = Path(tempfile.mkdtemp(prefix="ringpush-dbfaults-"))
    try:
        asyncio.run(run(args, work))
    finally:
        if inside:
            for kind in args.faults:
                subprocess.run(["umount", str(work / kind / "fs")], check=False)
        shutil.rmtree(work, ignore_errors=True)


def rest_of(argv: list[str]) -> list[str]:
    """The command's arguments without ``--faults`` and its value."""
    rest: list[str] = []
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg == "--faults":
            skip = True
        elif not arg.startswith("--faults="):
            rest.append(arg)
    return rest


if __name__ == "__main__":
    main()
