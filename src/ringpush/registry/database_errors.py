"""A database that cannot take a statement right now, told apart from a bug.

Both engines fail the same few ways in operation: another process holds the write lock
past the busy timeout, the file system or the server's disk is full, the database is
read-only (a file system remounted, a standby server), the disk fails, the server is
gone. Each is :class:`DatabaseUnavailable` with a :class:`Trouble` naming which, so the
API answers 503 ``database_unavailable`` with ``Retry-After`` (the caller retries, nothing
was stored) and the delivery engine backs off and tries again, instead of a 500 and a
traceback per request. Any other error of the driver (a constraint, a statement SQLite
or PostgreSQL does not accept) is a bug and stays what it is.

:class:`WriteHealth` remembers whether the last write failed, for ``/readyz``.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

import asyncpg

from ringpush.registry.store import DatabaseUnavailable, Trouble

_SAYS = {
    Trouble.LOCKED: "the database is locked by another process or transaction",
    Trouble.BUSY: "every connection to the database is in use",
    Trouble.FULL: "the database's disk is full",
    Trouble.READ_ONLY: "the database is read-only",
    Trouble.IO_ERROR: "the database's disk failed to read or write, or its file cannot be opened",
    Trouble.UNREACHABLE: "the database server cannot be reached",
}

#: SQLite's primary result codes (the low byte of an extended code), by what they mean.
_SQLITE = {
    sqlite3.SQLITE_BUSY: Trouble.LOCKED,
    sqlite3.SQLITE_LOCKED: Trouble.LOCKED,
    sqlite3.SQLITE_FULL: Trouble.FULL,
    sqlite3.SQLITE_READONLY: Trouble.READ_ONLY,
    sqlite3.SQLITE_IOERR: Trouble.IO_ERROR,
    sqlite3.SQLITE_CANTOPEN: Trouble.IO_ERROR,
}

#: PostgreSQL's SQLSTATE codes (and classes, by their first two characters).
_POSTGRES = {
    "55P03": Trouble.LOCKED,  # lock_not_available (lock_timeout)
    "57014": Trouble.LOCKED,  # query_canceled (statement_timeout)
    "53100": Trouble.FULL,  # disk_full
    "25006": Trouble.READ_ONLY,  # read_only_sql_transaction (a standby)
    "58030": Trouble.IO_ERROR,  # io_error
    "57P01": Trouble.UNREACHABLE,  # admin_shutdown
    "57P02": Trouble.UNREACHABLE,  # crash_shutdown
    "57P03": Trouble.UNREACHABLE,  # cannot_connect_now
    "08": Trouble.UNREACHABLE,  # connection_exception
    "53": Trouble.UNREACHABLE,  # insufficient_resources: out of memory, connections
}


def unavailable(trouble: Trouble, detail: str) -> DatabaseUnavailable:
    return DatabaseUnavailable(f"{_SAYS[trouble]} ({detail})", trouble)


def trouble_of(exc: BaseException) -> DatabaseUnavailable | None:
    """``exc`` as :class:`DatabaseUnavailable` when it says the database cannot take
    statements now; None when it is anything else."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        kind = _SQLITE.get(code & 0xFF) if code is not None else None
        return unavailable(kind, str(exc)) if kind is not None else None
    if isinstance(exc, asyncpg.PostgresError):
        state = str(getattr(exc, "sqlstate", "") or "")
        trouble: Trouble | None = _POSTGRES.get(state) or _POSTGRES.get(state[:2])
        return unavailable(trouble, type(exc).__name__) if trouble is not None else None
    if isinstance(exc, asyncpg.InterfaceError) and "connection" in str(exc).lower():
        return unavailable(Trouble.UNREACHABLE, str(exc))
    if isinstance(exc, OSError):  # refused, reset, timed out (ConnectionError, TimeoutError)
        return unavailable(Trouble.UNREACHABLE, type(exc).__name__)
    return None


@dataclass
class WriteHealth:
    """Whether the database took the last write: failing since when, and why."""

    trouble: Trouble | None = None
    since: float | None = None
    failures: int = 0

    def failed(self, error: DatabaseUnavailable) -> None:
        if self.trouble is None:
            self.since = time.time()
        self.trouble = error.trouble
        self.failures += 1

    def succeeded(self) -> None:
        if self.trouble is not None:
            self.trouble = None
            self.since = None
            self.failures = 0
