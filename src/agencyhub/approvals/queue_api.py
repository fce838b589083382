"""HTTP controller of the client's approval queue and bulk approve."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.approvals import queue
from agencyhub.approvals.queue_schemas import (
    BulkApprove,
    BulkApproveResult,
    BulkApproveResults,
    ItemProblem,
    QueueChannel,
    QueueInbound,
    QueueItem,
    QueuePage,
)
from agencyhub.approvals.rules import Kind, Severity
from agencyhub.errors import TYPE_BASE
from agencyhub.publishing.models import Channel, InboundItem
from agencyhub.tenancy.rules import Actor


def queue_item_out(entry: queue.QueueEntry) -> QueueItem:
    d, revision = entry.draft, entry.revision
    return QueueItem(
        id=d.id,
        client_id=d.client_id,
        kind=d.kind,
        channel_id=d.channel_id,
        inbound_item_id=d.inbound_item_id,
        title=d.title,
        status=d.status,
        severity=d.severity,
        version=d.version,
        current_revision_id=d.current_revision_id,
        revision_count=d.revision_count,
        scheduled_for=d.scheduled_for,
        submitted_at=d.submitted_at,
        sla_due_at=d.sla_due_at,
        created_at=d.created_at,
        updated_at=d.updated_at,
        revision_number=revision.number if revision else None,
        body=revision.body if revision else "",
        wordings=revision.wordings if revision else [],
        media=list(revision.media) if revision else [],
        rationale=revision.rationale if revision else "",
        channel=channel_out(entry.channel),
        inbound_item=inbound_out(entry.inbound_item) if entry.inbound_item else None,
    )


def channel_out(c: Channel) -> QueueChannel:
    return QueueChannel(id=c.id, platform=c.platform, handle=c.handle, display_name=c.display_name)


def inbound_out(i: InboundItem) -> QueueInbound:
    return QueueInbound(
        id=i.id,
        kind=i.kind,
        body=i.body,
        author_name=i.author_name,
        author_handle=i.author_handle,
        url=i.url,
        severity=i.severity,
        received_at=i.received_at,
    )


def outcome_out(outcome: queue.ItemOutcome) -> BulkApproveResult:
    error = outcome.error
    return BulkApproveResult(
        draft_id=outcome.draft_id,
        ok=outcome.ok,
        status=outcome.status,
        version=outcome.version,
        error=(
            ItemProblem(
                status=error.status_code,
                type=TYPE_BASE + error.problem,
                title=error.title,
                detail=error.detail,
            )
            if error
            else None
        ),
    )


class QueueController(Controller):
    path = "/api/v1/clients/{client_id:uuid}/queue"
    tags = ["queue"]

    @get("")
    async def list_queue(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        kind: Annotated[Literal["post", "reply"] | None, QueryParameter(name="kind")] = None,
        severity: Annotated[
            Literal["normal", "high", "crisis"] | None, QueryParameter(name="severity")
        ] = None,
        channel_id: Annotated[uuid.UUID | None, QueryParameter(name="channelId")] = None,
        limit: Annotated[
            int, QueryParameter(name="limit", ge=1, le=queue.MAX_PAGE_SIZE)
        ] = queue.DEFAULT_PAGE_SIZE,
        cursor: Annotated[str | None, QueryParameter(name="cursor", max_length=512)] = None,
    ) -> QueuePage:
        """Pending drafts, soonest SLA due first, then severity, then age; keyset pages.

        Pass ``nextCursor`` back as ``cursor`` for the next page; ``total`` counts every
        pending draft that matches the filters.
        """
        page = await queue.list_queue(
            session,
            actor,
            client_id,
            filters=queue.QueueFilters(
                kind=Kind(kind) if kind else None,
                severity=Severity(severity) if severity else None,
                channel_id=channel_id,
            ),
            limit=limit,
            cursor=cursor,
        )
        return QueuePage(
            items=[queue_item_out(e) for e in page.entries],
            next_cursor=page.next_cursor,
            total=page.total,
        )

    @post("/decisions", status_code=HTTP_200_OK, opt={"token_scope": "decide"})
    async def bulk_approve(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[BulkApprove],
    ) -> BulkApproveResults:
        """Approve up to 100 drafts, each on its own: one result per item, in order.

        A refused item (404 not this client's, 409 stale version, 403, 422 wording)
        carries its problem and leaves nothing behind; the others are approved. A caller
        who can never decide (agency staff, client admins, viewers) gets 403 overall.
        """
        outcomes = await queue.bulk_approve(
            session,
            actor,
            client_id,
            [queue.ApproveItem(i.draft_id, i.version, i.wording) for i in data.items],
            comment=data.comment,
        )
        return BulkApproveResults(results=[outcome_out(o) for o in outcomes])


__all__ = ["QueueController"]
