"""What an escalation step does, as dispatch tables: whom each notify target means
(resolved from the rota at the moment the step runs) and what each fallback action does.
:func:`.enforcement.run_step` decides *whether* a step runs; this module says *what*
it does, inside the step's transaction.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.approvals import writer as approvals_writer
from agencyhub.approvals.models import Decision, Draft, Revision
from agencyhub.approvals.policy_store import load_policy, policy_from_row
from agencyhub.approvals.rules import Policy
from agencyhub.db import after_commit
from agencyhub.escalation import plan as rules
from agencyhub.escalation import rules as esc_rules
from agencyhub.escalation import texts
from agencyhub.escalation.crisis import enter_crisis
from agencyhub.escalation.models import DraftEscalation, RotaOverride, RotaRecord
from agencyhub.escalation.notify import Message, Notifier, default_notifiers
from agencyhub.escalation.publisher import LoggingPublisher, Publication, Publisher
from agencyhub.escalation.rota import layer_from_json
from agencyhub.escalation.service import GAP_CONTACT_ROLES, ON_DUTY_ROLES, record
from agencyhub.escalation.templates import approved_template
from agencyhub.publishing.models import Channel, InboundItem
from agencyhub.tenancy.models import Client, ClientAssignment, Membership, User
from agencyhub.tenancy.rules import AGENCY_MANAGERS, CLIENT_ROLES, Role


@dataclass
class Ports:
    """The outside world of a step: notification channels and the publisher."""

    notifiers: dict[str, Notifier] = field(default_factory=default_notifiers)
    publisher: Publisher = field(default_factory=LoggingPublisher)


class Lookups:
    """What steps in one transaction read about their clients, read once per client:
    the members, and who is on duty at a moment. Steps run together share one clock
    read, so a batch of one client's steps reads the rota once."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._people: dict[uuid.UUID, dict[uuid.UUID, Person]] = {}
        self._duty: dict[tuple[uuid.UUID, datetime], Duty] = {}
        self._policies: dict[uuid.UUID, Policy] = {}

    async def policy(self, client_id: uuid.UUID) -> Policy:
        """The client's approval policy: whose approval counts."""
        if client_id not in self._policies:
            row = await load_policy(self.session, client_id)
            self._policies[client_id] = policy_from_row(row)
        return self._policies[client_id]

    async def people(self, client_id: uuid.UUID) -> dict[uuid.UUID, Person]:
        """The client's members (user id → role, e-mail): every notify target picks
        from them."""
        if client_id not in self._people:
            rows = await self.session.execute(_people_query(), {"client_id": client_id})
            self._people[client_id] = {
                u: Person(role, email, locale) for u, role, email, locale in rows
            }
        return self._people[client_id]

    async def duty(self, client_id: uuid.UUID, at: datetime) -> Duty:
        """Who is on duty at ``at``, their deputies, and in a gap whom to page; the same
        answer as :func:`.rota.on_duty_at` without its 35-day timeline."""
        key = (client_id, at)
        if key not in self._duty:
            self._duty[key] = await _duty_at(self, client_id, at)
        return self._duty[key]


@dataclass
class StepRun:
    """Everything a step's handlers need, loaded once under the row lock."""

    session: AsyncSession
    draft: Draft
    client: Client
    escalation: DraftEscalation
    number: int
    step: rules.Step
    now: datetime
    ports: Ports
    lookups: Lookups
    # Filled by :func:`recipients`: whom the step pages and why, whom it passed over.
    paged: dict[uuid.UUID, str] = field(default_factory=dict)
    passed_over: dict[uuid.UUID, str] = field(default_factory=dict)
    published: str | None = None  # the text a publish_template fallback sent out
    _standing: esc_rules.Standing | None = None

    async def people(self) -> dict[uuid.UUID, Person]:
        return await self.lookups.people(self.client.id)

    async def members(self, roles: Collection[str]) -> list[uuid.UUID]:
        return sorted(u for u, p in (await self.people()).items() if p.role in roles)

    async def duty(self) -> Duty:
        return await self.lookups.duty(self.client.id, self.now)

    async def standing(self) -> esc_rules.Standing:
        if self._standing is None:
            self._standing = await _standing_of(self)
        return self._standing

    async def who_can_act(self, people: Iterable[uuid.UUID]) -> list[uuid.UUID]:
        """Those of ``people`` whose decision can still change the outcome; the others
        are noted as passed over, with why."""
        members, standing = await self.people(), await self.standing()
        able = []
        for person in people:
            member = members.get(person)
            if member is None:
                continue
            why_not = esc_rules.cannot_change_outcome(person, member.role, standing)
            if why_not is None:
                able.append(person)
            else:
                self.passed_over.setdefault(person, why_not)
        return able


