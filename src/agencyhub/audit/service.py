"""Reading one client's audit trail (recording lives in :mod:`agencyhub.audit.record`).

Every read starts with tenancy's ``get_client_for`` (another tenant's or client's id
answers 404); the visibility rule is checked again here all the same.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from sqlalchemy import Select, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from agencyhub.audit import rules
from agencyhub.audit.models import Event
from agencyhub.audit.record import record_event
from agencyhub.db import Scope, scope_of, transaction
from agencyhub.errors import NotFound
from agencyhub.tenancy import rules as tenancy_rules
from agencyhub.tenancy.models import Client
from agencyhub.tenancy.rules import Actor
from agencyhub.tenancy.service import get_client_for

log = structlog.get_logger(__name__)

# record_event is re-exported for callers that read and write the trail together.
__all__ = [
    "EventExport",
    "EventPage",
    "export_batches",
    "list_events",
    "prepare_export",
    "record_event",
]

EXPORT_BATCH_SIZE = 1000
"""Events per read transaction of a CSV export."""


# --- reading the audit trail ------------------------------------------------------------
#
# The trail of one client lists ``events.client_id = :client`` only: agency-wide events
# (client_id NULL) and other clients' events never appear, whoever asks. Client roles
# additionally never see agency-internal events (payload ``internal: true``). Pages run
# newest first by id (keyset on ``ix_events_client_id_id``), never by offset.


@dataclass(frozen=True, slots=True)
class EventPage:
    items: list[Event]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class EventExport:
    """A CSV export prepared inside the request: who may see what, and which rows.

    ``conditions`` pin the window (newest id at preparation time, and the cap), so
    events recorded while the download runs do not shift it. ``next_cursor`` is set
    when the cap cut the export short.
    """

    client_slug: str
    scope: Scope
    conditions: tuple[ColumnElement[bool], ...]
    next_cursor: str | None


async def list_events(
    session: AsyncSession,
    actor: Actor,
    client_id: uuid.UUID,
    query: rules.EventQuery,
    *,
    limit: int = rules.DEFAULT_PAGE_SIZE,
) -> EventPage:
    """One page of the client's trail, newest first."""
    client = await get_client_for(session, actor, client_id)
    rows = list(await session.scalars(trail_query(actor, client, query).limit(limit + 1)))
    items = rows[:limit]
    more = len(rows) > limit
    return EventPage(items=items, next_cursor=rules.encode_cursor(items[-1].id) if more else None)


async def prepare_export(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, query: rules.EventQuery
) -> EventExport:
    """Fix the export window (and its visibility) before any byte is sent."""
    client = await get_client_for(session, actor, client_id)
    conditions = _conditions(actor, client, query)
    newest = await session.scalar(
        select(Event.id).where(*conditions).order_by(Event.id.desc()).limit(1)
    )
    if newest is None:
        return EventExport(client.slug, scope_of(session), (false(),), None)
    conditions.append(Event.id <= newest)
    cap = rules.CSV_ROW_CAP
    # The cap-th row and whether another follows it: one short index range scan.
    edge = list(
        await session.scalars(
            select(Event.id).where(*conditions).order_by(Event.id.desc()).offset(cap - 1).limit(2)
        )
    )
    next_cursor = None
    if len(edge) == 2:
        conditions.append(Event.id >= edge[0])
        next_cursor = rules.encode_cursor(edge[0])
        log.info("events.export_capped", cap=cap, client_id=str(client.id))
    return EventExport(client.slug, scope_of(session), tuple(conditions), next_cursor)


async def export_batches(
    sessions: async_sessionmaker[AsyncSession], export: EventExport
) -> AsyncIterator[list[Event]]:
    """The export's events, newest first, one short read transaction per batch.

    The request's own session is closed before a streamed body is sent, so each batch
    opens its own, in the scope the access check established.
    """
    batch_size = EXPORT_BATCH_SIZE
    before: int | None = None
    while True:
        query = select(Event).where(*export.conditions)
        if before is not None:
            query = query.where(Event.id < before)
        async with transaction(sessions, export.scope) as session:
            batch = list(await session.scalars(query.order_by(Event.id.desc()).limit(batch_size)))
        if batch:
            yield batch
        if len(batch) < batch_size:
            return
        before = batch[-1].id


def trail_query(actor: Actor, client: Client, query: rules.EventQuery) -> Select[Event]:
    """The visible events of the client matching ``query``, newest first."""
    return select(Event).where(*_conditions(actor, client, query)).order_by(Event.id.desc())


def _conditions(actor: Actor, client: Client, query: rules.EventQuery) -> list[ColumnElement[bool]]:
    # Defence in depth: the caller's access check already refused a foreign client.
    if not tenancy_rules.can_view_client(actor, client.agency_id, client.id):
        raise NotFound("No such client.")
    conditions: list[ColumnElement[bool]] = [Event.client_id == client.id]
    if not query.types.is_empty:
        conditions.append(_type_condition(query.types))
    if query.actor_user_id is not None:
        conditions.append(Event.actor_user_id == query.actor_user_id)
    if query.subject_type is not None:
        conditions.append(Event.subject_type == query.subject_type)
    if query.subject_id is not None:
        conditions.append(Event.subject_id == query.subject_id)
    if query.since is not None:
        conditions.append(Event.created_at >= query.since)
    if query.until is not None:
        conditions.append(Event.created_at < query.until)
    if query.before_id is not None:
        conditions.append(Event.id < query.before_id)
    if not rules.sees_internal_events(actor, client.agency_id):
        conditions.append(_not_internal())
    return conditions


def _type_condition(types: rules.TypeFilter) -> ColumnElement[bool]:
    alternatives: list[ColumnElement[bool]] = []
    if types.exact:
        alternatives.append(Event.type.in_(types.exact))
    alternatives.extend(Event.type.startswith(prefix, autoescape=True) for prefix in types.prefixes)
    return or_(*alternatives)


def _not_internal() -> ColumnElement[bool]:
    # JSON true reads as boolean true on PostgreSQL and as 1 on SQLite; IS NOT TRUE
    # keeps rows without the key (NULL) on both.
    flag: ColumnElement[bool] = Event.payload[rules.INTERNAL_FLAG].as_boolean()
    return flag.is_not(true())
