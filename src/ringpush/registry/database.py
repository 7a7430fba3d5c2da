"""The little SQL a registry needs, over either engine: SQLite (one file) or PostgreSQL.

The registry writes its SQL once, with ``?`` placeholders and portable statements; a
:class:`Database` runs it on its engine (the PostgreSQL driver numbers the placeholders).
Where the engines really differ (claiming the outbox, column types, locks for
migrations) the registry asks :attr:`Database.dialect`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from ringpush.registry.database_errors import WriteHealth

T = TypeVar("T")

Args = Sequence[Any]


class Dialect(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class Row(Protocol):
    """A result row: by column name or by position (sqlite3.Row and asyncpg.Record)."""

    def __getitem__(self, key: str | int, /) -> Any: ...


class Executor(Protocol):
    async def execute(self, sql: str, args: Args = ()) -> int:
        """Run one statement; returns the number of rows it changed."""

    async def executemany(self, sql: str, rows: Sequence[Args]) -> None: ...

    async def fetchone(self, sql: str, args: Args = ()) -> Row | None: ...

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]: ...


class Notifications(Protocol):
    """Messages to every instance on the database (PostgreSQL ``NOTIFY``; on SQLite, a
    single-node engine, to this process's listeners)."""

    async def notify(self, channel: str, payload: str) -> None:
        """Send ``payload`` to every listener of ``channel``, this process's too."""

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call ``callback(payload)`` on the event loop for each message on ``channel``."""

    @property
    def listening(self) -> bool:
        """Whether messages from other instances can arrive now (for readiness checks)."""


class Database(Executor, Notifications, Protocol):
    """Statements outside :meth:`transaction` commit on their own."""

    @property
    def dialect(self) -> Dialect: ...

    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """All statements on the yielded executor commit together, or none does."""

    async def grouped(self, work: Callable[[Executor], Awaitable[T]], *, urgent: bool = False) -> T:
        """Run ``work`` atomically, perhaps in one transaction with other ``grouped``
        work that arrived meanwhile (group commit: one disk flush for many requests);
        ``urgent`` work (a call) goes before work that is not. Work that raises is
        undone alone and its exception raised to its caller; the result returns once it
        is committed."""

    async def close(self) -> None: ...

    @property
    def write_health(self) -> WriteHealth:
        """Whether the last write was committed, or since when writes fail and why."""
