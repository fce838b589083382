"""Engine, sessions, the declarative base and the tenant boundary.

The tenant boundary is enforced twice, in one place each:

1. Application: every ORM statement on a :class:`TenantOwned` model gets the criteria
   of the session's :class:`Scope` added by a ``do_orm_execute`` hook. A session with
   no scope sees no tenant-owned rows at all (fail closed).
2. PostgreSQL: row-level security policies (see the first migration) read the same
   scope from transaction-local settings written by an ``after_begin`` hook with
   ``set_config(..., is_local => true)``, so a forgotten filter still cannot leak.

Work that must see every tenant runs in an explicit, named system scope, which is
logged.

Hot paths (sign-in, deciding on a draft) use prebuilt Core statements through
:func:`execute_core` instead of the ORM: those name their tenant columns themselves
(:func:`visible_agency_ids`), and the same RLS settings are written before them.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import MetaData, String, case, cast, event, false, func, text
from sqlalchemy.engine import Connection, Result
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    SessionTransaction,
    make_transient_to_detached,
    mapped_column,
    with_loader_criteria,
)
from sqlalchemy.sql import Executable
from sqlalchemy.sql import util as sql_util
from sqlalchemy.sql.elements import ColumnElement

from agencyhub.config import Settings
from agencyhub.errors import Conflict

log = structlog.get_logger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    """Time-ordered UUIDv7, so primary-key indexes stay append-mostly."""
    from uuid_utils.compat import uuid7

    return uuid7()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {uuid.UUID: GUID, datetime: DateTimeUTC(timezone=True)}


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TenantScoped:
    """Marker for models whose visibility depends on the session's scope."""

    @classmethod
    def scope_criteria(cls, scope: Scope) -> ColumnElement[bool]:
        raise NotImplementedError


class TenantOwned(TenantScoped):
    """Rows that belong to one agency (the tenant), keyed by ``agency_id``."""

    agency_id: Mapped[uuid.UUID]

    @classmethod
    def scope_criteria(cls, scope: Scope) -> ColumnElement[bool]:
        return tenant_criteria(cls.agency_id, scope)


def tenant_criteria(agency_column: Any, scope: Scope) -> ColumnElement[bool]:
    """Rows of the current tenant, else of the user's agencies, else none."""
    if scope.agency_id is not None:
        return agency_column == scope.agency_id  # type: ignore[no-any-return]
    if scope.member_agency_ids:
        return agency_column.in_(sorted(scope.member_agency_ids))  # type: ignore[no-any-return]
    return false()


def visible_agency_ids(scope: Scope) -> list[uuid.UUID]:
    """The agencies whose rows ``scope`` sees, for Core statements that filter by tenant
    themselves (``agency_id IN :ids``); the same rows as :func:`tenant_criteria`.

    A system scope has no such list: Core statements are for user-facing paths only.
    """
    if scope.system is not None:
        raise RuntimeError(f"no tenant list in the system scope {scope.system!r}")
    if scope.agency_id is not None:
        return [scope.agency_id]
    return sorted(scope.member_agency_ids)  # empty: nothing is visible


@dataclass(frozen=True, slots=True)
class Scope:
    """What a session may see: a user's agencies, one current tenant, or everything.

    ``system`` names the reason for a cross-tenant scope; it is ``None`` for every
    user-facing path.
    """

    user_id: uuid.UUID | None = None
    member_agency_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    agency_id: uuid.UUID | None = None
    system: str | None = None

    @classmethod
    def for_system(cls, reason: str) -> Scope:
        return cls(system=reason)


ANONYMOUS = Scope()


class TenantSession(Session):
    """The sync session class behind every AsyncSession; carries the scope hooks."""


def scope_of(session: AsyncSession | Session) -> Scope:
    scope = session.info.get("scope", ANONYMOUS)
    assert isinstance(scope, Scope)
    return scope


