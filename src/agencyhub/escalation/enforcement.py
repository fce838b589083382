"""Enforcing the emergency plan: arm it when a draft enters the queue, run its steps.

Like Grafana OnCall's escalation snapshot: the plan is frozen into a
``draft_escalations`` row; a broker message is only a wake-up call carrying
``(draft_id, step, token)``. :func:`run_step` locks the draft row, compares the token,
checks the draft is still pending on the armed revision and the step has not run
(unique ``(draft_id, round, step)``), runs the step from a dispatch table, records it
and an Event, rotates the token and sends the next wake-up **after commit**.
The database holds every deadline; :func:`overdue_wakeups` is what the sweep runs.

Race rule (approval vs. a step due at the same moment): both lock the draft row, so
they are serialized and whichever commits first wins.

* Approval (or any decision) first: the step sees the draft no longer pending and does
  nothing; no fallback can follow an approval.
* Step first, notify-only: the draft stays pending and its ``version`` unchanged, so
  the approval still applies; the event log shows ``draft.escalated`` then
  ``draft.approved``.
* Step first with a fallback: the draft becomes ``fallback_taken`` (``version``
  bumped), so the approval is refused with 409 and the event log shows the fallback.
  A fallback reply and an approved contradicting one can never both exist.
"""

from __future__ import annotations

import math
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.approvals.models import Draft
from agencyhub.approvals.rules import Status
from agencyhub.db import after_commit, utcnow
from agencyhub.escalation import plan as rules
from agencyhub.escalation import steps
from agencyhub.escalation.emergency import load_plan
from agencyhub.escalation.models import DraftEscalation, EscalationStepRun
from agencyhub.escalation.rules import reminder_due_at
from agencyhub.escalation.sla import load_sla_policy
from agencyhub.tenancy.models import Client

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class WakeUp:
    draft_id: uuid.UUID
    step: int
    token: str
    due_at: datetime


WakeUpSink = Callable[[WakeUp], None]


def _drop(wakeup: WakeUp) -> None:
    # No broker configured (a web process built without one): the sweep of whichever
    # worker runs will find the step overdue in the database.
    log.info("escalation.wakeup_not_sent", draft_id=str(wakeup.draft_id), step=wakeup.step)


_sink: list[WakeUpSink] = [_drop]


def use_wakeup_sink(sink: WakeUpSink | None) -> None:
    """Where wake-ups go (the broker, set by :mod:`.actors`); None: nowhere."""
    _sink[0] = sink or _drop


def send_wakeup(wakeup: WakeUp) -> None:
    _sink[0](wakeup)


def delay_ms(due_at: datetime, now: datetime) -> int:
    return max(0, math.ceil((due_at - now).total_seconds() * 1000))


def _new_token() -> str:
    return secrets.token_hex(16)


# --- arming --------------------------------------------------------------------------------


async def arm_escalation(
    session: AsyncSession, draft: Draft, client: Client, entered_at: datetime
) -> DraftEscalation:
    """Freeze the client's plan into ``draft`` (which just entered the queue, row locked)
    and send the first wake-up after commit. Re-entering the queue starts a new round."""
    assert draft.sla_due_at is not None
    plan = await load_plan(session, client.id)
    reminder_at = await _reminder_at(session, client, draft, entered_at)
    schedule = rules.Schedule(draft.sla_due_at, reminder_at, plan)
    row = await _escalation_of(session, draft.id)
    if row is None:
        row = DraftEscalation(agency_id=draft.agency_id, client_id=client.id, draft_id=draft.id)
        row.round = 1
        session.add(row)
    else:
        row.round += 1
    row.plan = rules.plan_to_json(plan)
    row.revision_id = draft.current_revision_id
    row.sla_due_at = draft.sla_due_at
    row.reminder_at = reminder_at
    _arm(session, row, schedule, schedule.first_step())
    await session.flush()
    return row


async def _reminder_at(
    session: AsyncSession, client: Client, draft: Draft, entered_at: datetime
) -> datetime | None:
    policy = await load_sla_policy(session, client)
    target = policy.targets[draft.severity]
    at = reminder_due_at(entered_at, target, policy.calendar, policy.reminder_at)
    assert draft.sla_due_at is not None
    return at if at < draft.sla_due_at else None


def _arm(
    session: AsyncSession, row: DraftEscalation, schedule: rules.Schedule, step: int | None
) -> None:
    """Point the escalation at ``step`` (None: finished) with a fresh token."""
    row.token = _new_token()
    row.next_step = step
    row.next_due_at = schedule.due_at(step) if step is not None else None
    if step is not None:
        wakeup = WakeUp(row.draft_id, step, row.token, schedule.due_at(step))
        after_commit(session, lambda: send_wakeup(wakeup))


