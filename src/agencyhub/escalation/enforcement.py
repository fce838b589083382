"""Enforcing the emergency plan: arm it when a draft enters the queue, run its steps.

Like Grafana OnCall's escalation snapshot: the plan is frozen into a
``draft_escalations`` row; a broker message is only a wake-up call carrying
``(draft_id, step, token)``. :func:`run_step` locks the draft row, compares the token,
checks the draft is still pending on the armed revision and the step has not run
(unique ``(draft_id, round, step)``), runs the step from a dispatch table, records it
and an Event, rotates the token and sends the next wake-up **after commit**.
The database holds every deadline; :func:`claim_overdue` is what the sweep runs.

Race rule (approval vs. a step due at the same moment): both lock the draft row, so
they are serialized and whichever commits first wins. A step never waits for the lock
(``SKIP LOCKED``): it finds the row held, does nothing and is retried shortly
(:data:`.actors.LOCKED_RETRY_MS`), or the sweep runs it later.

* Approval (or any decision) first: the step, retried after the approval committed,
  sees the draft no longer pending and does nothing; no fallback can follow an
  approval.
* Step first, notify-only: the draft stays pending and its ``version`` unchanged, so
  the approval still applies; the event log shows ``draft.escalated`` then
  ``draft.approved``.
* Step first with a fallback: the draft becomes ``fallback_taken`` (``version``
  bumped), so the approval is refused with 409 and the event log shows the fallback.
  A fallback reply and an approved contradicting one can never both exist.
"""

from __future__ import annotations

import functools
import math
import secrets
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import bindparam, insert, select
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


def current_sink() -> WakeUpSink:
    return _sink[0]


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
    row.deadline_severity = draft.severity
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


async def reschedule(session: AsyncSession, draft: Draft, *, kept_from: str | None = None) -> None:
    """The SLA due time of a pending draft moved (severity change): the steps not yet
    run move with it; messages already sent become stale. ``kept_from``: the deadline
    was kept from that earlier severity, whose it stays (else it is the draft's own)."""
    row = await _escalation_of(session, draft.id)
    if row is None or draft.sla_due_at is None or row.next_step is None:
        return
    if kept_from is None:
        row.deadline_severity = draft.severity
    elif row.deadline_severity is None:
        row.deadline_severity = kept_from
    moved_later = draft.sla_due_at > row.sla_due_at
    row.sla_due_at = draft.sla_due_at
    if row.next_step == rules.REMINDER_STEP and moved_later and draft.submitted_at is not None:
        # A later deadline (the client lowered the item) gets its own reminder.
        client = await session.get(Client, draft.client_id)
        assert client is not None
        row.reminder_at = await _reminder_at(session, client, draft, draft.submitted_at)
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
    lateness_ms: int | None = None  # of a step that ran: its clock read minus its due time


Clock = Callable[[], datetime]


async def run_step(
    session: AsyncSession,
    wakeup: WakeUp,
    *,
    now: datetime | None = None,
    clock: Clock = utcnow,
    ports: steps.Ports,
    trigger: str = "wakeup",
) -> StepResult:
    """Run step ``wakeup.step`` of the draft if, under the row locks, it is still due
    (:func:`run_steps` with one wake-up)."""
    [result] = await run_steps(
        session, [wakeup], now=now, clock=clock, ports=ports, trigger=trigger
    )
    return result


