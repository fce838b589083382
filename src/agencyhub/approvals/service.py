"""Use cases of drafts: write, revise, submit, decide, withdraw; the approval policy.

Every state change asks :mod:`agencyhub.approvals.lifecycle` (which asks
:func:`rules.apply_action`) with the draft row locked (``SELECT … FOR UPDATE``) and the
caller's ``version`` compared first, so two approvers deciding at once cannot both
win: the second gets 409 with the current state. What the life cycle answers — the
columns, the version bump, the audit event — is saved as it is, in the same
transaction, by :mod:`agencyhub.approvals.writer` or, for decisions,
:mod:`agencyhub.approvals.decision_store`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import structlog
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.approvals import decision_store, lifecycle, rules, writer
from agencyhub.approvals.lifecycle import DraftState
from agencyhub.approvals.models import ApprovalPolicy, Comment, Decision, Draft, Revision
from agencyhub.approvals.policy_store import (
    deciders_by_role,
    load_policy,
    policy_from,
    policy_from_row,
    policy_to_json,
)
from agencyhub.approvals.rules import Action, Kind, Refused, Severity, Status, Who
from agencyhub.audit.models import Event
from agencyhub.audit.record import record_event
from agencyhub.db import flush_or_conflict, new_id, utcnow
from agencyhub.errors import Conflict, Forbidden, FourEyes, InvalidInput, NotFound
from agencyhub.escalation import enforcement
from agencyhub.escalation.sla import load_sla_policy
from agencyhub.publishing import service as publishing
from agencyhub.publishing.models import Channel, InboundItem
from agencyhub.tenancy import rules as tenancy_rules
from agencyhub.tenancy.models import Client
from agencyhub.tenancy.rules import AGENCY_ROLES, Actor
from agencyhub.tenancy.service import enter_agency, get_client_for

log = structlog.get_logger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Content:
    body: str
    alternatives: Sequence[str] = ()
    media: Sequence[str] = ()
    rationale: str = ""

    @property
    def wordings(self) -> list[str]:
        return [self.body, *self.alternatives]


@dataclass(frozen=True, slots=True)
class NewDraft:
    kind: str
    content: Content
    channel_id: uuid.UUID | None = None
    inbound_item_id: uuid.UUID | None = None
    title: str = ""
    severity: str | None = None
    scheduled_for: datetime | None = None


# --- access ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DraftAccess:
    draft: Draft
    client: Client
    who: Who
    revision: Revision | None  # the current one
    policy_row: ApprovalPolicy | None  # the client's, None: the default policy

    @property
    def is_agency(self) -> bool:
        return self.who.role in AGENCY_ROLES


def who_at(actor: Actor, client: Client) -> Who:
    role = tenancy_rules.role_at_client(actor, client.agency_id, client.id)
    return Who(user_id=actor.user_id, role=role)


async def get_draft_for(
    session: AsyncSession, actor: Actor, draft_id: uuid.UUID, *, lock: bool = False
) -> DraftAccess:
    """The draft, its client, its current revision and the client's approval policy if
    the actor sees the client; with ``lock``, the draft row is locked for update.

    One round trip for all four. The
    lock is taken before the client-level access check; the tenant criteria and RLS
    already confine it to the actor's agencies, and a refused caller's transaction ends
    at once, so a foreign client's draft is never locked for longer than that.
    """
    query = (
        select(Draft, Client, Revision, ApprovalPolicy)
        .join(Client, Client.id == Draft.client_id)
        .outerjoin(Revision, Revision.id == Draft.current_revision_id)
        .outerjoin(ApprovalPolicy, ApprovalPolicy.client_id == Draft.client_id)
        .where(Draft.id == draft_id)
    )
    if lock:
        # The version we compare must be the committed one.
        query = query.with_for_update(of=Draft).execution_options(populate_existing=True)
    found = (await session.execute(query)).first()
    if found is None or not tenancy_rules.can_view_client(
        actor, found.Client.agency_id, found.Client.id
    ):
        raise NotFound("No such draft.")
    draft, client, revision, policy_row = found
    who = who_at(actor, client)
    if not rules.sees_draft(
        who, submitted=draft.submitted_at is not None, author_id=draft.created_by_id
    ):
        raise NotFound("No such draft.")
    await enter_agency(session, client.agency_id)
    structlog.contextvars.bind_contextvars(draft_id=str(draft.id), client_id=str(client.id))
    return DraftAccess(
        draft=draft, client=client, who=who, revision=revision, policy_row=policy_row
    )


# --- policy --------------------------------------------------------------------------------


async def get_policy(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID
) -> tuple[rules.Policy, bool]:
    client = await get_client_for(session, actor, client_id)
    row = await load_policy(session, client.id)
    return policy_from_row(row), row is None


async def set_policy(
    session: AsyncSession,
    actor: Actor,
    client_id: uuid.UUID,
    requirements: dict[str, list[dict[str, int]]],
    four_eyes: bool,
) -> rules.Policy:
    client = await get_client_for(session, actor, client_id)
    if tenancy_rules.role_at_client(actor, client.agency_id, client.id) != "client_admin":
        raise Forbidden("Only the client's admins set the approval policy.")
    policy = rules.Policy(
        requirements={s: rules.Requirement(tuple(alts)) for s, alts in requirements.items()},
        four_eyes=four_eyes,
    )
    problems = rules.policy_problems(policy) or rules.unreachable_problems(
        policy, await deciders_by_role(session, client.id)
    )
    if problems:
        field, message = problems[0]
        raise InvalidInput(message, field=field)
    row = await load_policy(session, client.id)
    if row is None:
        row = ApprovalPolicy(agency_id=client.agency_id, client_id=client.id, requirements={})
        session.add(row)
    row.requirements = policy_to_json(policy)
    row.four_eyes = four_eyes
    row.updated_by_id = actor.user_id
    await flush_or_conflict(
        session, "Someone else saved this at the same moment; reload and try again."
    )
    await record_event(
        session,
        type="approval_policy.updated",
        agency_id=client.agency_id,
        client_id=client.id,
        subject_type="client",
        subject_id=client.id,
        actor_user_id=actor.user_id,
        payload={"requirements": row.requirements, "fourEyes": four_eyes},
    )
    return policy


# --- writing drafts ------------------------------------------------------------------------


def _check_content(kind: str, content: Content, channel: Channel) -> None:
    problems = rules.content_problems(
        kind=Kind(kind), wordings=content.wordings, text_limit=channel.text_limit
    )
    if problems:
        field, message = problems[0]
        raise InvalidInput(message, field=field)


async def create_draft(
    session: AsyncSession,
    actor: Actor,
    client_id: uuid.UUID,
    data: NewDraft,
    *,
    now: datetime | None = None,
) -> Draft:
    client = await get_client_for(session, actor, client_id)
    who = who_at(actor, client)
    if who.role not in rules.DRAFTING_ROLES:
        raise Forbidden(f"{tenancy_rules.role_phrase(who.role, start=True)} cannot write drafts.")
    channel, item = await _target_of(session, client, data, now or utcnow())
    _check_content(data.kind, data.content, channel)
    severity = data.severity or (item.severity if item else Severity.NORMAL)
    draft = Draft(
        agency_id=client.agency_id,
        client_id=client.id,
        kind=data.kind,
        channel_id=channel.id,
        inbound_item_id=item.id if item else None,
        title=data.title.strip(),
        status=Status.DRAFT,
        severity=severity,
        severity_order=rules.SEVERITY_ORDER[Severity(severity)],
        scheduled_for=data.scheduled_for,
        created_by_id=actor.user_id,
    )
    session.add(draft)
    await session.flush()
    structlog.contextvars.bind_contextvars(draft_id=str(draft.id), client_id=str(client.id))
    await _event(session, draft, actor.user_id, "draft.created", {"kind": draft.kind})
    await _add_revision(session, draft, actor.user_id, data.content)
    return draft


async def _target_of(
    session: AsyncSession, client: Client, data: NewDraft, now: datetime
) -> tuple[Channel, InboundItem | None]:
    if data.kind == Kind.REPLY:
        if data.inbound_item_id is None:
            raise InvalidInput("a reply needs the inbound item it answers", field="inboundItemId")
        item = await session.scalar(
            select(InboundItem).where(
                InboundItem.id == data.inbound_item_id, InboundItem.client_id == client.id
            )
        )
        if item is None:
            raise InvalidInput("is not an inbound item of this client", field="inboundItemId")
        channel = await publishing.get_channel_of(session, client, item.channel_id)
        return channel, item
    if data.inbound_item_id is not None:
        raise InvalidInput("a post does not answer an inbound item", field="inboundItemId")
    if data.channel_id is None:
        raise InvalidInput("a post needs a channel", field="channelId")
    if data.scheduled_for is not None and data.scheduled_for <= now:
        raise InvalidInput("must be in the future", field="scheduledFor")
    return await publishing.get_channel_of(session, client, data.channel_id), None


async def _add_revision(
    session: AsyncSession, draft: Draft, author_id: uuid.UUID, content: Content
) -> Revision:
    draft.revision_count += 1
    revision = Revision(
        agency_id=draft.agency_id,
        draft_id=draft.id,
        number=draft.revision_count,
        body=content.body,
        alternatives=list(content.alternatives),
        media=list(content.media),
        rationale=content.rationale,
        author_id=author_id,
    )
    session.add(revision)
    await session.flush()
    draft.current_revision_id = revision.id
    await _event(session, draft, author_id, "revision.created", {"number": revision.number})
    return revision


# --- state changes -------------------------------------------------------------------------


async def _facts(
    session: AsyncSession, draft: Draft, revision: Revision | None, wording: int | None
) -> rules.DraftFacts:
    approvals: tuple[rules.Approval, ...] = ()
    if revision is not None:
        rows = await session.scalars(
            # draft_id first: it leads the decisions index.
            select(Decision).where(
                Decision.draft_id == draft.id,
                Decision.revision_id == revision.id,
                Decision.decision == Action.APPROVE,
            )
        )
        approvals = _same_wording(((d.user_id, d.role, d.wording) for d in rows), wording)
    return rules.DraftFacts(
        status=Status(draft.status),
        severity=Severity(draft.severity),
        current_revision_id=revision.id if revision else None,
        current_revision_author_id=revision.author_id if revision else None,
        approvals_on_current=approvals,
        scheduled=draft.scheduled_for is not None,
        created_by_id=draft.created_by_id,
    )


def _same_wording(
    approvals: Iterable[tuple[uuid.UUID | None, str, int | None]], wording: int | None
) -> tuple[rules.Approval, ...]:
    """The approvals (user, role, wording) that count with one for ``wording``:
    approvals count together only when they approve the same wording."""
    return tuple(
        rules.Approval(user_id=user_id, role=role)
        for user_id, role, approved in approvals
        if user_id is not None and (approved or 0) == (wording or 0)
    )


def _check_version(access: DraftAccess, version: int) -> None:
    draft = access.draft
    _require_version(version, draft.version, draft.status, draft.current_revision_id)


def _require_version(
    version: int, current: int, status: str, current_revision_id: uuid.UUID | None
) -> None:
    if version != current:
        raise Conflict(
            f"The draft changed since you loaded it (version {version}, now "
            f"{current}). Reload and try again.",
            current={
                "version": current,
                "status": status,
                "currentRevisionId": str(current_revision_id),
            },
        )


def _asked(ask: Callable[[], T]) -> T:
    """The life cycle's answer, its refusal as the matching HTTP error."""
    try:
        return ask()
    except Refused as refused:
        errors = {"forbidden": Forbidden, "invalid": InvalidInput, "four_eyes": FourEyes}
        error = errors.get(refused.kind, Conflict)
        raise error(refused.reason[:1].upper() + refused.reason[1:] + ".") from refused