@dataclass(frozen=True, slots=True)
class Person:
    role: str
    email: str
    locale: str = "de"


@dataclass(frozen=True, slots=True)
class Duty:
    person: uuid.UUID | None
    deputies: tuple[uuid.UUID, ...]
    gap_contacts: tuple[uuid.UUID, ...]


# Steps run often and read little: plain column queries, built once with bind
# parameters (building a statement cost about as much as running it).


@functools.cache
def _people_query() -> Any:
    return (
        select(Membership.user_id, Membership.role, User.email, User.locale)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.client_id == bindparam("client_id"),
            Membership.role.in_(sorted(CLIENT_ROLES)),
            # Paging someone who may not decide yet would only lose time.
            # Nor someone whose agency role overshadows their client role.
            or_(Membership.role.not_in(sorted(ON_DUTY_ROLES)), Membership.can_decide()),
        )
    )


async def _standing_of(run: StepRun) -> esc_rules.Standing:
    draft, session = run.draft, run.session
    approved = await session.scalars(
        select(Decision.user_id).where(
            Decision.draft_id == draft.id,
            Decision.revision_id == draft.current_revision_id,
            Decision.decision == "approve",
        )
    )
    author = await session.scalar(
        select(Revision.author_id).where(Revision.id == draft.current_revision_id)
    )
    policy = await run.lookups.policy(run.client.id)
    return esc_rules.Standing(
        approved=frozenset(u for u in approved if u is not None),
        author=author,
        four_eyes=policy.four_eyes,
        counting_roles=policy.requirement(draft.severity).roles(),
    )


@functools.cache
def _rota_query() -> Any:
    return select(RotaRecord.layers, RotaRecord.gap_contact_id).where(
        RotaRecord.client_id == bindparam("client_id")
    )


@functools.cache
def _overrides_query() -> Any:
    """The overrides running at ``at``: only they can change who is on duty then."""
    return (
        select(
            RotaOverride.id,
            RotaOverride.substitute_id,
            RotaOverride.replaces_id,
            RotaOverride.starts_at,
            RotaOverride.ends_at,
            RotaOverride.created_at,
        )
        .where(
            RotaOverride.client_id == bindparam("client_id"),
            RotaOverride.starts_at <= bindparam("at"),
            RotaOverride.ends_at > bindparam("at"),
        )
        .order_by(RotaOverride.starts_at, RotaOverride.created_at)
    )


async def _duty_at(lookups: Lookups, client_id: uuid.UUID, at: datetime) -> Duty:
    params = {"client_id": client_id, "at": at}
    stored = (await lookups.session.execute(_rota_query(), params)).first()
    overrides = tuple(
        esc_rules.Override(
            substitute=o.substitute_id,
            starts_at=o.starts_at,
            ends_at=o.ends_at,
            replaces=o.replaces_id,
            created_at=o.created_at,
            key=str(o.id),
        )
        for o in await lookups.session.execute(_overrides_query(), params)
    )
    layers = tuple(layer_from_json(v) for v in stored.layers) if stored is not None else ()
    rota = esc_rules.Rota(layers, overrides)
    people = await lookups.people(client_id)
    eligible = frozenset(u for u, p in people.items() if p.role in ON_DUTY_ROLES)
    person = esc_rules.who_is_on_duty(rota, at, eligible).person
    deputies = esc_rules.deputies(rota, at, eligible)
    if person is not None:
        return Duty(person, deputies, ())
    contacts = {u: p.role for u, p in people.items() if p.role in GAP_CONTACT_ROLES}
    named = stored.gap_contact_id if stored is not None else None
    wanted = esc_rules.gap_contact_ids(contacts, named)  # the rule of rota.on_duty_at too
    return Duty(None, deputies, tuple(sorted(wanted, key=lambda u: people[u].email)))