async def run_steps(
    session: AsyncSession,
    wakeups: Sequence[WakeUp],
    *,
    now: datetime | None = None,
    clock: Clock = utcnow,
    ports: steps.Ports,
    trigger: str = "wakeup",
) -> list[StepResult]:
    """Run each wake-up's step whose draft, under the row locks, still wants it; one
    result per wake-up, in their order. All in the caller's transaction.

    The draft and escalation rows are locked in one statement with ``SKIP LOCKED``: a
    draft another transaction holds (a decision, the sweep, a duplicate wake-up running
    the step) answers :attr:`Skip.LOCKED` at once instead of waiting; the holder either
    runs the step or leaves it armed for a retry or the sweep. The clock is read once,
    after the locks, so ``ran_at`` and the lateness include any time spent getting
    them. ``trigger`` (``wakeup`` or ``sweep``) is recorded in each event.

    Several steps cost little more than one: one locking read, one read of each
    client's people and rota, one insert each for the step runs and the notifications.
    """
    if not wakeups:
        return []
    loaded = await _lock_and_load(session, [w.draft_id for w in wakeups])
    now = now or clock()
    results: list[StepResult | None] = [None] * len(wakeups)
    due = _plan(session, wakeups, loaded, now, ports, results)
    await _settle_missing(session, wakeups, loaded, results)
    plain = [(i, run, schedule) for i, run, schedule in due if run.step.fallback is None]
    ran = await _execute_plain([(run, schedule) for _, run, schedule in plain], trigger)
    for (i, _, _), result in zip(plain, ran, strict=True):
        results[i] = result
    for i, run, schedule in due:
        if run.step.fallback is not None:
            results[i] = await _execute_with_fallback(run, schedule, trigger)
    return [r if r is not None else StepResult(rules.Skip.NOT_ARMED) for r in results]


Loaded = tuple[Draft, DraftEscalation, Client, bool]
Due = tuple[int, steps.StepRun, rules.Schedule]  # index of the wake-up, what it runs


def _plan(
    session: AsyncSession,
    wakeups: Sequence[WakeUp],
    loaded: dict[uuid.UUID, Loaded],
    now: datetime,
    ports: steps.Ports,
    results: list[StepResult | None],
) -> list[Due]:
    """The steps to run; a wake-up that must not run gets its skip in ``results``
    (one whose rows were not loaded is left for :func:`_settle_missing`)."""
    lookups = steps.Lookups(session)
    due: list[Due] = []
    taken: set[uuid.UUID] = set()
    for i, wakeup in enumerate(wakeups):
        found = loaded.get(wakeup.draft_id)
        if found is None:
            continue
        prepared = _prepare(session, wakeup, found, now, ports, lookups)
        if isinstance(prepared, rules.Skip):
            results[i] = StepResult(prepared)
        elif wakeup.draft_id in taken:
            # A duplicate of a wake-up this batch runs: its retry finds the step run.
            results[i] = StepResult(rules.Skip.LOCKED)
        else:
            taken.add(wakeup.draft_id)
            due.append((i, *prepared))
    return due


async def _lock_and_load(
    session: AsyncSession, draft_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Loaded]:
    rows = await session.execute(_locked_steps(), {"draft_ids": sorted(set(draft_ids))})
    return {draft.id: (draft, row, client, bool(ran)) for draft, row, client, ran in rows}


async def _settle_missing(
    session: AsyncSession,
    wakeups: Sequence[WakeUp],
    loaded: dict[uuid.UUID, Loaded],
    results: list[StepResult | None],
) -> None:
    """Only on the rare miss: tell "not armed" from "someone else holds the rows"."""
    missing = {w.draft_id for w in wakeups} - loaded.keys()
    if not missing:
        return
    armed = set(
        await session.scalars(
            select(DraftEscalation.draft_id).where(DraftEscalation.draft_id.in_(sorted(missing)))
        )
    )
    for i, wakeup in enumerate(wakeups):
        if wakeup.draft_id in missing:
            reason = rules.Skip.LOCKED if wakeup.draft_id in armed else rules.Skip.NOT_ARMED
            results[i] = StepResult(reason)
            _log_skip(wakeup, reason)


def _log_skip(wakeup: WakeUp, reason: rules.Skip) -> None:
    log.info(
        "escalation.step_skipped", draft_id=str(wakeup.draft_id), step=wakeup.step, reason=reason
    )