async def _change(
    session: AsyncSession,
    actor: Actor,
    draft_id: uuid.UUID,
    version: int,
    action: Action,
    now: datetime,
) -> tuple[DraftAccess, lifecycle.Change]:
    """The locked draft and what ``action`` by ``actor`` changes (nothing saved yet)."""
    access = await get_draft_for(session, actor, draft_id, lock=True)
    _check_version(access, version)
    draft = access.draft
    state = DraftState.of(draft)
    facts = await _facts(session, draft, access.revision, None)
    sla = (
        await load_sla_policy(session, access.client)
        if lifecycle.enters_queue(state.status, action)
        else None
    )
    request = rules.Request(action=action, who=access.who, revision_id=facts.current_revision_id)
    policy = policy_from_row(access.policy_row)
    change = _asked(lambda: lifecycle.transition(state, facts, request, policy, now=now, sla=sla))
    return access, change


async def _save(
    session: AsyncSession,
    access: DraftAccess,
    change: lifecycle.Change,
    actor_id: uuid.UUID | None,
    now: datetime,
) -> None:
    """Save the change, then the emergency plan's part of it, then its audit event."""
    writer.apply(access.draft, change)
    if change.entered_queue:
        # The emergency plan is frozen into the draft now; its wake-up goes after commit.
        await enforcement.arm_escalation(session, access.draft, access.client, now)
    if change.revised_in_queue:
        await enforcement.follow_revision(session, access.draft)  # the armed plan goes on
    if change.event is not None:
        await writer.record(session, access.draft, actor_id, change.event)