# --- notifying -----------------------------------------------------------------------------

Paged = list[tuple[uuid.UUID, str]]  # whom a target pages, each with why
Resolver = Callable[[StepRun], Awaitable[Paged]]


def _because(people: Iterable[uuid.UUID], why: str) -> Paged:
    return [(person, why) for person in people]


async def _on_duty(run: StepRun) -> Paged:
    """The person on duty if they can still change the outcome; else their deputies
    who can, else every approver who can. Without a rota or in a gap: every approver
    who can act first (the gap contact comes with the next step), and the gap contact
    only when no approver can act."""
    duty = await run.duty()
    if duty.person is not None:
        if await run.who_can_act([duty.person]):
            return [(duty.person, "on duty")]
        why_not = run.passed_over[duty.person]
        deputies = await run.who_can_act(duty.deputies)
        if deputies:
            return _because(deputies, f"deputy: the person on duty {why_not}")
        approvers = await run.who_can_act(await run.members({Role.APPROVER}))
        return _because(approvers, f"approver: the person on duty {why_not}")
    approvers = await run.who_can_act(await run.members({Role.APPROVER}))
    if approvers:
        return _because(approvers, "approver: nobody is on duty")
    return _because(duty.gap_contacts, "gap contact: nobody is on duty and no approver can act")


async def _deputies(run: StepRun) -> Paged:
    duty = await run.duty()
    paged = _because(await run.who_can_act(duty.deputies), "deputy")
    if duty.person is None:
        paged += _because(duty.gap_contacts, "gap contact: nobody is on duty")
    return paged


async def _approvers(run: StepRun) -> Paged:
    return _because(await run.who_can_act(await run.members({Role.APPROVER})), "approver")


async def _executives(run: StepRun) -> Paged:
    return _because(await run.who_can_act(await run.members({Role.EXECUTIVE})), "executive")


async def _named(run: StepRun) -> Paged:
    members = await run.people()
    named = [u for u in run.step.users if u in members]  # who left the client is skipped
    return _because(await run.who_can_act(named), "named in the plan")


TARGETS: dict[rules.Target, Resolver] = {
    rules.Target.ON_DUTY: _on_duty,
    rules.Target.DEPUTIES: _deputies,
    rules.Target.ALL_APPROVERS: _approvers,
    rules.Target.EXECUTIVES: _executives,
    rules.Target.USERS: _named,
}


async def recipients(run: StepRun) -> tuple[uuid.UUID, ...]:
    """Whom the step notifies, each once, in the order of its targets: only people whose
    decision can still change the outcome (see :attr:`StepRun.paged` for why each was
    chosen, :attr:`StepRun.passed_over` for whom it left out)."""
    for target in run.step.notify:
        for person, why in await TARGETS[target](run):
            run.paged.setdefault(person, why)
    for person in run.paged:
        run.passed_over.pop(person, None)
    return tuple(run.paged)


async def messages(run: StepRun, recipients: tuple[uuid.UUID, ...]) -> list[Message]:
    """The step's notification, one message per language among ``recipients`` (each
    reads it in their own, with the due time on the client's clock)."""
    is_reminder = run.number == rules.REMINDER_STEP
    return [
        Message(
            client=run.client,
            recipients=people,
            kind="escalation.reminder" if is_reminder else "escalation.step",
            title=_title(run, is_reminder, locale),
            body=run.draft.title,
            subject=("draft", run.draft.id),
        )
        for locale, people in by_language(await run.people(), recipients).items()
    ]


