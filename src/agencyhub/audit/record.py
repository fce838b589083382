"""Recording events: written in the same transaction as the change they record.

Event ids are handed out in **commit order**, so a reader that has seen id N never
later finds a committed id below N (the live feed resumes by id and relies on it).
A plain sequence gives ids in insert order, and a transaction holding id 41 may commit
after the one holding id 42. On PostgreSQL a deferred trigger (migration 0008) gives
each new event its final id while the transaction commits, under an advisory lock that
is released only after the commit is visible; the lock is never held across a round
trip to the application, which under load made a convoy of waiting commits. SQLite
serialises writers already.

The events are kept aside until the transaction commits and then go in as one Core
``INSERT`` (one row or many), right before COMMIT.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import Table, insert
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from agencyhub.audit.models import Event
from agencyhub.db import TenantSession, after_commit, inside_savepoint, rls_connection, utcnow

log = structlog.get_logger(__name__)

_PENDING = "audit.pending_events"
_ADDED = "audit.events_added_by_hand"

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
_INSERT = insert(_events)


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
    rls_connection(session).execute(_INSERT, rows)
    after_commit(session, _notify_committed)


@sa_event.listens_for(TenantSession, "before_flush")
def _notice_direct_inserts(session: Session, _context: UOWTransaction, _instances: object) -> None:
    """An Event added to the session by hand pokes the live feed too (a second poke in
    one transaction costs nothing: pokes coalesce)."""
    added = [obj for obj in session.new if isinstance(obj, Event)]
    if added:
        session.info.setdefault(_ADDED, []).extend(added)
        after_commit(session, _notify_committed)


@sa_event.listens_for(TenantSession, "after_commit")
def _forget_direct_inserts(session: Session) -> None:
    """On PostgreSQL such an Event's id was provisional (the final one is drawn inside
    COMMIT): it leaves the session expired, so reading it fails instead of lying."""
    if session.in_nested_transaction():
        return
    added = session.info.pop(_ADDED, [])
    if not added or session.get_bind().dialect.name != "postgresql":
        return
    for obj in added:
        if obj in session:
            session.expire(obj)
            session.expunge(obj)


@sa_event.listens_for(TenantSession, "after_soft_rollback")
def _drop_pending_events(session: Session, previous_transaction: SessionTransaction) -> None:
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)
        session.info.pop(_ADDED, None)
        return
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [
            (savepoint, row)
            for savepoint, row in pending
            if not inside_savepoint(savepoint, previous_transaction)
        ]


def _notify_committed() -> None:
    for listener in list(_committed_listeners):
        listener()
