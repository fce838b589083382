"""Recording events: written in the same transaction as the change they record.

Event ids are handed out in **commit order**, so a reader that has seen id N never
later finds a committed id below N (the live feed resumes by id and relies on it).
A plain sequence gives ids in insert order, and a transaction holding id 41 may commit
after the one holding id 42. So events are kept aside until the transaction commits;
then, on PostgreSQL, one transaction-level advisory lock is taken, the events are
inserted and the transaction commits, and the lock is released only after the commit
is visible. The lock is held for that last round trip or two (~1 ms), never for a
whole request. SQLite serialises writers already.

The events go in as one Core ``INSERT`` (one row or many), and on PostgreSQL the same
statement takes the lock first (a materialised CTE the insert selects from), so the
commit costs no extra round trip for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import Table, bindparam, func, insert, select, text
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from agencyhub.audit.models import Event
from agencyhub.db import TenantSession, after_commit, rls_connection, utcnow

log = structlog.get_logger(__name__)

COMMIT_ORDER_LOCK = 0x41484576  # "AHEv": serialises the event inserts of committing transactions
_PENDING = "audit.pending_events"
_LOCKED = "audit.commit_order_locked"

_committed_listeners: list[Callable[[], None]] = []


def on_events_committed(listener: Callable[[], None]) -> Callable[[], None]:
    """Call ``listener`` after every commit that wrote events (the live feed's poke).

    Returns a function that removes the listener again.
    """
    _committed_listeners.append(listener)
    return lambda: _committed_listeners.remove(listener)


async def record_event(
    session: AsyncSession,
    *,
    type: str,
    agency_id: uuid.UUID,
    subject_type: str,
    subject_id: uuid.UUID | None,
    actor_user_id: uuid.UUID | None,
    client_id: uuid.UUID | None = None,
    actor_kind: str = "user",
    payload: dict[str, Any] | None = None,
) -> None:
    """Add an Event to the current transaction; it commits or rolls back with it.

    The row is inserted when the transaction commits (its id is handed out then).
    """
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    row = {
        "agency_id": agency_id,
        "client_id": client_id,
        "type": type,
        "actor_user_id": actor_user_id,
        "actor_kind": actor_kind,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "payload": payload or {},
        "request_id": request_id,
    }
    sync = session.sync_session
    sync.info.setdefault(_PENDING, []).append((sync.get_nested_transaction(), row))
    log.debug(
        "event.recorded",
        event_type=type,
        agency_id=str(agency_id),
        client_id=str(client_id) if client_id else None,
        subject_id=str(subject_id) if subject_id else None,
    )


_events: Table = Event.__table__  # type: ignore[assignment]
_COLUMNS = (
    "agency_id",
    "client_id",
    "type",
    "actor_user_id",
    "actor_kind",
    "subject_type",
    "subject_id",
    "payload",
    "request_id",
    "created_at",
)
_INSERT = insert(_events)
# The lock, then the rows: the rows are selected from the lock's (materialised) result,
# so every id (the column default, evaluated per inserted row) is drawn under the lock.
_COMMIT_ORDER_CTE = (
    select(func.pg_advisory_xact_lock(COMMIT_ORDER_LOCK).label("locked"))
    .cte("commit_order")
    .prefix_with("MATERIALIZED")
)
_LOCK_AND_INSERT = _INSERT.from_select(
    list(_COLUMNS),
    select(*(bindparam(name, type_=_events.c[name].type) for name in _COLUMNS)).select_from(
        _COMMIT_ORDER_CTE
    ),
)


def _take_commit_order_lock(session: Session) -> None:
    """Once per transaction, right before its events are inserted."""
    if _holds_lock(session):
        return
    connection: Connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": COMMIT_ORDER_LOCK})
    _locked(session)


def _holds_lock(session: Session) -> bool:
    return session.info.get(_LOCKED) is session.get_transaction()


def _locked(session: Session) -> None:
    session.info[_LOCKED] = session.get_transaction()
    after_commit(session, _notify_committed)


@sa_event.listens_for(TenantSession, "before_commit")
def _insert_pending_events(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint is released; the events wait for the real commit
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()  # first the rows the events refer to (a new agency, client, user)
    now = utcnow()
    rows = [{**row, "created_at": now} for _savepoint, row in pending]
    connection = rls_connection(session)
    if connection.dialect.name == "postgresql" and not _holds_lock(session):
        connection.execute(_LOCK_AND_INSERT, rows)
        _locked(session)
    else:
        _take_commit_order_lock(session)  # taken already on PostgreSQL; none on SQLite
        connection.execute(_INSERT, rows)


@sa_event.listens_for(TenantSession, "before_flush")
def _lock_before_direct_inserts(
    session: Session, _context: UOWTransaction, _instances: object
) -> None:
    """An Event added to the session by hand takes the same lock before its INSERT."""
    if any(isinstance(obj, Event) for obj in session.new):
        _take_commit_order_lock(session)


@sa_event.listens_for(TenantSession, "after_soft_rollback")
def _drop_pending_events(session: Session, previous_transaction: SessionTransaction) -> None:
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)
        session.info.pop(_LOCKED, None)
        return
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [
            (savepoint, row)
            for savepoint, row in pending
            if not _inside(savepoint, previous_transaction)
        ]


@sa_event.listens_for(TenantSession, "after_commit")
def _forget_lock(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_LOCKED, None)


def _inside(savepoint: SessionTransaction | None, rolled_back: SessionTransaction) -> bool:
    while savepoint is not None:
        if savepoint is rolled_back:
            return True
        savepoint = savepoint.parent
    return False


def _notify_committed() -> None:
    for listener in list(_committed_listeners):
        listener()
