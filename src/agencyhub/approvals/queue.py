"""The client's approval queue (keyset pages) and bulk approve.

The queue is the pending drafts of one client, soonest SLA due first, then the more
severe, then the older, then by id so the order is total. That is exactly the key of
the partial index ``ix_drafts_queue``, so a page is one index range scan whatever its
depth: the cursor is the last row's sort key and the next page starts strictly after it
(a row-value comparison), never an OFFSET. The page's keys are read first, then its
rows with their revision, channel and inbound item in one more query.

Bulk approve decides each item on its own in a SAVEPOINT through
:func:`agencyhub.approvals.service.decide`, so it enforces exactly the rules of the
single-draft endpoint, and one refused item does not undo the others.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import msgspec
import structlog
from sqlalchemy import Row, Select, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from agencyhub.approvals import rules, service
from agencyhub.approvals.models import Draft, Revision
from agencyhub.approvals.rules import Kind, Severity, Status
from agencyhub.errors import DomainError, Forbidden, InvalidInput, NotFound
from agencyhub.publishing.models import Channel, InboundItem
from agencyhub.tenancy import rules as tenancy_rules
from agencyhub.tenancy.rules import Actor
from agencyhub.tenancy.service import get_client_for

log = structlog.get_logger(__name__)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

# The index key of ``ix_drafts_queue`` after ``client_id``, in order.
SORT_COLUMNS = (Draft.sla_due_at, Draft.severity_order, Draft.submitted_at, Draft.id)

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
_CursorKey = tuple[AwareDatetime, int, AwareDatetime, uuid.UUID]


# --- cursor -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SortKey:
    """Where a page ended: the sort key of its last row."""

    sla_due_at: datetime
    severity_order: int
    submitted_at: datetime
    draft_id: uuid.UUID

    @classmethod
    def of(
        cls,
        due: datetime | None,
        severity_order: int,
        submitted: datetime | None,
        draft_id: uuid.UUID,
    ) -> SortKey:
        # Submitting sets both times; a pending draft without them breaks the queue order.
        assert due is not None, draft_id
        assert submitted is not None, draft_id
        return cls(due, severity_order, submitted, draft_id)

    def values(self) -> tuple[datetime, int, datetime, uuid.UUID]:
        return (self.sla_due_at, self.severity_order, self.submitted_at, self.draft_id)


def encode_cursor(key: SortKey) -> str:
    """Opaque to clients: URL-safe base64 of the JSON sort key, without padding."""
    raw = msgspec.json.encode(key.values())
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> SortKey:
    """The sort key in ``cursor``; a cursor we did not hand out is a 422 on ``cursor``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii"))
        due, severity_order, submitted, draft_id = msgspec.json.decode(raw, type=_CursorKey)
    except (UnicodeEncodeError, binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise InvalidInput("is not a cursor from a previous page", field="cursor") from exc
    return SortKey(due, severity_order, submitted, draft_id)


# --- reading the queue --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueFilters:
    kind: Kind | None = None
    severity: Severity | None = None
    channel_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class QueueEntry:
    draft: Draft
    revision: Revision | None
    channel: Channel
    inbound_item: InboundItem | None


@dataclass(frozen=True, slots=True)
class QueuePage:
    entries: list[QueueEntry]
    next_cursor: str | None
    total: int


def pending_conditions(client_id: uuid.UUID, filters: QueueFilters) -> list[ColumnElement[bool]]:
    conditions = [
        Draft.client_id == client_id,
        # Rendered inline, not bound: a prepared statement's generic plan can match the
        # partial index's ``WHERE status = 'pending'`` only against a literal.
        Draft.status == literal(Status.PENDING.value, literal_execute=True),
    ]
    if filters.kind is not None:
        conditions.append(Draft.kind == filters.kind.value)
    if filters.severity is not None:
        # severity_order is in the index key, severity is not: same rows, cheaper test.
        conditions.append(Draft.severity_order == rules.SEVERITY_ORDER[filters.severity])
    if filters.channel_id is not None:
        conditions.append(Draft.channel_id == filters.channel_id)
    return conditions


def after_key(key: SortKey) -> ColumnElement[bool]:
    """Rows strictly after ``key`` in queue order, as one row-value comparison.

    Each value is bound with its column's type, so SQLite compares stored GUID bytes
    and UTC timestamps like with like.
    """
    bound = [literal(v, type_=c.type) for c, v in zip(SORT_COLUMNS, key.values(), strict=True)]
    return tuple_(*SORT_COLUMNS) > tuple_(*bound)


def keys_query(
    conditions: Sequence[ColumnElement[bool]], after: SortKey | None, limit: int
) -> Select[datetime | None, int, datetime | None, uuid.UUID]:
    """The page's sort keys: columns of ``ix_drafts_queue`` only, no joins.

    Kept apart from the rows on purpose. The tenant criteria and the RLS policy both
    test ``agency_id``, which the index lacks, so PostgreSQL expects about one matching
    row and may pick a bitmap scan plus a sort over the ordered index scan; this way
    such a plan sorts only the client's pending keys and joins only one page of rows
    (bench/queue/README.md, "Proposed schema changes", shows the index that avoids it).
    """
    query = select(*SORT_COLUMNS).where(*conditions)
    if after is not None:
        query = query.where(after_key(after))
    return query.order_by(*SORT_COLUMNS).limit(limit)


def entries_query(ids: Sequence[uuid.UUID]) -> Select[Draft, Revision, Channel, InboundItem]:
    """Everything the page's items show, in one round trip (no N+1).

    Revision and inbound item are outer joins: a post answers no inbound item. Still
    pending: a draft decided since the keys were read drops out rather than showing
    a stale state.
    """
    return (
        select(Draft, Revision, Channel, InboundItem)
        .outerjoin(Revision, Revision.id == Draft.current_revision_id)
        .join(Channel, Channel.id == Draft.channel_id)
        .outerjoin(InboundItem, InboundItem.id == Draft.inbound_item_id)
        .where(Draft.id.in_(ids), Draft.status == Status.PENDING.value)
    )


async def list_queue(
    session: AsyncSession,
    actor: Actor,
    client_id: uuid.UUID,
    *,
    filters: QueueFilters | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> QueuePage:
    """A page of the client's pending drafts; anyone who sees the client may read it."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"must be between 1 and {MAX_PAGE_SIZE}", field="limit")
    after = decode_cursor(cursor) if cursor else None
    client = await get_client_for(session, actor, client_id)
    conditions = pending_conditions(client.id, filters or QueueFilters())
    # One key more than asked tells whether a next page exists without a second query.
    rows = await session.execute(keys_query(conditions, after, limit + 1))
    keys = [SortKey.of(*row) for row in rows]
    page = keys[:limit]
    entries = await _entries(session, [key.draft_id for key in page])
    total = await session.scalar(select(func.count()).select_from(Draft).where(*conditions))
    next_cursor = encode_cursor(page[-1]) if len(keys) > limit else None
    return QueuePage(entries=entries, next_cursor=next_cursor, total=int(total or 0))


async def _entries(session: AsyncSession, ids: list[uuid.UUID]) -> list[QueueEntry]:
    if not ids:
        return []
    rows = await session.execute(entries_query(ids))
    by_id = {d.id: QueueEntry(d, r, c, i) for d, r, c, i in rows}
    return [by_id[i] for i in ids if i in by_id]


# --- bulk approve ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApproveItem:
    draft_id: uuid.UUID
    version: int
    wording: int | None = None


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """What became of one item: the draft's status and version, or why it was refused."""

    draft_id: uuid.UUID
    status: str | None
    version: int | None
    error: DomainError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


async def bulk_approve(
    session: AsyncSession,
    actor: Actor,
    client_id: uuid.UUID,
    items: Sequence[ApproveItem],
    *,
    comment: str = "",
) -> list[ItemOutcome]:
    """Approve each item on its own; the outcomes come back in the order asked.

    A caller whose role can never decide is refused as a whole (403): that is about the
    request, not about any one draft. Everything else is answered per item.
    """
    client = await get_client_for(session, actor, client_id)
    role = tenancy_rules.role_at_client(actor, client.agency_id, client.id)
    if role not in rules.DECIDING_ROLES:
        who = tenancy_rules.role_phrase(role, start=True)
        raise Forbidden(f"{who} cannot decide drafts; approvers and executives can.")
    service.require_confirmed(actor, client.agency_id, client.id)
    own = await _drafts_of_client(session, client.id, {item.draft_id for item in items})
    outcomes: dict[int, ItemOutcome] = {}
    # Locking rows in one global order keeps two overlapping bulk requests from
    # deadlocking each other; the answer keeps the caller's order.
    for index in sorted(range(len(items)), key=lambda i: items[i].draft_id):
        outcomes[index] = await _approve_one(session, actor, items[index], comment, own)
    structlog.contextvars.unbind_contextvars("draft_id")
    refused = sum(1 for outcome in outcomes.values() if not outcome.ok)
    log.info("queue.bulk_approved", items=len(items), refused=refused)
    return [outcomes[i] for i in range(len(items))]


async def _drafts_of_client(
    session: AsyncSession, client_id: uuid.UUID, draft_ids: set[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of ``draft_ids`` are this client's; the rest answer 404 like unknown ids."""
    rows = await session.scalars(
        select(Draft.id).where(Draft.id.in_(sorted(draft_ids)), Draft.client_id == client_id)
    )
    return set(rows)


async def _approve_one(
    session: AsyncSession,
    actor: Actor,
    item: ApproveItem,
    comment: str,
    own: set[uuid.UUID],
) -> ItemOutcome:
    if item.draft_id not in own:
        return _refused(item.draft_id, NotFound("No such draft in this client's queue."))
    try:
        async with session.begin_nested():
            draft = await service.decide(
                session,
                actor,
                item.draft_id,
                decision="approve",
                version=item.version,
                comment=comment,
                revision_id=None,
                wording=item.wording,
            )
    except DomainError as error:
        # The caller sees this draft, so a refusal still says where it stands.
        now = (
            await session.execute(
                select(Draft.status, Draft.version).where(Draft.id == item.draft_id)
            )
        ).first()
        return _refused(item.draft_id, error, now)
    return ItemOutcome(draft_id=draft.id, status=draft.status, version=draft.version)


def _refused(
    draft_id: uuid.UUID, error: DomainError, current: Row[str, int] | None = None
) -> ItemOutcome:
    log.info("queue.item_refused", item_id=str(draft_id), status=error.status_code)
    return ItemOutcome(
        draft_id=draft_id,
        status=current.status if current else None,
        version=current.version if current else None,
        error=error,
    )


__all__ = [
    "ApproveItem",
    "ItemOutcome",
    "QueueEntry",
    "QueueFilters",
    "QueuePage",
    "SortKey",
    "bulk_approve",
    "decode_cursor",
    "encode_cursor",
    "list_queue",
]
