"""Open the registry a database URL names: ``sqlite:///path`` (the default, one node) or
``postgresql://user@host:port/db`` (several instances on one database)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ringpush.registry.database import Database
from ringpush.registry.sealing import SecretBox, private_dir
from ringpush.registry.sql_registry import SqlRegistry
from ringpush.registry.store import DatabaseUnavailable

SQLITE_PREFIX = "sqlite:///"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class BadDatabaseUrl(ValueError):
    pass


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///path`` URL (``sqlite:////abs/path`` for absolute), or
    None for a PostgreSQL URL; anything else is a :class:`BadDatabaseUrl`."""
    if url.startswith(SQLITE_PREFIX):
        path = url[len(SQLITE_PREFIX) :]
        if not path:
            raise BadDatabaseUrl("sqlite URL without a file: use sqlite:///path/to/file.db")
        return Path(path)
    if url.startswith(POSTGRES_SCHEMES):
        return None
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise BadDatabaseUrl(
        f"unsupported database URL {scheme!r}: use sqlite:///path or"
        " postgresql://user@host:port/database"
    )


#: Query parameters of a PostgreSQL URL that carry a secret (libpq's names).
_SECRET_PARAMETERS = frozenset({"password", "sslpassword"})


def redacted(url: str) -> str:
    """The URL fit for a log line: a password in it (``user:password@`` or
    ``?password=``) is replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = "&".join(
        f"{name}=***" if name.lower() in _SECRET_PARAMETERS else f"{name}{sep}{value}"
        for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


async def open_database(url: str) -> Database:
    """Connect; a database that cannot be reached or opened is :class:`DatabaseUnavailable`
    with the reason (and never the URL's password)."""
    path = sqlite_path(url)
    try:
        if path is None:
            from ringpush.registry.postgres_database import PostgresDatabase

            return await PostgresDatabase.connect(url)
        from ringpush.registry.sqlite_database import SqliteDatabase

        private_dir(path.parent)
        return await SqliteDatabase.open(path)
    except (
        OSError,
        sqlite3.Error,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        DatabaseUnavailable,
    ) as exc:
        if isinstance(exc, TimeoutError):
            why = "no answer (timed out)"
        else:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DatabaseUnavailable(f"cannot open database {redacted(url)}: {why}") from None


async def open_registry(url: str, box: SecretBox) -> SqlRegistry:
    """The registry at ``url``, migrated to the current schema."""
    db = await open_database(url)
    try:
        return await SqlRegistry.open(db, box)
    except BaseException:
        await db.close()
        raise