async def submit(
    session: AsyncSession,
    actor: Actor,
    draft_id: uuid.UUID,
    version: int,
    *,
    now: datetime | None = None,
) -> Draft:
    now = now or utcnow()
    access, change = await _change(session, actor, draft_id, version, Action.SUBMIT, now)
    await _save(session, access, change, actor.user_id, now)
    return access.draft


async def revise(
    session: AsyncSession,
    actor: Actor,
    draft_id: uuid.UUID,
    version: int,
    content: Content,
    *,
    now: datetime | None = None,
) -> Draft:
    now = now or utcnow()
    access, change = await _change(session, actor, draft_id, version, Action.REVISE, now)
    channel = await publishing.get_channel_of(session, access.client, access.draft.channel_id)
    _check_content(access.draft.kind, content, channel)
    await _add_revision(session, access.draft, actor.user_id, content)
    await _save(session, access, change, actor.user_id, now)
    return access.draft


async def decide(
    session: AsyncSession,
    actor: Actor,
    draft_id: uuid.UUID,
    *,
    decision: str,
    version: int,
    comment: str,
    revision_id: uuid.UUID | None,
    wording: int | None,
    now: datetime | None = None,
) -> Draft:
    """Approve, reject or request changes: the hot path, in Core (see
    :mod:`agencyhub.approvals.decision_store`); the same rules, lock, version check and
    life cycle as every other transition."""
    action = Action(decision)
    target, who = await _lock_for_decision(session, actor, draft_id)
    row = target.row
    _require_version(version, row.version, row.status, row.current_revision_id)
    facts = _decision_facts(target, wording)
    request = rules.Request(
        action=action,
        who=who,
        revision_id=revision_id or facts.current_revision_id,
        comment=comment,
    )
    now = now or utcnow()
    policy = _policy_of(row)
    change = _asked(
        lambda: lifecycle.transition(
            DraftState.of(row), facts, request, policy, now=now, wording=wording
        )
    )
    assert row.current_revision_id is not None  # the rules refuse a draft without one
    if action is Action.APPROVE:
        _check_wording(1 + len(row.revision_alternatives or ()), wording)
    values = _decision_values(row, who, action, wording, comment, now)
    draft = await decision_store.record(session, values, row, change.values, now)
    assert change.event is not None  # every decision is recorded
    await writer.record(session, draft, actor.user_id, change.event)
    log.info("draft.decided", decision=action.value, status=draft.status)
    return draft


