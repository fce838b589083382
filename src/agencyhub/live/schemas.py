"""Response structures of the live feed's HTTP endpoints (presence)."""

from __future__ import annotations

import uuid
from datetime import datetime

from agencyhub.tenancy.schemas import Out


class PresenceOut(Out):
    draft_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    expires_at: datetime


class PresenceList(Out):
    items: list[PresenceOut]
