"""Request and response structures of the approvals API (channels and inbound items:
``publishing.schemas``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from agencyhub.publishing.schemas import SeverityName, Short, Text, Url
from agencyhub.tenancy.schemas import Camel, Out

Version = Annotated[int, msgspec.Meta(ge=1)]


# --- drafts -------------------------------------------------------------------------


class DraftCreate(Camel):
    kind: Literal["post", "reply"]
    body: Text
    channel_id: uuid.UUID | None = None
    inbound_item_id: uuid.UUID | None = None
    alternatives: list[str] = msgspec.field(default_factory=list)
    media: list[Url] = msgspec.field(default_factory=list)
    rationale: Annotated[str, msgspec.Meta(max_length=20_000)] = ""
    title: Short = ""
    severity: SeverityName | None = None
    scheduled_for: datetime | None = None


class RevisionCreate(Camel):
    version: Version
    body: Text
    alternatives: list[str] = msgspec.field(default_factory=list)
    media: list[Url] = msgspec.field(default_factory=list)
    rationale: Annotated[str, msgspec.Meta(max_length=20_000)] = ""


class VersionOnly(Camel):
    version: Version


class SeverityChange(Camel):
    version: Version
    severity: SeverityName


class DecisionCreate(Camel):
    decision: Literal["approve", "reject", "request_changes"]
    version: Version
    comment: Annotated[str, msgspec.Meta(max_length=20_000)] = ""
    revision_id: uuid.UUID | None = None
    wording: Annotated[int, msgspec.Meta(ge=0, le=2)] | None = None


class CommentCreate(Camel):
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
    visibility: Literal["shared", "internal"] = "shared"


class DraftOut(Out):
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
    decided_at: datetime | None
    approved_wording: int | None
    created_at: datetime
    updated_at: datetime


class DiffPart(Out):
    op: str
    text: str


class RevisionOut(Out):
    id: uuid.UUID
    number: int
    body: str
    alternatives: list[str]
    media: list[str]
    rationale: str
    author_id: uuid.UUID | None
    created_at: datetime
    diff: list[DiffPart] | None = None


class DecisionOut(Out):
    id: uuid.UUID
    revision_id: uuid.UUID
    user_id: uuid.UUID | None
    role: str
    decision: str
    wording: int | None
    comment: str
    created_at: datetime


class CommentOut(Out):
    id: uuid.UUID
    author_id: uuid.UUID | None
    visibility: str
    body: str
    created_at: datetime


class TimelineEntry(Out):
    id: int
    type: str
    actor_user_id: uuid.UUID | None
    actor_kind: str
    payload: dict[str, Any]
    created_at: datetime


class FallbackTakenOut(Out):
    """What the emergency plan did in place of a decision: the action, when, by which
    step, and for a holding statement the text that went out and its template."""

    action: str
    step: int
    taken_at: datetime
    template_id: uuid.UUID | None
    template_name: str | None
    body: str | None
    note: str | None


class DraftDetail(Out):
    draft: DraftOut
    revisions: list[RevisionOut]
    decisions: list[DecisionOut]
    comments: list[CommentOut]
    timeline: list[TimelineEntry]
    # The emergency plan's fallback, once taken (status ``fallback_taken``).
    fallback: FallbackTakenOut | None = None


class DraftList(Out):
    items: list[DraftOut]


# --- approval policy ----------------------------------------------------------------


class PolicyBody(Camel):
    """Per severity, a list of alternatives; each maps a role to approvals needed."""

    normal: list[dict[str, int]]
    high: list[dict[str, int]]
    crisis: list[dict[str, int]]
    four_eyes: bool = True


class PolicyOut(Out):
    normal: list[dict[str, int]]
    high: list[dict[str, int]]
    crisis: list[dict[str, int]]
    four_eyes: bool
    is_default: bool