def by_language(
    people: dict[uuid.UUID, Person], recipients: Iterable[uuid.UUID]
) -> dict[str, tuple[uuid.UUID, ...]]:
    grouped: dict[str, list[uuid.UUID]] = {}
    for person in recipients:
        member = people.get(person)
        grouped.setdefault(texts.language(member.locale if member else None), []).append(person)
    return {lang: tuple(group) for lang, group in grouped.items()}


async def deliver(
    session: AsyncSession, ports: Ports, sent: Sequence[tuple[StepRun, Message]]
) -> None:
    """Each step's message on each of its channels: one call per channel for all of
    them (the in-app channel writes them in one statement)."""
    by_channel: dict[str, list[Message]] = {}
    for run, note in sent:
        for channel in run.step.channels:
            by_channel.setdefault(channel, []).append(note)
    for channel, messages in by_channel.items():
        await ports.notifiers[channel].notify(session, messages)


async def notify(run: StepRun) -> tuple[uuid.UUID, ...]:
    notified = await recipients(run)
    await deliver(run.session, run.ports, [(run, m) for m in await messages(run, notified)])
    return notified


def _title(run: StepRun, is_reminder: bool, locale: str) -> str:
    due = texts.local_time(run.escalation.sla_due_at, run.client.timezone, locale)
    severity, name = run.draft.severity, run.client.name
    if is_reminder:
        return texts.reminder_title(locale, severity, name, due)
    return texts.step_title(locale, run.number, severity, name, due)


# --- fallbacks -----------------------------------------------------------------------------

FallbackHandler = Callable[[StepRun, rules.Fallback], Awaitable[str | None]]
"""Takes the action; answers why it could not (None: taken)."""


async def _publish_template(run: StepRun, fallback: rules.Fallback) -> str | None:
    assert fallback.template_id is not None
    assert run.draft.inbound_item_id is not None
    template = await approved_template(run.session, run.client.id, fallback.template_id)
    if template is None:
        return "the template is no longer approved by the client"
    approver = (
        await run.session.get(User, template.approved_by_id) if template.approved_by_id else None
    )
    approved_by = approver.name if approver else "a former member"
    approved_on = template.approved_at.date().isoformat() if template.approved_at else "?"
    publication = Publication(
        agency_id=run.draft.agency_id,
        client_id=run.client.id,
        draft_id=run.draft.id,
        channel_id=run.draft.channel_id,
        inbound_item_id=run.draft.inbound_item_id,
        body=template.body,
        template_id=template.id,
        step=run.number,
    )
    await draft_event(
        run,
        "draft.fallback_published",
        {
            "step": run.number,
            "templateId": str(template.id),
            "templateVersion": template.version,
            "approvedById": str(template.approved_by_id) if template.approved_by_id else None,
            "templateName": template.name,
            "body": template.body,
            "note": f"published by emergency plan step {_label(run)}, template {template.name}, "
            f"approved by {approved_by} on {approved_on}",
        },
    )
    publisher = run.ports.publisher
    after_commit(run.session, lambda: publisher.publish_reply(publication))
    run.published = template.body
    return None


def _label(run: StepRun) -> int:
    """The plan step a fallback belongs to, as the client's admins numbered it."""
    return run.step.fallback_of or run.number


async def _hide_item(run: StepRun, _fallback: rules.Fallback) -> str | None:
    item = await run.session.get(InboundItem, run.draft.inbound_item_id)
    assert item is not None
    if item.hidden_at is None:
        item.hidden_at = run.now
    await record(
        run.session,
        run.client,
        None,
        "inbound.hidden",
        ("inbound_item", item.id),
        {"step": run.number, "draftId": str(run.draft.id)},
    )
    return None


