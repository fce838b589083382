"""Use cases of the live feed that touch the database: who is connecting, what they
missed, and presence marks. Each runs in a short transaction of its own: a live
connection never holds a database session open (litestar#3772)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Row, Select, and_, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from agencyhub.approvals.models import Draft
from agencyhub.approvals.service import get_draft_for
from agencyhub.audit.models import Event
from agencyhub.audit.rules import INTERNAL_FLAG
from agencyhub.errors import NotFound, Unauthenticated
from agencyhub.live import rules
from agencyhub.tenancy import auth
from agencyhub.tenancy.models import User
from agencyhub.tenancy.rules import Actor
from agencyhub.tenancy.service import get_client_for

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Credential:
    """What the connection signed in with; checked again while it stays open."""

    kind: str  # "token" or "session"
    secret: str

    @classmethod
    def from_headers(cls, authorization: str | None, session_cookie: str | None) -> Credential:
        """A Bearer token, else the session cookie (as :func:`provide_actor` reads them)."""
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("Use 'Authorization: Bearer <token>'.")
            return cls("token", token.strip())
        if not session_cookie:
            raise Unauthenticated("Sign in first.")
        return cls("session", session_cookie)


async def authenticate(session: AsyncSession, credential: Credential) -> Actor:
    if credential.kind == "token":
        authenticated = await auth.authenticate_bearer(session, credential.secret)
    else:
        authenticated = await auth.authenticate_session_cookie(session, credential.secret)
    structlog.contextvars.bind_contextvars(user_id=str(authenticated.user.id))
    return await auth.load_actor(session, authenticated.user.id)


async def head(session: AsyncSession) -> int:
    """The newest event id this session may see (the user's agencies, by RLS too)."""
    return int(await session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0)


EVENT_COLUMNS = (
    Event.id,
    Event.type,
    Event.agency_id,
    Event.client_id,
    Event.subject_type,
    Event.subject_id,
    Event.payload,
    Event.created_at,
    Draft.severity,
    Draft.sla_due_at,
)
"""What a live event is built from, live (the relay) and on replay alike: the event row
and, for a draft event, the draft's current severity and SLA due time."""


def select_events() -> Select[Any]:
    """Events with the facts :func:`live_event_of` needs, oldest first; the caller adds
    its window. The one query shape behind both the relay and a replay."""
    return (
        select(*EVENT_COLUMNS)
        .outerjoin(Draft, and_(Event.subject_type == "draft", Draft.id == Event.subject_id))
        .order_by(Event.id)
    )


def live_event_of(row: Row[Any]) -> rules.LiveEvent:
    """The one builder of a live event from a row of :func:`select_events`."""
    return rules.live_event(
        id=row.id,
        type=row.type,
        agency_id=row.agency_id,
        client_id=row.client_id,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        payload=row.payload or {},
        at=row.created_at,
        draft=rules.draft_facts(row.severity, row.sla_due_at) if row.severity else None,
    )


async def missed_events(
    session: AsyncSession, actor: Actor, after: int, upto: int, limit: int
) -> list[rules.LiveEvent]:
    """Events ``after < id <= upto`` the actor may receive, oldest first, at most
    ``limit``. SQL narrows by visibility; :func:`rules.may_receive` decides."""
    statement = (
        select_events().where(Event.id > after, Event.id <= upto, _visible_to(actor)).limit(limit)
    )
    return [live_event_of(row) for row in (await session.execute(statement)).all()]


def _visible_to(actor: Actor) -> ColumnElement[bool]:
    """The SQL side of :func:`rules.may_receive`: it may let more through, never less."""
    not_internal: ColumnElement[bool] = Event.payload[INTERNAL_FLAG].as_boolean().is_not(true())
    alternatives: list[ColumnElement[bool]] = []
    for grant in actor.grants:
        if grant.sees_every_client:
            alternatives.append(Event.agency_id == grant.agency_id)
        elif grant.is_agency_level:
            reach: ColumnElement[bool] = Event.client_id.is_(None)
            if grant.assigned_client_ids:
                reach = or_(reach, Event.client_id.in_(sorted(grant.assigned_client_ids)))
            alternatives.append(and_(Event.agency_id == grant.agency_id, reach))
    clients = sorted({g.client_id for g in actor.grants if g.client_id is not None})
    if clients:
        alternatives.append(and_(Event.client_id.in_(clients), not_internal))
    return or_(*alternatives) if alternatives else false()


# --- presence -------------------------------------------------------------------------


async def viewing_mark(
    session: AsyncSession,
    actor: Actor,
    draft_id: uuid.UUID,
    now: datetime,
    client_id: uuid.UUID | None = None,
) -> rules.Presence:
    """The actor's presence mark on a draft they may see (of ``client_id``, if given)."""
    access = await get_draft_for(session, actor, draft_id)
    if client_id is not None and access.client.id != client_id:
        raise NotFound("No such draft.")
    user = await session.get(User, actor.user_id)
    return rules.Presence(
        agency_id=access.client.agency_id,
        client_id=access.client.id,
        draft_id=access.draft.id,
        user_id=actor.user_id,
        name=user.name if user else "",
        expires_at=now + timedelta(seconds=rules.PRESENCE_TTL_SECONDS),
    )


async def presence_client(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID]:
    """(agency id, client id) of a client the actor may see; else NotFound."""
    client = await get_client_for(session, actor, client_id)
    return client.agency_id, client.id
