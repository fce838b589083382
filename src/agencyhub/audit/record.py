"""Recording events: written in the same transaction as the change they record."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.audit.models import Event

log = structlog.get_logger(__name__)


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
) -> Event:
    """Add an Event to the current transaction; it commits or rolls back with it."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    event = Event(
        agency_id=agency_id,
        client_id=client_id,
        type=type,
        actor_user_id=actor_user_id,
        actor_kind=actor_kind,
        subject_type=subject_type,
        subject_id=subject_id,
        payload=payload or {},
        request_id=request_id,
    )
    session.add(event)
    await session.flush()
    log.debug(
        "event.recorded",
        event_type=type,
        event_id=event.id,
        agency_id=str(agency_id),
        client_id=str(client_id) if client_id else None,
        subject_id=str(subject_id) if subject_id else None,
    )
    return event
