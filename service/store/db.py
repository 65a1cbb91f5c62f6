"""Connections to PostgreSQL: the engine, the embedded server, and outage detection.

The comment POST, the busiest statement, runs on the asyncpg connection under one of the
engine's pooled connections (``driver_transaction``, ``DriverStatement``).

The schema and its migrations are ``service.store.schema``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from sqlalchemy import TextClause
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.settings import Settings
from service.waiting import wait_any

log = logging.getLogger(__name__)


def plain_url(url: str) -> str:
    """The URL in the ``postgresql://`` form asyncpg and psql take."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql"))


def sqlalchemy_url(url: str) -> str:
    """The URL in the ``postgresql+asyncpg://`` form SQLAlchemy needs."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql+asyncpg"))


def create_engine(settings: Settings, *, pool_size: int | None = None) -> AsyncEngine:
    """An engine whose connections time out slow statements and survive server restarts."""
    if settings.database_url is None:
        raise RuntimeError("create_engine needs a database URL; start the embedded one first")
    return create_async_engine(
        sqlalchemy_url(settings.database_url),
        pool_size=pool_size or settings.db_pool_size,
        max_overflow=0,
        pool_timeout=5,
        # No pre-ping: it costs a round trip per request. A connection that died with a
        # restarted server fails its first statement (the request answers 503, nothing is
        # claimed as saved) and SQLAlchemy then replaces the whole pool.
        pool_pre_ping=False,
        connect_args={
            "timeout": 5,
            "command_timeout": 30,
            "server_settings": {
                "application_name": "replyguard",
                "statement_timeout": str(settings.statement_timeout_ms),
            },
        },
    )


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A ``text()`` statement compiled once for asyncpg: ``$n`` placeholders, and the name
    each one takes its value from (a name used twice is one placeholder)."""

    sql: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, clause: TextClause) -> DriverStatement:
        compiled = clause.compile(dialect=asyncpg_dialect.dialect())  # type: ignore[no-untyped-call]
        return cls(str(compiled), tuple(compiled.positiontup or ()))

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The values in placeholder order; a missing name is a KeyError, not a NULL."""
        return [params[name] for name in self.names]


#: Errors after which a driver connection cannot be used again.
_CONNECTION_LOST: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


@contextlib.asynccontextmanager
async def driver_transaction(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A transaction on the asyncpg connection under one of ``engine``'s pooled connections.

    For the comment POST only: skipping SQLAlchemy's execution layer and its greenlet
    switches took the client's CPU per submission from 1,070-1,360 µs to 730-840 µs (same
    pool, same statement, alternating rounds; issue 14). The pool still bounds the
    connections and answers ``QueuePool limit`` when they are all busy.

    SQLAlchemy never sees this connection fail, so this does what it would have done: a
    connection that was lost (the server restarted) is invalidated and the pool replaced,
    since its other connections were lost too; one whose statement was cancelled midway
    (the request timed out) is invalidated alone.
    """
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None  # a checked-out connection always has its driver's
        try:
            async with driver.transaction():
                yield driver
        except BaseException as error:
            lost = isinstance(error, _CONNECTION_LOST) or driver.is_closed()
            if lost or not isinstance(error, Exception):
                await conn.invalidate()
            if lost:
                log.warning("database connection lost (%s); opening new ones", error)
                await engine.dispose()
            raise


def sqlstate(error: BaseException) -> str | None:
    """The PostgreSQL error code behind ``error``, however deeply it is wrapped."""
    seen: BaseException | None = error
    for _ in range(4):
        if seen is None:
            return None
        code = getattr(seen, "sqlstate", None)
        if isinstance(code, str):
            return code
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def embedded_database(data_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL under ``data_dir`` and return its URL.

    The server runs on a Unix socket inside the data folder; any process that calls this
    with the same folder reaches the same server, and the last one to exit stops it.
    """
    # pgserver computes its lock and socket folders at import time from XDG_RUNTIME_DIR;
    # set one every process agrees on before importing it.
    os.environ.setdefault(
        "XDG_RUNTIME_DIR", str(Path(tempfile.gettempdir()) / f"replyguard-runtime-{os.getuid()}")
    )
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    from pgserver.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "postgres").resolve()
    log.info("starting the embedded PostgreSQL in %s", pgdata)
    server = get_server(pgdata, cleanup_mode="stop")
    uri: str = server.get_uri()
    return uri


async def listen(
    database_url: str,
    channel: str,
    wake: asyncio.Event,
    stop: asyncio.Event,
    *,
    retry_seconds: float,
) -> None:
    """Set ``wake`` on every NOTIFY on ``channel`` until ``stop``; reconnect after failures.

    Notifications are only a shortcut: callers also poll, so a notification lost while the
    connection is down (a database restart) costs at most a poll interval.
    """

    def on_notify(*_: Any) -> None:
        wake.set()

    url = plain_url(database_url)
    while not stop.is_set():
        conn = None
        try:
            conn = await asyncpg.connect(url, timeout=5)
            await conn.add_listener(channel, on_notify)
            # Anything might have been notified while we were away: look once.
            wake.set()
            while not stop.is_set() and not conn.is_closed():
                await wait_any(stop, None, retry_seconds)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
            log.debug("LISTEN %s connection lost: %s", channel, error)
            await wait_any(stop, None, retry_seconds)
        finally:
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` means "the database cannot be reached" (answer 503), not a bug."""
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig if error.orig is not None else error
        # SQLAlchemy's adapter wraps asyncpg's own exception one level further down.
        error = getattr(error, "__cause__", None) or error
    if isinstance(error, sa_exc.TimeoutError | sa_exc.InterfaceError):
        return True
    return isinstance(
        error,
        OSError
        | asyncio.TimeoutError
        | asyncpg.CannotConnectNowError
        | asyncpg.ConnectionDoesNotExistError
        | asyncpg.InterfaceError
        | asyncpg.AdminShutdownError
        | asyncpg.CrashShutdownError
        | asyncpg.TooManyConnectionsError
        | asyncpg.QueryCanceledError,
    )