def _prepare(
    session: AsyncSession,
    wakeup: WakeUp,
    found: Loaded,
    now: datetime,
    ports: steps.Ports,
    lookups: steps.Lookups,
) -> tuple[steps.StepRun, rules.Schedule] | rules.Skip:
    """The step to run, or why not (under the row locks)."""
    draft, row, client, ran = found
    skip = rules.skip_reason(_facts(draft, row, wakeup, already_ran=ran, now=now))
    if skip is rules.Skip.NOT_DUE and row.next_due_at is not None:
        # Woken early (clock skew): wake again at the due time, same token.
        early = WakeUp(wakeup.draft_id, wakeup.step, wakeup.token, row.next_due_at)
        after_commit(session, lambda: send_wakeup(early))
    if skip is not None:
        _log_skip(wakeup, skip)
        return skip
    plan = rules.plan_from_json(row.plan)
    schedule = rules.Schedule(row.sla_due_at, row.reminder_at, plan)
    step = rules.step_of(plan, wakeup.step)
    run = steps.StepRun(session, draft, client, row, wakeup.step, step, now, ports, lookups)
    return run, schedule


@functools.cache
def _locked_steps() -> Any:
    """Drafts, their escalations and clients, and whether each armed step already ran,
    in one statement; the draft and escalation rows locked unless another transaction
    holds them.

    ``FOR NO KEY UPDATE``: it still excludes a decision's ``FOR UPDATE`` and another
    step, but not the ``KEY SHARE`` lock that any insert referencing the draft (a
    revision, a comment) holds until it commits; such an insert is no reason to skip.
    "Already ran" looks at the armed step (``next_step``): a wake-up for another step
    is skipped as the wrong step before that matters. Built once with bind parameters:
    building it cost as much as running it.
    """
    ran = (
        select(EscalationStepRun.id)
        .where(
            EscalationStepRun.draft_id == Draft.id,
            EscalationStepRun.round == DraftEscalation.round,
            EscalationStepRun.step == DraftEscalation.next_step,
        )
        .exists()
    )
    return (
        select(Draft, DraftEscalation, Client, ran.label("ran"))
        .join(DraftEscalation, DraftEscalation.draft_id == Draft.id)
        .join(Client, Client.id == Draft.client_id)
        .where(Draft.id.in_(bindparam("draft_ids", expanding=True)))
        .with_for_update(
            of=[Draft.__table__, DraftEscalation.__table__], skip_locked=True, key_share=True
        )
        .execution_options(populate_existing=True)
    )