async def _lock_for_decision(
    session: AsyncSession, actor: Actor, draft_id: uuid.UUID
) -> tuple[decision_store.Target, Who]:
    """:func:`get_draft_for` with ``lock`` for a decision, in one Core round trip: the
    same tenant filter, the same NotFound for missing and foreign drafts."""
    target = await decision_store.lock_target(session, draft_id)
    if target is None or not tenancy_rules.can_view_client(
        actor, target.row.client_agency_id, target.row.client_id
    ):
        raise NotFound("No such draft.")
    row = target.row
    role = tenancy_rules.role_at_client(actor, row.client_agency_id, row.client_id)
    who = Who(user_id=actor.user_id, role=role)
    if not rules.sees_draft(
        who, submitted=row.submitted_at is not None, author_id=row.created_by_id
    ):
        raise NotFound("No such draft.")
    await enter_agency(session, row.client_agency_id)
    structlog.contextvars.bind_contextvars(draft_id=str(row.id), client_id=str(row.client_id))
    require_confirmed(actor, row.client_agency_id, row.client_id)
    return target, who


def require_confirmed(actor: Actor, agency_id: uuid.UUID, client_id: uuid.UUID) -> None:
    """A membership the agency created decides only once a client admin confirmed it."""
    if tenancy_rules.awaits_confirmation(actor, agency_id, client_id):
        raise Forbidden(
            "Your membership was created by the agency; one of the client's admins must"
            " confirm it before you can decide."
        )


