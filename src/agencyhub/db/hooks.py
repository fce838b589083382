"""Work that must wait for a commit: callbacks run after it, dropped on rollback."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncSession,
)
from sqlalchemy.orm import (
    Session,
    SessionTransaction,
)

from agencyhub.db.scope import TenantSession

log = structlog.get_logger("agencyhub.db")


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
        if not inside_savepoint(savepoint, previous_transaction)
    ]


def inside_savepoint(savepoint: SessionTransaction | None, rolled_back: SessionTransaction) -> bool:
    """Whether ``savepoint`` is ``rolled_back`` or nested in it (its work went too)."""
    while savepoint is not None:
        if savepoint is rolled_back:
            return True
        savepoint = savepoint.parent
    return False