async def set_scope(session: AsyncSession, scope: Scope) -> None:
    """Change the scope; takes effect for the ORM and for RLS at once.

    The RLS settings follow lazily, right before the next statement or flush (see
    :func:`_sync_rls_settings`), so scope changes in a row cost one round trip at most.
    """
    if scope.system is not None:
        log.info("db.system_scope", reason=scope.system)
    session.info["scope"] = scope


async def enter_tenant(session: AsyncSession, agency_id: uuid.UUID) -> None:
    await set_scope(session, replace(scope_of(session), agency_id=agency_id))


@event.listens_for(TenantSession, "do_orm_execute")
def _add_tenant_criteria(state: ORMExecuteState) -> None:
    _sync_rls_settings(state.session)
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get("skip_tenant_criteria"):
        return
    scope = scope_of(state.session)
    if scope.system is not None:
        return
    criteria = _criteria_for(state.session, scope)
    options = [criteria[name] for name in _tables_in(state.statement) if name in criteria]
    if options:
        state.statement = state.statement.options(*options)


def _tables_in(statement: Any) -> set[str]:
    """Names of every table the statement reads or writes, subqueries and joins included.

    Only the criteria of those tables' models are attached: attaching all of them to
    every statement cost more than the query itself (their cache keys are computed
    on every execution). Sound because no model has relationships, so the ORM never
    joins a table the statement does not name.
    """
    names = set()
    for found in sql_util.find_tables(
        statement, include_aliases=True, include_joins=True, include_crud=True
    ):
        table = getattr(found, "element", found)  # an alias names its table
        name = getattr(table, "name", None)
        if isinstance(name, str):
            names.add(name)
    return names


def _criteria_for(session: Session, scope: Scope) -> dict[str, Any]:
    """The criteria option per tenant table for this scope (see :func:`_criteria_of`)."""
    cached = session.info.get("_tenant_criteria")
    if cached is not None and cached[0] is scope:
        return cached[1]  # type: ignore[no-any-return]
    options = _criteria_of(scope)
    session.info["_tenant_criteria"] = (scope, options)
    return options


@functools.lru_cache(maxsize=4096)
def _criteria_of(scope: Scope) -> dict[str, Any]:
    """with_loader_criteria also reaches subqueries and joins of its model.

    Built once per distinct scope and shared by every session: building them costs
    more than the rest of a short request, and the options are immutable.
    """
    return {
        model.__table__.name: with_loader_criteria(
            model, model.scope_criteria(scope), include_aliases=True
        )
        for model in _tenant_models()
    }


@functools.cache
def _tenant_models() -> tuple[type[Any], ...]:
    # Import every feature's models first: a model missing from this (cached) list
    # would silently go unfiltered.
    from agencyhub.models import load_all_models

    load_all_models()
    return tuple(
        mapper.class_ for mapper in Base.registry.mappers if issubclass(mapper.class_, TenantScoped)
    )