def _decision_values(
    row: decision_store.AnyRow,
    who: Who,
    action: Action,
    wording: int | None,
    comment: str,
    now: datetime,
) -> dict[str, Any]:
    """Every column of the Decision row (Core inserts get no ORM defaults)."""
    return {
        "id": new_id(),
        "agency_id": row.agency_id,
        "draft_id": row.id,
        "revision_id": row.current_revision_id,
        "user_id": who.user_id,
        "role": who.role or "",
        "decision": action.value,
        "wording": (wording or 0) if action is Action.APPROVE else None,
        "comment": comment.strip(),
        "created_at": now,
    }


def _policy_of(row: decision_store.AnyRow) -> rules.Policy:
    if row.policy_id is None:
        return rules.DEFAULT_POLICY
    return policy_from(row.policy_requirements, row.policy_four_eyes)


def _decision_facts(target: decision_store.Target, wording: int | None) -> rules.DraftFacts:
    """:func:`_facts` for a locked decision target."""
    row = target.row
    approvals = _same_wording(
        ((a.approval_user_id, a.approval_role, a.approval_wording) for a in target.approvals),
        wording,
    )
    return rules.DraftFacts(
        status=Status(row.status),
        severity=Severity(row.severity),
        current_revision_id=row.current_revision_id,
        current_revision_author_id=row.revision_author_id,
        approvals_on_current=approvals,
        scheduled=row.scheduled_for is not None,
        created_by_id=row.created_by_id,
    )


def _check_wording(count: int, wording: int | None) -> None:
    if wording is None and count > 1:
        raise InvalidInput(
            f"choose one of the {count} wordings (0 to {count - 1})", field="wording"
        )
    if wording is not None and not 0 <= wording < count:
        if count == 1:
            raise InvalidInput(
                "this draft has one wording: send 0 or leave it out", field="wording"
            )
        raise InvalidInput(f"must be between 0 and {count - 1}", field="wording")


async def withdraw(
    session: AsyncSession,
    actor: Actor,
    draft_id: uuid.UUID,
    version: int,
    *,
    now: datetime | None = None,
) -> Draft:
    now = now or utcnow()
    access, change = await _change(session, actor, draft_id, version, Action.WITHDRAW, now)
    await _save(session, access, change, actor.user_id, now)
    return access.draft


async def change_severity(
    session: AsyncSession, actor: Actor, draft_id: uuid.UUID, version: int, severity: str
) -> Draft:
    access = await get_draft_for(session, actor, draft_id, lock=True)
    _check_version(access, version)
    if access.who.role not in publishing.TRIAGE_ROLES:
        raise Forbidden("Viewers cannot change severity.")
    await _set_severity(session, access.draft, access.client, severity, actor.user_id, access.who)
    return access.draft


async def _set_severity(
    session: AsyncSession,
    draft: Draft,
    client: Client,
    severity: str,
    actor_id: uuid.UUID | None,
    who: Who,
) -> None:
    state = DraftState.of(draft)
    running = state.status is Status.PENDING and state.submitted_at is not None
    sla = await load_sla_policy(session, client) if running else None
    by_client = not who.is_agency
    change = _asked(
        lambda: lifecycle.change_severity(state, Severity(severity), sla=sla, by_client=by_client)
    )
    if change is None:
        return
    previous = state.severity.value
    writer.apply(draft, change)
    if change.moved_deadline:
        # The client's new deadline stands; agency staff only bring one closer, and a
        # kept deadline stays the old severity's (its fallback does not follow).
        await enforcement.reschedule(
            session, draft, kept_from=previous if change.deadline_kept else None
        )
    assert change.event is not None
    await writer.record(session, draft, actor_id, change.event)


