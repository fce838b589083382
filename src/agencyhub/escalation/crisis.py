"""Crisis mode of a client: declared by a client executive/admin or by an emergency
plan's fallback, ended only by a client executive/admin.

While it lasts, every scheduled post of the client is paused (``drafts.paused_at``;
the status stays ``scheduled``, so no new state enters the life cycle) and every new
inbound item is raised to crisis severity. Ending it resumes the posts it paused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.approvals import writer
from agencyhub.approvals.models import Draft
from agencyhub.db import flush_or_conflict, utcnow
from agencyhub.errors import Conflict
from agencyhub.escalation.models import Crisis
from agencyhub.escalation.service import access_client, record
from agencyhub.tenancy.models import Client
from agencyhub.tenancy.rules import Actor, Role

CRISIS_DECIDERS = frozenset({Role.EXECUTIVE, Role.CLIENT_ADMIN})
CRISIS_SEVERITY = "crisis"


@dataclass(frozen=True, slots=True)
class CrisisView:
    client_id: uuid.UUID
    crisis: Crisis | None
    paused_posts: int


async def open_crisis(session: AsyncSession, client_id: uuid.UUID) -> Crisis | None:
    return await session.scalar(
        select(Crisis).where(Crisis.client_id == client_id, Crisis.ended_at.is_(None))
    )


async def severity_for_new_item(session: AsyncSession, client_id: uuid.UUID, severity: str) -> str:
    """A new inbound item of a client in crisis is a crisis item."""
    return CRISIS_SEVERITY if await open_crisis(session, client_id) is not None else severity


async def enter_crisis(
    session: AsyncSession,
    client: Client,
    *,
    user_id: uuid.UUID | None,
    draft_id: uuid.UUID | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Crisis:
    """Declare crisis mode (idempotent: an open crisis is returned as it is)."""
    existing = await open_crisis(session, client.id)
    if existing is not None:
        return existing
    now = now or utcnow()
    crisis = Crisis(
        agency_id=client.agency_id,
        client_id=client.id,
        started_at=now,
        started_by_id=user_id,
        started_by_draft_id=draft_id,
        reason=reason,
    )
    session.add(crisis)
    await flush_or_conflict(session, "Crisis mode was declared at the same moment.")
    paused = await writer.pause_scheduled_posts(session, client.id, user_id, now)
    await record(
        session,
        client,
        user_id,
        "crisis.declared",
        ("client", client.id),
        {"reason": reason, "draftId": str(draft_id) if draft_id else None, "pausedPosts": paused},
    )
    return crisis


async def declare_crisis(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, reason: str
) -> CrisisView:
    access = await access_client(session, actor, client_id)
    access.require(CRISIS_DECIDERS, "Only the client's executives and admins declare a crisis.")
    await enter_crisis(session, access.client, user_id=actor.user_id, reason=reason.strip())
    return await _view(session, access.client.id)


async def end_crisis(session: AsyncSession, actor: Actor, client_id: uuid.UUID) -> CrisisView:
    access = await access_client(session, actor, client_id)
    access.require(CRISIS_DECIDERS, "Only the client's executives and admins end a crisis.")
    crisis = await session.scalar(
        select(Crisis)
        .where(Crisis.client_id == access.client.id, Crisis.ended_at.is_(None))
        .with_for_update()
    )
    if crisis is None:
        raise Conflict("The client is not in crisis mode.")
    crisis.ended_at = utcnow()
    crisis.ended_by_id = actor.user_id
    resumed = await writer.resume_paused_posts(session, access.client.id, actor.user_id)
    await record(
        session,
        access.client,
        actor.user_id,
        "crisis.ended",
        ("client", access.client.id),
        {"resumedPosts": resumed},
    )
    return await _view(session, access.client.id)


async def get_crisis(session: AsyncSession, actor: Actor, client_id: uuid.UUID) -> CrisisView:
    access = await access_client(session, actor, client_id)
    return await _view(session, access.client.id)


async def _view(session: AsyncSession, client_id: uuid.UUID) -> CrisisView:
    paused = await session.scalars(
        select(Draft.id).where(Draft.client_id == client_id, Draft.paused_at.is_not(None))
    )
    return CrisisView(client_id, await open_crisis(session, client_id), len(paused.all()))
