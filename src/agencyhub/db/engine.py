"""Engines, sessions and transactions: one unit of work, serialised writers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from agencyhub.config import Settings
from agencyhub.db.scope import ANONYMOUS, Scope, TenantSession
from agencyhub.db.system_key import system_token, use_token
from agencyhub.errors import Conflict

log = structlog.get_logger("agencyhub.db")


def create_engine(url: str, *, pool_size: int = 10, secret_key: str = "") -> AsyncEngine:
    """An engine; on PostgreSQL its system-scope token comes from ``secret_key`` (see
    :mod:`agencyhub.db.system_key`; empty: the demo key's)."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    # hide_parameters: a database error's message would otherwise quote the statement's
    # values (e-mail addresses, token digests, comment texts) into the log.
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, hide_parameters=True
    )
    event.listen(engine.sync_engine, "checkout", _drop_closed_connection)
    if secret_key:
        use_token(engine.sync_engine, system_token(secret_key))
    return engine


def _drop_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection the server has closed (restart, idle timeout) is replaced.

    asyncpg notices a closed socket by itself, so this costs no round trip — unlike
    ``pool_pre_ping``, which cost ~0.8 ms of CPU per request (measured on the approve
    path). A connection that breaks between this check and its use fails that one
    request and is then discarded by SQLAlchemy.
    """
    raw = getattr(dbapi_connection, "_connection", None)
    is_closed = getattr(raw, "is_closed", None)
    if is_closed is not None and is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own implicit BEGIN breaks SAVEPOINT: releasing the first savepoint
    # would commit the whole transaction. SQLAlchemy emits BEGIN itself instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# The session option that makes a unit of work take SQLite's write lock at BEGIN.
WRITES = "agencyhub_writes"


def _sqlite_begin(connection: Connection) -> None:
    # A deferred transaction that read first cannot upgrade to a write once another
    # writer committed after its snapshot (SQLITE_BUSY_SNAPSHOT, "database is locked",
    # not covered by the busy timeout). A unit of work that may write therefore begins
    # IMMEDIATE: it waits for the write lock under the busy timeout, then reads the
    # newest rows, so the loser of a race sees the winner's version and gets its 409.
    immediate = connection.get_execution_options().get(WRITES, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=TenantSession)


def writing_session(
    sessions: async_sessionmaker[AsyncSession], writes: bool = True
) -> AsyncSession:
    """A session whose transaction may write: on SQLite it begins with the write lock
    (see :func:`_sqlite_begin`); PostgreSQL ignores the option."""
    return sessions(execution_options={WRITES: writes})


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession], scope: Scope = ANONYMOUS, *, writes: bool = True
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error. ``writes=False``
    for one that only reads, so on SQLite it does not wait for the writer."""
    async with writing_session(sessions, writes) as session:
        session.info["scope"] = scope
        if scope.system is not None:
            log.info("db.system_scope", reason=scope.system)
        async with session.begin():
            yield session


async def serialise_writers(session: AsyncSession, key: int) -> None:
    """Make this transaction wait for any other holding ``key`` until it ends.

    PostgreSQL: a transaction-level advisory lock. SQLite has one writer at a time; a
    transaction that reads first and writes later can fail to upgrade its lock
    (``database is locked``), so it takes the write lock now with a write that changes
    nothing, and waits for it under the busy timeout.
    """
    if session.sync_session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:
        await session.execute(
            text("UPDATE alembic_version SET version_num = version_num WHERE 0 = 1")
        )


async def flush_or_conflict(session: AsyncSession, detail: str) -> None:
    """Flush; a unique-key race with a concurrent writer answers 409, not 500."""
    try:
        await session.flush()
    except IntegrityError as exc:
        log.info("db.write_conflict", detail=detail)
        raise Conflict(detail) from exc


@dataclass
class Database:
    """The app's engine and session factory, created from settings."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        engine = create_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            secret_key=settings.secret_key,
        )
        return cls(engine=engine, sessions=create_sessionmaker(engine))

    async def dispose(self) -> None:
        await self.engine.dispose()
