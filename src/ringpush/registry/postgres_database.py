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

from ringpush.backoff import retry_delay
from ringpush.registry.database import Args, Dialect, Executor, Row
from ringpush.registry.database_errors import WriteHealth, trouble_of, unavailable
from ringpush.registry.store import DatabaseUnavailable, Trouble

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds to wait for PostgreSQL to accept a connection before giving up (asyncpg's own
#: default is a minute, long for a start-up that is failing).
CONNECT_TIMEOUT_SECONDS = 10.0
#: How long a statement waits for a lock another session holds before it fails (as
#: DatabaseUnavailable: the caller hears 503 and may retry). PostgreSQL's default is to
#: wait for ever, and a call would hang with it; SQLite's busy timeout is the same 5 s.
LOCK_TIMEOUT = "5s"
#: How long a request waits for a pooled connection before it is refused (503).
ACQUIRE_TIMEOUT_SECONDS = 5.0


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


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    """The server's errors that mean it cannot take statements now, as
    :class:`DatabaseUnavailable`; any other error goes on as it is."""
    try:
        yield
    except Exception as exc:
        trouble = trouble_of(exc)
        if trouble is None or trouble is exc:
            raise
        raise trouble from exc


class PostgresDatabase:
    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self._url = url
        self._listener: asyncpg.Connection | None = None
        self._channels: dict[str, list[Callable[[str], None]]] = {}
        self._closing = False
        self._reconnect: asyncio.Task[None] | None = None
        #: Whether the last write was committed (for ``/readyz``).
        self.write_health = WriteHealth()

    @property
    def dialect(self) -> Dialect:
        return Dialect.POSTGRESQL

    @classmethod
    async def connect(cls, url: str, *, max_size: int = 10) -> PostgresDatabase:
        pool = await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=max_size,
            timeout=CONNECT_TIMEOUT_SECONDS,
            server_settings={"lock_timeout": LOCK_TIMEOUT},
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
    async def _connection(self) -> AsyncIterator[Any]:
        """A pooled connection, or :class:`DatabaseUnavailable` when none is free soon:
        with every connection waiting on a lock, a request would otherwise queue for one
        until its caller gave up, and then be carried out anyway (a call ringing late)."""
        try:
            conn = await self._pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS)
        except TimeoutError:
            raise unavailable(
                Trouble.BUSY, f"no connection free within {ACQUIRE_TIMEOUT_SECONDS:g} s"
            ) from None
        try:
            yield conn
        finally:
            await self._pool.release(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        """A server that cannot take the transaction now (disk full, a standby, gone,
        lock timeout, no connection free) raises :class:`DatabaseUnavailable`."""
        try:
            async with _translated(), self._connection() as conn, conn.transaction():
                yield _Connection(conn)
        except DatabaseUnavailable as exc:
            self.write_health.failed(exc)
            raise
        self.write_health.succeeded()

    async def _lone(self, statement: Callable[[_Connection], Awaitable[T]]) -> T:
        """One statement outside a transaction (it commits on its own)."""
        async with _translated(), self._connection() as conn:
            return await statement(_Connection(conn))

    async def grouped(self, work: Callable[[Executor], Awaitable[T]], *, urgent: bool = False) -> T:
        """A transaction of its own: connections are pooled, and PostgreSQL groups
        concurrent commits itself."""
        async with self.transaction() as db:
            return await work(db)

    async def execute(self, sql: str, args: Args = ()) -> int:
        return await self._lone(lambda conn: conn.execute(sql, args))

    async def executemany(self, sql: str, rows: Sequence[Args]) -> None:
        await self._lone(lambda conn: conn.executemany(sql, rows))

    async def fetchone(self, sql: str, args: Args = ()) -> Row | None:
        return await self._lone(lambda conn: conn.fetchone(sql, args))

    async def fetchall(self, sql: str, args: Args = ()) -> list[Row]:
        return await self._lone(lambda conn: conn.fetchall(sql, args))

    async def notify(self, channel: str, payload: str) -> None:
        """Send ``payload`` to every instance listening on ``channel`` (this one too)."""
        await self.execute("SELECT pg_notify(?, ?)", (channel, payload))

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
        failures = 0
        while not self._closing and self._listener is None:
            try:
                await self._connect_listener()
            except (OSError, asyncpg.PostgresError) as exc:
                failures += 1
                delay = retry_delay(failures, base=0.1, cap=5.0)
                log.warning("cannot listen for events yet (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
