"""Plain inputs of the publishing service (the API converts its structs to these)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class InboundData:
    channel_id: uuid.UUID
    external_id: str
    kind: str
    body: str
    author_name: str = ""
    author_handle: str = ""
    url: str = ""
    severity: str = "normal"
    received_at: datetime | None = None
