"""Response structures of the audit trail API (camelCase on the wire)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec


class EventOut(msgspec.Struct, rename="camel"):
    """One event. The field order is also the column order of the CSV export."""

    id: int
    type: str
    actor_user_id: uuid.UUID | None
    actor_kind: str
    subject_type: str
    subject_id: uuid.UUID | None
    client_id: uuid.UUID | None
    payload: dict[str, Any]
    request_id: str | None
    created_at: datetime


class EventPage(msgspec.Struct, rename="camel"):
    """Newest first; pass ``nextCursor`` as ``cursor`` for the next page (null: no more)."""

    items: list[EventOut]
    next_cursor: str | None


def csv_header() -> tuple[str, ...]:
    return tuple(field.encode_name for field in msgspec.structs.fields(EventOut))
