"""The ORM writer of a draft's life cycle: it saves what :mod:`lifecycle` answers,
with the audit event, and nothing else.

The system's own changes enter here too — the emergency plan's fallback and crisis
mode's pause and resume — so escalation asks the approvals feature and never edits a
draft row itself. (Decisions, the hot path, are saved by the Core writer in
:mod:`agencyhub.approvals.decision_store`, from the same :class:`lifecycle.Change`.)
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.approvals import lifecycle, rules
from agencyhub.approvals.lifecycle import AuditEvent, Change, DraftState
from agencyhub.approvals.models import Draft
from agencyhub.approvals.rules import Action, Severity, Status, Who
from agencyhub.audit.record import record_event
from agencyhub.audit.rules import INTERNAL_FLAG


def apply(draft: Draft, change: Change) -> None:
    """Set the changed columns on the row (the session writes them at flush)."""
    for name, value in change.values.items():
        setattr(draft, name, value)


async def record(
    session: AsyncSession, draft: Any, actor_id: uuid.UUID | None, event: AuditEvent
) -> None:
    """The change's audit event; ``draft`` is the ORM row or a Core row of it.

    Until its first submission a draft is the agency's unfinished work: its events are
    agency-internal, so no client role reads them in the feed or the audit trail.
    """
    payload = event.payload
    if draft.submitted_at is None:
        payload = {**payload, INTERNAL_FLAG: True}
    await record_event(
        session,
        type=event.type,
        agency_id=draft.agency_id,
        client_id=draft.client_id,
        subject_type="draft",
        subject_id=draft.id,
        actor_user_id=actor_id,
        actor_kind="user" if actor_id else "system",
        payload=payload,
    )


async def save(
    session: AsyncSession, draft: Draft, change: Change, actor_id: uuid.UUID | None
) -> None:
    apply(draft, change)
    if change.event is not None:
        await record(session, draft, actor_id, change.event)


async def take_fallback(
    session: AsyncSession, draft: Draft, now: datetime, detail: Mapping[str, Any]
) -> None:
    """The emergency plan took its fallback: the draft leaves the queue as
    ``fallback_taken`` (the system's action; the rules refuse it to every person)."""
    facts = rules.DraftFacts(
        status=Status(draft.status),
        severity=Severity(draft.severity),
        current_revision_id=draft.current_revision_id,
        current_revision_author_id=None,
    )
    request = rules.Request(action=Action.TAKE_FALLBACK, who=Who.system())
    change = lifecycle.transition(
        DraftState.of(draft), facts, request, rules.DEFAULT_POLICY, now=now, detail=detail
    )
    await save(session, draft, change, None)


async def pause_scheduled_posts(
    session: AsyncSession, client_id: uuid.UUID, user_id: uuid.UUID | None, now: datetime
) -> int:
    """Crisis mode: hold every scheduled post of the client that is not held yet."""
    drafts = await session.scalars(
        select(Draft)
        .where(
            Draft.client_id == client_id,
            Draft.status == Status.SCHEDULED,
            Draft.paused_at.is_(None),
        )
        .with_for_update()
    )
    held = list(drafts)
    for draft in held:
        await save(session, draft, lifecycle.pause(DraftState.of(draft), now), user_id)
    return len(held)


async def resume_paused_posts(
    session: AsyncSession, client_id: uuid.UUID, user_id: uuid.UUID | None
) -> int:
    """The end of crisis mode: every post it held may go out again."""
    drafts = await session.scalars(
        select(Draft)
        .where(Draft.client_id == client_id, Draft.paused_at.is_not(None))
        .with_for_update()
    )
    held = list(drafts)
    for draft in held:
        await save(session, draft, lifecycle.resume(DraftState.of(draft)), user_id)
    return len(held)