def after_commit(session: AsyncSession | Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the outermost transaction has committed; never on rollback.

    Side effects that others can observe (mail, live events, broker messages) go here,
    so nobody is told about a change that may still roll back. A callback registered
    inside a savepoint that rolls back is dropped with it.
    """
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    savepoint = sync.get_nested_transaction()
    sync.info.setdefault("after_commit", []).append((savepoint, callback))


@event.listens_for(TenantSession, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released; the real commit is still to come
    for _savepoint, callback in session.info.pop("after_commit", []):
        try:
            callback()
        except Exception:  # the change is committed; a failed side effect must not undo it
            log.exception("db.after_commit_failed", callback=getattr(callback, "__name__", "?"))


@event.listens_for(TenantSession, "after_soft_rollback")
def _drop_after_commit(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get("after_commit")
    if not pending:
        return
    if not previous_transaction.nested:
        session.info.pop("after_commit", None)
        return
    session.info["after_commit"] = [
        (savepoint, callback)
        for savepoint, callback in pending
        if not _inside(savepoint, previous_transaction)
    ]


def _inside(savepoint: SessionTransaction | None, rolled_back: SessionTransaction) -> bool:
    while savepoint is not None:
        if savepoint is rolled_back:
            return True
        savepoint = savepoint.parent
    return False


# --- RLS settings: PostgreSQL's copy of the scope ------------------------------------------
#
# The settings are transaction-local (``set_config(..., true)``). ``_RLS_WRITTEN`` holds
# what the current transaction's settings let PostgreSQL see; a statement or flush
# writes them first when the session's scope differs. A user's single member agency and
# that agency as the current tenant see the same rows, so entering it costs nothing.

_RLS_WRITTEN = "_rls_written"


def _rls_state(scope: Scope) -> tuple[bool, uuid.UUID | None, frozenset[uuid.UUID]]:
    """What the RLS policies decide on: system, the user, the visible agencies."""
    visible = frozenset({scope.agency_id}) if scope.agency_id else scope.member_agency_ids
    return scope.system is not None, scope.user_id, visible


_ANONYMOUS_STATE = _rls_state(ANONYMOUS)


@event.listens_for(TenantSession, "after_begin")
def _apply_scope_on_begin(
    session: Session, transaction: SessionTransaction, connection: Connection
) -> None:
    if transaction.nested:
        return
    # A new transaction starts with empty settings: the anonymous scope needs no write.
    session.info[_RLS_WRITTEN] = _ANONYMOUS_STATE
    _sync_rls_settings(session, connection)


@event.listens_for(TenantSession, "before_flush")
def _sync_rls_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    _sync_rls_settings(session)


def _sync_rls_settings(session: Session, connection: Connection | None = None) -> None:
    """Write the scope's settings if the transaction's are not the same already."""
    scope = scope_of(session)
    state = _rls_state(scope)
    if connection is None:
        if not session.in_transaction() or session.info.get(_RLS_WRITTEN) == state:
            return  # without a transaction yet, its begin writes them
        connection = session.connection()  # may begin the transaction, which writes them
    if session.info.get(_RLS_WRITTEN) == state:
        return
    _write_scope_settings(connection, scope)
    session.info[_RLS_WRITTEN] = state


@event.listens_for(TenantSession, "after_soft_rollback")
def _forget_rls_settings(session: Session, previous_transaction: SessionTransaction) -> None:
    # A rolled-back savepoint also rolls back settings written inside it.
    if previous_transaction.nested:
        session.info.pop(_RLS_WRITTEN, None)


def rls_connection(session: Session) -> Connection:
    """The sync session's connection, PostgreSQL's RLS settings in step with its scope
    (for Core statements in session hooks; see :func:`execute_core`)."""
    connection = session.connection()
    _sync_rls_settings(session, connection)
    return connection


async def execute_core(
    session: AsyncSession, statement: Executable, params: Mapping[str, Any]
) -> Result[Any]:
    """Run a Core statement on the session's connection, PostgreSQL's RLS settings in
    step with the session's scope; its rows are buffered in the result.

    Core statements bypass the ORM hook, so they get neither the tenant criteria nor the
    lazy RLS write: this writes the settings, and each statement must filter by its
    tenant columns itself (see :func:`visible_agency_ids`). RLS stays the second line.
    Pending ORM changes are flushed first, as autoflush would before an ORM statement,
    so a Core statement never reads past them nor has them written over its result.
    Hot paths use it: a Core statement costs a fraction of an ORM one in CPU, and this
    crosses into SQLAlchemy's greenlet once per statement.
    """
    return await session.run_sync(_execute_core, statement, params)


def _execute_core(session: Session, statement: Executable, params: Mapping[str, Any]) -> Any:
    session.flush()  # nothing to do (and no SQL) when the session holds no changes
    return rls_connection(session).execute(statement, params)


# --- the scope written by a hot statement itself (PostgreSQL) --------------------------
#
# Sign-in runs two scope changes before the first tenant row is read (the user, then the
# user's agencies), each a ``set_config`` round trip of its own. On the hot path the
# statement that learns the next scope writes it as a column of its result instead;
# PostgreSQL applies it to the *following* statements (never rely on it within the same
# statement: RLS may evaluate its settings before the column is computed). The caller
# then records the new scope with :func:`scope_written_by_statement`. Each column writes
# one setting over a known state (:func:`writes_scope_in_statements` checks it), so the
# other settings are already right; a statement that returns no row writes nothing,
# which is right too (no accepted session: no user; no memberships: no agencies).


def user_scope_setting(user_id: Any, accepted: ColumnElement[bool]) -> ColumnElement[str]:
    """Writes ``app.user_id`` when ``accepted``; only over the anonymous settings."""
    value = case((accepted, cast(user_id, String)), else_="")
    return func.set_config("app.user_id", value, True)


def member_agencies_setting(agency_id: Any) -> ColumnElement[str]:
    """Writes ``app.member_agency_ids`` from every row of the result (one window);
    only over the settings of the user scope, whose member list is empty."""
    every_row = func.string_agg(cast(agency_id, String), ",").over()
    return func.set_config("app.member_agency_ids", every_row, True)


def writes_scope_in_statements(session: AsyncSession, before: Scope) -> bool:
    """Whether the next statement may write the scope after ``before`` itself:
    PostgreSQL, and the session's scope is ``before`` (whose settings
    :func:`execute_core` writes ahead of the statement)."""
    bind = session.sync_session.get_bind()
    return bind.dialect.name == "postgresql" and scope_of(session) == before


def scope_written_by_statement(session: AsyncSession, scope: Scope) -> None:
    """The scope is now ``scope``, and a statement has written its settings already."""
    session.info["scope"] = scope
    session.info[_RLS_WRITTEN] = _rls_state(scope)


ModelT = TypeVar("ModelT", bound=Base)


async def adopt(session: AsyncSession, model: type[ModelT], values: Mapping[Any, Any]) -> ModelT:
    """The session's instance of a row read (or returned) by a Core statement.

    ``values`` holds every column of the row. An instance the session holds already is
    refreshed; either way nothing is marked as changed, so nothing is written back.
    """
    instance = model(**values)
    make_transient_to_detached(instance)  # its state now reads as loaded, not as changes
    return await session.merge(instance, load=False)


def _write_scope_settings(connection: Connection, scope: Scope, *, local: bool = True) -> None:
    if connection.dialect.name != "postgresql":
        return
    connection.execute(
        text(
            "SELECT set_config('app.agency_id', :agency, :local),"
            " set_config('app.user_id', :user, :local),"
            " set_config('app.member_agency_ids', :members, :local),"
            " set_config('app.system', :system, :local)"
        ),
        {
            "agency": str(scope.agency_id or ""),
            "user": str(scope.user_id or ""),
            "members": ",".join(sorted(str(a) for a in scope.member_agency_ids)),
            "system": "on" if scope.system else "",
            "local": local,
        },
    )


async def write_connection_scope(
    connection: AsyncConnection, scope: Scope, *, whole_session: bool = False
) -> None:
    """PostgreSQL's RLS settings for ``scope`` on a bare connection (no ORM session).

    ``whole_session`` keeps them past the transaction, for a connection that lives
    apart from the pool for its whole life (the live relay's): such a connection must
    be invalidated, never returned, or the next borrower would inherit the scope.
    """
    await connection.run_sync(_write_scope_settings, scope, local=not whole_session)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)
    event.listen(engine.sync_engine, "checkout", _drop_closed_connection)
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


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=TenantSession)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession], scope: Scope = ANONYMOUS
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with sessions() as session:
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
        engine = create_engine(settings.database_url, pool_size=settings.database_pool_size)
        return cls(engine=engine, sessions=create_sessionmaker(engine))

    async def dispose(self) -> None:
        await self.engine.dispose()
