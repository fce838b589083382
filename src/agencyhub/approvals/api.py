"""HTTP controllers of drafts, channels, inbound items and the approval policy."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Annotated

from litestar import Controller, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.approvals import policy_store, rules, service
from agencyhub.approvals.models import Comment, Decision, Draft, Revision
from agencyhub.approvals.schemas import (
    CommentCreate,
    CommentOut,
    DecisionCreate,
    DecisionOut,
    DiffPart,
    DraftCreate,
    DraftDetail,
    DraftList,
    DraftOut,
    FallbackTakenOut,
    PolicyBody,
    PolicyOut,
    RevisionCreate,
    RevisionOut,
    SeverityChange,
    TimelineEntry,
    VersionOnly,
)
from agencyhub.audit.models import Event
from agencyhub.publishing.api import inbound_out
from agencyhub.publishing.schemas import InboundOut, InboundUpdate
from agencyhub.tenancy.rules import Actor


def draft_out(d: Draft) -> DraftOut:
    return DraftOut(
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
        decided_at=d.decided_at,
        approved_wording=d.approved_wording,
        created_at=d.created_at,
        updated_at=d.updated_at,
    )


def fallback_out(timeline: Sequence[Event]) -> FallbackTakenOut | None:
    """The fallback the timeline records as taken (the newest), with what was published."""
    taken = next((e for e in reversed(timeline) if e.type == "draft.fallback_taken"), None)
    if taken is None:
        return None
    step = taken.payload.get("step")
    published = next(
        (
            e
            for e in reversed(timeline)
            if e.type == "draft.fallback_published" and e.payload.get("step") == step
        ),
        None,
    )
    detail = published.payload if published is not None else {}
    template = detail.get("templateId")
    return FallbackTakenOut(
        action=str(taken.payload.get("action", "")),
        step=int(step or 0),
        taken_at=taken.created_at,
        template_id=uuid.UUID(template) if template else None,
        template_name=detail.get("templateName"),
        body=detail.get("body"),
        note=detail.get("note"),
    )


def revisions_out(revisions: list[Revision]) -> list[RevisionOut]:
    result = []
    previous: Revision | None = None
    for r in revisions:
        diff = (
            [DiffPart(op=op, text=text) for op, text in rules.word_diff(previous.body, r.body)]
            if previous
            else None
        )
        result.append(
            RevisionOut(
                id=r.id,
                number=r.number,
                body=r.body,
                alternatives=list(r.alternatives),
                media=list(r.media),
                rationale=r.rationale,
                author_id=r.author_id,
                created_at=r.created_at,
                diff=diff,
            )
        )
        previous = r
    return result


def decision_out(d: Decision) -> DecisionOut:
    return DecisionOut(
        id=d.id,
        revision_id=d.revision_id,
        user_id=d.user_id,
        role=d.role,
        decision=d.decision,
        wording=d.wording,
        comment=d.comment,
        created_at=d.created_at,
    )


def comment_out(c: Comment) -> CommentOut:
    return CommentOut(
        id=c.id,
        author_id=c.author_id,
        visibility=c.visibility,
        body=c.body,
        created_at=c.created_at,
    )


def content_of(data: DraftCreate | RevisionCreate) -> service.Content:
    return service.Content(
        body=data.body,
        alternatives=tuple(data.alternatives),
        media=tuple(data.media),
        rationale=data.rationale,
    )


class ClientDraftsController(Controller):
    path = "/api/v1/clients/{client_id:uuid}"
    tags = ["drafts"]

    @get("/drafts")
    async def list_drafts(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        status: Annotated[str | None, QueryParameter(name="status")] = None,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=500)] = 100,
    ) -> DraftList:
        drafts = await service.list_drafts(session, actor, client_id, status=status, limit=limit)
        return DraftList(items=[draft_out(d) for d in drafts])

    @post("/drafts", status_code=HTTP_201_CREATED)
    async def create_draft(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[DraftCreate],
    ) -> DraftOut:
        """Write a post or a reply (its first revision); it stays a draft until submitted."""
        draft = await service.create_draft(
            session,
            actor,
            client_id,
            service.NewDraft(
                kind=data.kind,
                content=content_of(data),
                channel_id=data.channel_id,
                inbound_item_id=data.inbound_item_id,
                title=data.title,
                severity=data.severity,
                scheduled_for=data.scheduled_for,
            ),
        )
        return draft_out(draft)

    @get("/approval-policy")
    async def get_policy(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
    ) -> PolicyOut:
        policy, is_default = await service.get_policy(session, actor, client_id)
        return policy_out(policy, is_default)

    @put("/approval-policy")
    async def put_policy(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[PolicyBody],
    ) -> PolicyOut:
        """How many approvals, from which roles, each severity needs (client admins)."""
        policy = await service.set_policy(
            session,
            actor,
            client_id,
            {"normal": data.normal, "high": data.high, "crisis": data.crisis},
            data.four_eyes,
        )
        return policy_out(policy, False)


def policy_out(policy: rules.Policy, is_default: bool) -> PolicyOut:
    as_json = policy_store.policy_to_json(policy)
    return PolicyOut(
        normal=as_json["normal"],
        high=as_json["high"],
        crisis=as_json["crisis"],
        four_eyes=policy.four_eyes,
        is_default=is_default,
    )


class DraftController(Controller):
    path = "/api/v1/drafts/{draft_id:uuid}"
    tags = ["drafts"]

    @get("")
    async def detail(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        draft_id: FromPath[uuid.UUID],
    ) -> DraftDetail:
        """The draft with revisions (and word diffs), decisions, comments and timeline."""
        view = await service.get_draft_detail(session, actor, draft_id)
        return DraftDetail(
            draft=draft_out(view.access.draft),
            revisions=revisions_out(view.revisions),
            decisions=[decision_out(d) for d in view.decisions],
            comments=[comment_out(c) for c in view.comments],
            timeline=[
                TimelineEntry(
                    id=e.id,
                    type=e.type,
                    actor_user_id=e.actor_user_id,
                    actor_kind=e.actor_kind,
                    payload=e.payload,
                    created_at=e.created_at,
                )
                for e in view.timeline
            ],
            fallback=fallback_out(view.timeline),
        )

    @patch("")
    async def change_severity(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        draft_id: FromPath[uuid.UUID],
        data: JSONBody[SeverityChange],
    ) -> DraftOut:
        draft = await service.change_severity(session, actor, draft_id, data.version, data.severity)
        return draft_out(draft)

    @post("/revisions", status_code=HTTP_201_CREATED)
    async def revise(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        draft_id: FromPath[uuid.UUID],
        data: JSONBody[RevisionCreate],
    ) -> DraftOut:
        """A new revision; after "changes requested" the draft goes back to the queue."""
        draft = await service.revise(session, actor, draft_id, data.version, content_of(data))
        return draft_out(draft)

    @post("/submit", status_code=HTTP_200_OK)
    async def submit(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        draft_id: FromPath[uuid.UUID],
        data: JSONBody[VersionOnly],
    ) -> DraftOut:
        return draft_out(await service.submit(session, actor, draft_id, data.version))

    @post("/decisions", status_code=HTTP_200_OK, opt={"token_scope": "decide"})
    async def decide(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        draft_id: FromPath[uuid.UUID],
        data: JSONBody[DecisionCreate],
    ) -> DraftOut:
        """Approve, reject or request changes; 409 when ``version`` is stale."""
        draft = await service.decide(
            session,
            actor,
            draft_id,
            decision=data.decision,
            version=data.version,
            comment=data.comment,
            revision_id=data.revision_id,
            wording=data.wording,
        )
        return draft_out(draft)

    @post("/withdraw", status_code=HTTP_200_OK)
    async def withdraw(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        draft_id: FromPath[uuid.UUID],
        data: JSONBody[VersionOnly],
    ) -> DraftOut:
        return draft_out(await service.withdraw(session, actor, draft_id, data.version))

    @post("/comments", status_code=HTTP_201_CREATED)
    async def comment(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        draft_id: FromPath[uuid.UUID],
        data: JSONBody[CommentCreate],
    ) -> CommentOut:
        """Discuss the draft: shared with the client, or internal to the agency."""
        return comment_out(
            await service.add_comment(session, actor, draft_id, data.body, data.visibility)
        )


class InboundController(Controller):
    path = "/api/v1/inbound-items/{item_id:uuid}"
    tags = ["inbox"]

    @patch("")
    async def change_severity(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        item_id: FromPath[uuid.UUID],
        data: JSONBody[InboundUpdate],
    ) -> InboundOut:
        """Raise or lower severity; open replies to the item follow."""
        item = await service.change_inbound_severity(session, actor, item_id, data.severity)
        return inbound_out(item)


__all__ = ["ClientDraftsController", "DraftController", "InboundController"]