async def change_inbound_severity(
    session: AsyncSession, actor: Actor, item_id: uuid.UUID, severity: str
) -> InboundItem:
    """The item's severity, carried over to every open reply that answers it."""
    item = await publishing.change_inbound_severity(session, actor, item_id, severity)
    client = await get_client_for(session, actor, item.client_id)
    who = who_at(actor, client)
    replies = await session.scalars(
        select(Draft)
        .where(Draft.inbound_item_id == item.id, Draft.status.in_(list(rules.OPEN_STATES)))
        .with_for_update()
    )
    for draft in replies:
        await _set_severity(session, draft, client, severity, actor.user_id, who)
    return item


async def add_comment(
    session: AsyncSession, actor: Actor, draft_id: uuid.UUID, body: str, visibility: str
) -> Comment:
    access = await get_draft_for(session, actor, draft_id)
    if visibility == "internal" and not access.is_agency:
        raise Forbidden("Internal comments are for the agency only.")
    if not body.strip():
        raise InvalidInput("must not be blank", field="body")
    comment = Comment(
        agency_id=access.draft.agency_id,
        draft_id=access.draft.id,
        author_id=actor.user_id,
        visibility=visibility,
        body=body.strip(),
    )
    session.add(comment)
    await session.flush()
    await _event(
        session,
        access.draft,
        actor.user_id,
        "comment.added",
        {
            "commentId": str(comment.id),
            "visibility": visibility,
            "internal": visibility == "internal",
        },
    )
    return comment


async def _event(
    session: AsyncSession,
    draft: Draft,
    actor_id: uuid.UUID | None,
    type: str,
    payload: dict[str, Any],
) -> None:
    """An event about the draft that is not a life-cycle change (created, revision,
    comment), in the same shape as the life cycle's own: version and status first."""
    event = lifecycle.AuditEvent(
        type, {"version": draft.version, "status": draft.status, **payload}
    )
    await writer.record(session, draft, actor_id, event)


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DraftView:
    access: DraftAccess
    revisions: list[Revision]
    decisions: list[Decision]
    comments: list[Comment]
    timeline: list[Event]


async def get_draft_detail(session: AsyncSession, actor: Actor, draft_id: uuid.UUID) -> DraftView:
    access = await get_draft_for(session, actor, draft_id)
    draft = access.draft
    revisions = list(
        await session.scalars(
            select(Revision).where(Revision.draft_id == draft.id).order_by(Revision.number)
        )
    )
    decisions = list(
        await session.scalars(
            select(Decision).where(Decision.draft_id == draft.id).order_by(Decision.created_at)
        )
    )
    comments_query = select(Comment).where(Comment.draft_id == draft.id)
    events_query = select(Event).where(Event.subject_type == "draft", Event.subject_id == draft.id)
    if not access.is_agency:
        # Internal comments never reach a client role, neither as text nor as timeline.
        comments_query = comments_query.where(Comment.visibility == "shared")
    comments = list(await session.scalars(comments_query.order_by(Comment.created_at)))
    timeline = [
        e
        for e in await session.scalars(events_query.order_by(Event.id))
        if access.is_agency or not e.payload.get("internal")
    ]
    return DraftView(access, revisions, decisions, comments, timeline)


async def list_drafts(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, *, status: str | None, limit: int
) -> Sequence[Draft]:
    client = await get_client_for(session, actor, client_id)
    query = select(Draft).where(Draft.client_id == client.id)
    if not who_at(actor, client).is_agency:
        # From submission on (rules.sees_draft): before, only its own author sees it.
        query = query.where(
            or_(Draft.submitted_at.is_not(None), Draft.created_by_id == actor.user_id)
        )
    if status:
        query = query.where(Draft.status == status)
    return (await session.scalars(query.order_by(Draft.updated_at.desc()).limit(limit))).all()
