"""PostgreSQL row-level security settings, kept in step with the session's scope,
and Core statements on hot paths that write them themselves."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

import structlog
from sqlalchemy import String, case, cast, event, func, text
from sqlalchemy.engine import Connection, Result
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncSession,
)
from sqlalchemy.orm import (
    ORMExecuteState,
    Session,
    SessionTransaction,
    make_transient_to_detached,
)
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import ColumnElement

from agencyhub.db.base import Base
from agencyhub.db.scope import (
    ANONYMOUS,
    Scope,
    TenantSession,
    _criteria_for,
    _tables_in,
    scope_of,
)
from agencyhub.db.system_key import token_of

log = structlog.get_logger("agencyhub.db")

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
            "system": token_of(connection) if scope.system else "",
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


# The ORM side of the boundary: every ORM statement gets the scope's criteria, and the
# RLS settings are written before it.
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