def _facts(
    draft: Draft, row: DraftEscalation, wakeup: WakeUp, *, already_ran: bool, now: datetime
) -> rules.StepFacts:
    return rules.StepFacts(
        armed=True,
        token_matches=secrets.compare_digest(row.token, wakeup.token),
        next_step=row.next_step,
        step=wakeup.step,
        draft_pending=draft.status == Status.PENDING,
        same_revision=row.revision_id == draft.current_revision_id,
        already_ran=already_ran,
        due_at=row.next_due_at,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class _Ready:
    run: steps.StepRun
    schedule: rules.Schedule
    due_at: datetime
    notified: tuple[uuid.UUID, ...]


async def _execute_plain(
    due: Sequence[tuple[steps.StepRun, rules.Schedule]], trigger: str
) -> list[StepResult]:
    """Notify-only steps, together: record the step runs, notify, write the events,
    arm the next steps.

    The step-run rows go first, in one insert: a duplicate fails on the unique key
    before anything else is written (and rolls the whole transaction back). The
    escalations' new tokens and the events go out with the commit's flush (see
    :mod:`agencyhub.audit.record`).
    """
    if not due:
        return []
    ready = [
        _Ready(run, schedule, schedule.due_at(run.number), await steps.recipients(run))
        for run, schedule in due
    ]
    first = ready[0].run
    await _record_runs(first.session, [(r.run, r.due_at, r.notified, None) for r in ready])
    messages = [(r.run, m) for r in ready for m in await steps.messages(r.run, r.notified)]
    await steps.deliver(first.session, first.ports, messages)
    results = []
    for r in ready:
        await _step_event(r.run, r.due_at, r.notified, trigger)
        _arm(r.run.session, r.run.escalation, r.schedule, r.schedule.step_after(r.run.number))
        log.info("escalation.step_ran", draft_id=str(r.run.draft.id), step=r.run.number)
        results.append(StepResult(None, r.notified, None, delay_ms(r.run.now, r.due_at)))
    return results


async def _execute_with_fallback(
    run: steps.StepRun, schedule: rules.Schedule, trigger: str
) -> StepResult:
    """Notify, write the event, take the fallback, then record the step run (with the
    fallback's outcome) and arm the next step unless the fallback was taken."""
    notified = await steps.notify(run)
    due_at = schedule.due_at(run.number)
    if run.step.fallback_of is None:
        # A fallback after its own wait pages nobody: its step's event was written then.
        await _step_event(run, due_at, notified, trigger)
    fallback = await steps.take_fallback(run)
    await _record_runs(run.session, [(run, due_at, notified, fallback)])
    after = None if fallback is not None else schedule.step_after(run.number)
    _arm(run.session, run.escalation, schedule, after)
    log.info("escalation.step_ran", draft_id=str(run.draft.id), step=run.number, fallback=fallback)
    return StepResult(None, notified, fallback, delay_ms(run.now, due_at))


async def _step_event(
    run: steps.StepRun, due_at: datetime, notified: tuple[uuid.UUID, ...], trigger: str
) -> None:
    is_reminder = run.number == rules.REMINDER_STEP
    await steps.draft_event(
        run,
        "draft.reminder_sent" if is_reminder else "draft.escalated",
        {
            "step": run.number,
            "round": run.escalation.round,
            "notified": [str(u) for u in notified],
            # Why each was paged, and who was left out because their decision could no
            # longer change the outcome (issue #14, item 2).
            "reasons": {str(u): why for u, why in run.paged.items()},
            "passedOver": {str(u): why for u, why in run.passed_over.items()},
            "targets": [t.value for t in run.step.notify],
            "dueAt": due_at.isoformat(),
            "latenessMs": delay_ms(run.now, due_at),
            "trigger": trigger,
        },
    )


RunRecord = tuple[steps.StepRun, datetime, tuple[uuid.UUID, ...], str | None]


async def _record_runs(session: AsyncSession, records: Sequence[RunRecord]) -> None:
    # The unique (draft_id, round, step) key makes a second run fail here, which rolls
    # the whole transaction back: at most once, whatever the locks did. A Core insert:
    # the unit of work adds nothing for rows nobody reads back in this transaction.
    await session.execute(
        insert(EscalationStepRun),
        [
            {
                "agency_id": run.draft.agency_id,
                "draft_id": run.draft.id,
                "round": run.escalation.round,
                "step": run.number,
                "due_at": due_at,
                "ran_at": run.now,
                "notified": [str(u) for u in notified],
                "fallback": fallback,
            }
            for run, due_at, notified, fallback in records
        ],
    )


# --- the sweep -----------------------------------------------------------------------------


async def claim_overdue(
    session: AsyncSession,
    now: datetime,
    *,
    grace: timedelta,
    limit: int = 1,
    exclude: Collection[uuid.UUID] = (),
) -> list[WakeUp]:
    """Lock and answer up to ``limit`` pending drafts whose next step is overdue by more
    than ``grace``: wake-ups that were probably lost.

    ``FOR UPDATE SKIP LOCKED`` (PostgreSQL) means concurrent sweeps, in this process or
    another, claim disjoint rows, and a row a step is running on is left to it. The
    grace leaves a step whose wake-up is about to run to that wake-up. SQLite ignores
    the locking clause; it has one writer anyway.
    """
    query = (
        select(
            DraftEscalation.draft_id,
            DraftEscalation.next_step,
            DraftEscalation.token,
            DraftEscalation.next_due_at,
        )
        .join(Draft, Draft.id == DraftEscalation.draft_id)
        .where(
            Draft.status == Status.PENDING,
            DraftEscalation.next_step.is_not(None),
            DraftEscalation.next_due_at <= now - grace,
        )
        .order_by(DraftEscalation.next_due_at)
        .limit(limit)
        .with_for_update(
            of=[Draft.__table__, DraftEscalation.__table__], skip_locked=True, key_share=True
        )
    )
    if exclude:
        query = query.where(DraftEscalation.draft_id.not_in(sorted(exclude)))
    rows = await session.execute(query)
    return [WakeUp(d, s, t, at) for d, s, t, at in rows if s is not None and at is not None]


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
