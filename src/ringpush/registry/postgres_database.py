"""PostgreSQL through an asyncpg pool, for several ringpush instances on one database.

The registry's SQL uses ``?`` placeholders; they become ``$1, $2, …`` here (once per
statement text, cached). Each transaction takes a pooled connection for its duration;
lone statements commit on their own. ``LISTEN``/``NOTIFY`` carry events between
instances (:meth:`PostgresDatabase.listen`, :meth:`PostgresDatabase.notify`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import asyncpg

from ringpush.registry.database import Args, Dialect, Executor, Row

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds to wait for PostgreSQL to accept a connection before giving up (asyncpg's own
#: default is a minute, long for a start-up that is failing).
CONNECT_TIMEOUT_SECONDS = 10.0


@functools.lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$n`` (the registry's SQL has no ``?`` in
    string literals)."""
    parts = sql.split("?")
    out = [parts[0]]
    for index, part in enumerate(parts[1:], start=1):
        out.append(f"${index}{part}")
    return "".join(out)


def rowcount(status: str) -> int:
    """The row count in a command tag: ``UPDATE 3``, ``INSERT 0 1``, ``DELETE 0``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class _Connection:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, args: Args = ()) -> int:
        return rowcount(await self._conn.execute(numbered(sql), *args))

    async def executemany(self, sql: str, rows: Sequence[Args]) -> None:
        await self._conn.executemany(numbered(sql), rows)

    async def fetchone(self, sql: str, args: Args = ()) -> Row | None:
        return cast(Row | None, await self._conn.fetchrow(numbered(sql), *args))

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]:
        return cast(list[Row], await self._conn.fetch(numbered(sql), *args))


class PostgresDatabase:
    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self._plain = _Connection(pool)
        self._url = url
        self._listener: asyncpg.Connection | None = None
        self._channels: dict[str, list[Callable[[str], None]]] = {}
        self._closing = False
        self._reconnect: asyncio.Task[None] | None = None

    @property
    def dialect(self) -> Dialect:
        return Dialect.POSTGRESQL

    @classmethod
    async def connect(cls, url: str, *, max_size: int = 10) -> PostgresDatabase:
        pool = await asyncpg.create_pool(
            url, min_size=1, max_size=max_size, timeout=CONNECT_TIMEOUT_SECONDS
        )
        return cls(pool, url)

    async def close(self) -> None:
        self._closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        await self._pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _Connection(conn)

    async def grouped(self, work: Callable[[Executor], Awaitable[T]], *, urgent: bool = False) -> T:
        """A transaction of its own: connections are pooled, and PostgreSQL groups
        concurrent commits itself."""
        async with self.transaction() as db:
            return await work(db)

    async def execute(self, sql: str, args: Args = ()) -> int:
        return await self._plain.execute(sql, args)

    async def executemany(self, sql: str, rows: Sequence[Args]) -> None:
        await self._plain.executemany(sql, rows)

    async def fetchone(self, sql: str, args: Args = ()) -> Row | None:
        return await self._plain.fetchone(sql, args)

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]:
        return await self._plain.fetchall(sql, args)

    async def notify(self, channel: str, payload: str) -> None:
        """Send ``payload`` to every instance listening on ``channel`` (this one too)."""
        await self._pool.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call ``callback(payload)`` for each notification on ``channel``, on a
        connection of its own (a pooled one could be handed to someone else). If that
        connection is lost it is opened again and every channel listened to anew."""
        self._channels.setdefault(channel, []).append(callback)
        if self._listener is None:
            await self._connect_listener()
        else:
            await self._listener.add_listener(channel, self._deliver)

    @property
    def listening(self) -> bool:
        """Whether the connection that receives notifications is up (for health checks)."""
        return self._listener is not None and not self._listener.is_closed()

    def _deliver(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        for callback in self._channels.get(channel, ()):
            callback(str(payload))

    async def _connect_listener(self) -> None:
        listener = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT_SECONDS)
        for channel in self._channels:
            await listener.add_listener(channel, self._deliver)
        listener.add_termination_listener(self._lost)
        self._listener = listener

    def _lost(self, _conn: object) -> None:
        if self._closing:
            return
        log.warning("lost the PostgreSQL connection listening for events; reconnecting")
        self._listener = None
        self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_listener())

    async def _reconnect_listener(self) -> None:
        delay = 0.1
        while not self._closing and self._listener is None:
            try:
                await self._connect_listener()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("cannot listen for events yet (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
