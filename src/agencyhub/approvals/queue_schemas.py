"""Request and response structures of the client's approval queue and bulk approve."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from agencyhub.approvals.schemas import Version
from agencyhub.tenancy.schemas import Camel, Out

MAX_BULK_ITEMS = 100


# --- reading the queue ----------------------------------------------------------------


class QueueChannel(Out):
    id: uuid.UUID
    platform: str
    handle: str
    display_name: str


class QueueInbound(Out):
    """The comment, mention, message or review a reply answers."""

    id: uuid.UUID
    kind: str
    body: str
    author_name: str
    author_handle: str
    url: str
    severity: str
    received_at: datetime


class QueueItem(Out):
    """A pending draft with what an approver needs to decide it at a glance."""

    id: uuid.UUID
    client_id: uuid.UUID
    kind: str
    channel_id: uuid.UUID
    inbound_item_id: uuid.UUID | None
    title: str
    status: str
    severity: str
    version: int
    current_revision_id: uuid.UUID | None
    revision_count: int
    scheduled_for: datetime | None
    submitted_at: datetime | None
    sla_due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # The current revision: ``wordings[0]`` is ``body``, the rest are alternatives.
    revision_number: int | None
    body: str
    wordings: list[str]
    media: list[str]
    rationale: str
    channel: QueueChannel
    inbound_item: QueueInbound | None


class QueuePage(Out):
    items: list[QueueItem]
    next_cursor: str | None
    total: int


# --- bulk approve -----------------------------------------------------------------------


class BulkApproveItem(Camel):
    draft_id: uuid.UUID
    version: Version
    wording: Annotated[int, msgspec.Meta(ge=0, le=2)] | None = None


class BulkApprove(Camel):
    items: Annotated[list[BulkApproveItem], msgspec.Meta(min_length=1, max_length=MAX_BULK_ITEMS)]
    comment: Annotated[str, msgspec.Meta(max_length=20_000)] = ""


class ItemProblem(Out):
    """The problem+json fields of one refused item."""

    status: int
    type: str
    title: str
    detail: str


class BulkApproveResult(msgspec.Struct, rename="camel", omit_defaults=True):
    """One item's outcome; ``error`` only on refused items.

    ``status``/``version`` are the draft's after an approval, the current ones after a
    409, and ``null`` when the draft is not visible (404), so ids cannot be probed.
    """

    draft_id: uuid.UUID
    ok: bool
    status: str | None
    version: int | None
    error: ItemProblem | None = None


class BulkApproveResults(Out):
    results: list[BulkApproveResult]