async def _escalation_of(
    session: AsyncSession, draft_id: uuid.UUID, *, lock: bool = False
) -> DraftEscalation | None:
    query = select(DraftEscalation).where(DraftEscalation.draft_id == draft_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


def schedule_of(row: DraftEscalation) -> rules.Schedule:
    return rules.Schedule(row.sla_due_at, row.reminder_at, rules.plan_from_json(row.plan))


async def follow_revision(session: AsyncSession, draft: Draft) -> None:
    """A new revision while pending keeps the armed plan, steps and token."""
    row = await _escalation_of(session, draft.id)
    if row is not None:
        row.revision_id = draft.current_revision_id


async def reschedule(session: AsyncSession, draft: Draft) -> None:
    """The SLA due time of a pending draft moved (severity change): the steps not yet
    run move with it; messages already sent become stale."""
    row = await _escalation_of(session, draft.id)
    if row is None or draft.sla_due_at is None or row.next_step is None:
        return
    row.sla_due_at = draft.sla_due_at
    if row.reminder_at is not None and row.reminder_at >= draft.sla_due_at:
        row.reminder_at = None
    schedule = schedule_of(row)
    step: int | None = row.next_step
    if step == rules.REMINDER_STEP and row.reminder_at is None:
        step = 1
    _arm(session, row, schedule, step)


# --- running a step ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepResult:
    skipped: rules.Skip | None
    notified: tuple[uuid.UUID, ...] = ()
    fallback: str | None = None


async def run_step(
    session: AsyncSession, wakeup: WakeUp, *, now: datetime | None = None, ports: steps.Ports
) -> StepResult:
    """Run step ``wakeup.step`` of the draft if, under the row lock, it is still due."""
    now = now or utcnow()
    draft = await session.scalar(
        select(Draft)
        .where(Draft.id == wakeup.draft_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    row = await _escalation_of(session, wakeup.draft_id, lock=True) if draft else None
    skip = await _skip_reason(session, draft, row, wakeup, now)
    if skip is rules.Skip.NOT_DUE and row is not None and row.next_due_at is not None:
        # Woken early (clock skew): wake again at the due time, same token.
        early = WakeUp(wakeup.draft_id, wakeup.step, wakeup.token, row.next_due_at)
        after_commit(session, lambda: send_wakeup(early))
    if skip is not None:
        log.info(
            "escalation.step_skipped", draft_id=str(wakeup.draft_id), step=wakeup.step, reason=skip
        )
        return StepResult(skip)
    assert draft is not None
    assert row is not None
    client = await session.get(Client, draft.client_id)
    assert client is not None
    plan = rules.plan_from_json(row.plan)
    run = steps.StepRun(
        session, draft, client, row, wakeup.step, rules.step_of(plan, wakeup.step), now, ports
    )
    return await _execute(run, schedule_of(row))


async def _skip_reason(
    session: AsyncSession,
    draft: Draft | None,
    row: DraftEscalation | None,
    wakeup: WakeUp,
    now: datetime,
) -> rules.Skip | None:
    if draft is None or row is None:
        return rules.Skip.NOT_ARMED
    ran = await session.scalar(
        select(EscalationStepRun.id).where(
            EscalationStepRun.draft_id == draft.id,
            EscalationStepRun.round == row.round,
            EscalationStepRun.step == wakeup.step,
        )
    )
    facts = rules.StepFacts(
        armed=True,
        token_matches=secrets.compare_digest(row.token, wakeup.token),
        next_step=row.next_step,
        step=wakeup.step,
        draft_pending=draft.status == Status.PENDING,
        same_revision=row.revision_id == draft.current_revision_id,
        already_ran=ran is not None,
        due_at=row.next_due_at,
        now=now,
    )
    return rules.skip_reason(facts)


async def _execute(run: steps.StepRun, schedule: rules.Schedule) -> StepResult:
    notified = await steps.notify(run)
    due_at = schedule.due_at(run.number)
    is_reminder = run.number == rules.REMINDER_STEP
    await steps.draft_event(
        run,
        "draft.reminder_sent" if is_reminder else "draft.escalated",
        {
            "step": run.number,
            "round": run.escalation.round,
            "notified": [str(u) for u in notified],
            "targets": [t.value for t in run.step.notify],
            "dueAt": due_at.isoformat(),
            "latenessMs": delay_ms(run.now, due_at),
        },
    )
    fallback = await steps.take_fallback(run) if run.step.fallback is not None else None
    run.session.add(
        EscalationStepRun(
            agency_id=run.draft.agency_id,
            draft_id=run.draft.id,
            round=run.escalation.round,
            step=run.number,
            due_at=due_at,
            ran_at=run.now,
            notified=[str(u) for u in notified],
            fallback=fallback,
        )
    )
    await run.session.flush()
    after = schedule.step_after(run.number)
    _arm(run.session, run.escalation, schedule, None if fallback is not None else after)
    log.info("escalation.step_ran", draft_id=str(run.draft.id), step=run.number, fallback=fallback)
    return StepResult(None, notified, fallback)


# --- the sweep -----------------------------------------------------------------------------


async def overdue_wakeups(session: AsyncSession, now: datetime, limit: int = 200) -> list[WakeUp]:
    """Pending drafts whose next step is due: the wake-ups that may have been lost."""
    return await _armed(session, DraftEscalation.next_due_at <= now, limit)


async def future_wakeups(session: AsyncSession, now: datetime, limit: int = 10_000) -> list[WakeUp]:
    """Armed steps not yet due: re-sent when a worker with an in-memory broker starts."""
    return await _armed(session, DraftEscalation.next_due_at > now, limit)


async def _armed(session: AsyncSession, due: Any, limit: int) -> list[WakeUp]:
    rows = await session.execute(
        select(
            DraftEscalation.draft_id,
            DraftEscalation.next_step,
            DraftEscalation.token,
            DraftEscalation.next_due_at,
        )
        .join(Draft, Draft.id == DraftEscalation.draft_id)
        .where(Draft.status == Status.PENDING, DraftEscalation.next_step.is_not(None), due)
        .order_by(DraftEscalation.next_due_at)
        .limit(limit)
    )
    return [WakeUp(d, s, t, at) for d, s, t, at in rows if s is not None and at is not None]