async def _crisis_mode(run: StepRun, _fallback: rules.Fallback) -> str | None:
    reason = f"declared by emergency plan step {_label(run)}"
    await enter_crisis(
        run.session, run.client, user_id=None, draft_id=run.draft.id, reason=reason, now=run.now
    )
    return None


FALLBACKS: dict[rules.FallbackAction, FallbackHandler] = {
    rules.FallbackAction.PUBLISH_TEMPLATE: _publish_template,
    rules.FallbackAction.HIDE_ITEM: _hide_item,
    rules.FallbackAction.CRISIS_MODE: _crisis_mode,
}


async def take_fallback(run: StepRun) -> str | None:
    """The fallback action, then the draft to ``fallback_taken``; None if not taken."""
    fallback = run.step.fallback
    assert fallback is not None
    outcome = rules.fallback_outcome(
        fallback,
        has_inbound_item=run.draft.inbound_item_id is not None,
        deadline_severity=run.escalation.deadline_severity or run.draft.severity,
        severity=run.draft.severity,
    )
    problem = (
        outcome.reason
        if not outcome.applicable
        else await FALLBACKS[fallback.action](run, fallback)
    )
    if problem is not None:
        await draft_event(
            run,
            "draft.fallback_skipped",
            {"step": run.number, "action": fallback.action.value, "reason": problem},
        )
        await tell_the_outcome(run, fallback, taken=False, reason=problem)
        return None
    detail = {"step": run.number, "action": fallback.action.value}
    await approvals_writer.take_fallback(run.session, run.draft, run.now, detail)
    await tell_the_outcome(run, fallback, taken=True, reason=None)
    return fallback.action.value


async def tell_the_outcome(
    run: StepRun, fallback: rules.Fallback, *, taken: bool, reason: str | None
) -> None:
    """Everyone with a stake hears what the plan did — the client's approvers and
    executives and the agency's people for this client — with the text that went out,
    where and when; or, when nothing was taken, that the item still waits and why."""
    people = await _outcome_audience(run)
    text = run.published if taken else None
    where = await _where(run)
    notes = []
    for lang, recipients in by_language(people, people).items():
        at = texts.local_time(run.now, run.client.timezone, lang)
        title = (
            texts.fallback_taken_title(lang, fallback.action.value, run.client.name, at)
            if taken
            else texts.fallback_skipped_title(lang, run.client.name, at)
        )
        body = texts.fallback_body(lang, run.draft.title, where, text, reason)
        kind = "escalation.fallback_taken" if taken else "escalation.fallback_skipped"
        notes.append(Message(run.client, recipients, kind, title, body, ("draft", run.draft.id)))
    await run.ports.notifiers["in_app"].notify(run.session, notes)


async def _outcome_audience(run: StepRun) -> dict[uuid.UUID, Person]:
    members = await run.people()
    audience = {u: p for u, p in members.items() if p.role in ON_DUTY_ROLES}
    rows = await run.session.execute(
        select(Membership.user_id, Membership.role, User.email, User.locale)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.agency_id == run.client.agency_id,
            Membership.client_id.is_(None),
            or_(
                Membership.role.in_(sorted(AGENCY_MANAGERS)),
                Membership.id.in_(
                    select(ClientAssignment.membership_id).where(
                        ClientAssignment.client_id == run.client.id
                    )
                ),
            ),
        )
    )
    for user_id, role, email, locale in rows:
        audience.setdefault(user_id, Person(role, email, locale))
    return audience


async def _where(run: StepRun) -> str:
    channel = await run.session.get(Channel, run.draft.channel_id)
    return f"{channel.platform} {channel.handle}" if channel is not None else ""


async def draft_event(run: StepRun, type: str, payload: dict[str, Any]) -> None:
    await record(
        run.session,
        run.client,
        None,
        type,
        ("draft", run.draft.id),
        {"version": run.draft.version, "status": run.draft.status, **payload},
    )
