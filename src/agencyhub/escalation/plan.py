"""Emergency plans and the decision to run an escalation step, as pure functions.

A plan is an ordered list of steps, each ``after`` a delay from the SLA due time, with
whom to notify over which channels and an optional fallback action. When a draft
enters the queue the plan is frozen into it (:func:`plan_to_json`); the armed
schedule is "step 0" (the reminder before due) and then the plan's steps 1..n.
No clock reads and no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class Target(StrEnum):
    ON_DUTY = "on_duty"
    DEPUTIES = "deputies"
    ALL_APPROVERS = "all_approvers"
    EXECUTIVES = "executives"
    USERS = "users"


class FallbackAction(StrEnum):
    PUBLISH_TEMPLATE = "publish_template"
    HIDE_ITEM = "hide_item"
    CRISIS_MODE = "crisis_mode"


CHANNELS = frozenset({"in_app"})
# The last human step's own time to act before the fallback (issue #14, item 3).
DEFAULT_FALLBACK_WAIT = timedelta(minutes=5)
MAX_FALLBACK_WAIT = timedelta(days=1)
MAX_STEPS = 10
MAX_AFTER = timedelta(days=7)
MAX_NAMED_USERS = 20
REMINDER_STEP = 0


@dataclass(frozen=True, slots=True)
class Fallback:
    """What the plan does when nobody decided; ``wait``: how long after its step paged
    people, so the last of them has time to act (0: in the same moment)."""

    action: FallbackAction
    template_id: uuid.UUID | None = None
    wait: timedelta = DEFAULT_FALLBACK_WAIT


@dataclass(frozen=True, slots=True)
class Step:
    after: timedelta
    notify: tuple[Target, ...]
    users: tuple[uuid.UUID, ...] = ()  # the named people when ``notify`` has USERS
    channels: tuple[str, ...] = ("in_app",)
    fallback: Fallback | None = None
    # Set on the wake-up that only takes the fallback of plan step N after its wait.
    fallback_of: int | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    steps: tuple[Step, ...]

    def template_ids(self) -> set[uuid.UUID]:
        return {s.fallback.template_id for s in self.steps if s.fallback and s.fallback.template_id}


DEFAULT_PLAN = Plan(
    steps=(
        Step(timedelta(0), (Target.ON_DUTY,)),
        Step(timedelta(minutes=15), (Target.DEPUTIES,)),
        Step(timedelta(minutes=30), (Target.EXECUTIVES,)),
    )
)


# --- validation ----------------------------------------------------------------------------


def plan_problems(plan: Plan, approved_template_ids: Iterable[uuid.UUID]) -> list[tuple[str, str]]:
    """``(field, message)`` for everything wrong with ``plan``; empty when valid.

    The first step must notify a human before any fallback; a fallback ends the
    escalation, so it may only be on the last step; a template must be client-approved.
    """
    if not plan.steps:
        return [("steps", "needs at least one step")]
    if len(plan.steps) > MAX_STEPS:
        return [("steps", f"at most {MAX_STEPS} steps")]
    approved = set(approved_template_ids)
    problems: list[tuple[str, str]] = []
    for index, step in enumerate(plan.steps):
        problems += _step_problems(index, step, is_last=index == len(plan.steps) - 1, ok=approved)
    for index in range(1, len(plan.steps)):
        if plan.steps[index].after < plan.steps[index - 1].after:
            problems.append((f"steps[{index}].afterMinutes", "steps must be ordered by delay"))
    return problems


def _step_problems(
    index: int, step: Step, *, is_last: bool, ok: set[uuid.UUID]
) -> list[tuple[str, str]]:
    where = f"steps[{index}]"
    problems: list[tuple[str, str]] = []
    if not timedelta(0) <= step.after <= MAX_AFTER:
        problems.append((f"{where}.afterMinutes", "must be between 0 and 7 days"))
    if index == 0 and not step.notify:
        problems.append((f"{where}.notify", "the first step must notify a human"))
    if index == 0 and step.fallback is not None:
        problems.append(
            (f"{where}.fallback", "the first step must notify a human before any fallback")
        )
    if len(set(step.notify)) != len(step.notify):
        problems.append((f"{where}.notify", "names a target twice"))
    if (Target.USERS in step.notify) != bool(step.users):
        problems.append((f"{where}.notify", "name the users exactly when notifying users"))
    if len(step.users) > MAX_NAMED_USERS:
        problems.append((f"{where}.notify", f"at most {MAX_NAMED_USERS} named users"))
    if not step.channels or not set(step.channels) <= CHANNELS:
        problems.append((f"{where}.channels", f"choose from {sorted(CHANNELS)}"))
    problems += _fallback_problems(where, step.fallback, is_last=is_last, ok=ok)
    return problems


def _fallback_problems(
    where: str, fallback: Fallback | None, *, is_last: bool, ok: set[uuid.UUID]
) -> list[tuple[str, str]]:
    if fallback is None:
        return []
    if not is_last:
        return [(f"{where}.fallback", "a fallback ends the escalation: only the last step")]
    if not timedelta(0) <= fallback.wait <= MAX_FALLBACK_WAIT:
        return [(f"{where}.fallback.waitMinutes", "must be between 0 and 1440 (one day)")]
    if fallback.action is FallbackAction.PUBLISH_TEMPLATE:
        if fallback.template_id is None:
            return [(f"{where}.fallback.templateId", "publish_template needs a template")]
        if fallback.template_id not in ok:
            return [(f"{where}.fallback.templateId", "is not a template the client approved")]
    elif fallback.template_id is not None:
        return [(f"{where}.fallback.templateId", f"{fallback.action} takes no template")]
    return []


# --- the frozen snapshot -------------------------------------------------------------------


def plan_to_json(plan: Plan) -> list[dict[str, Any]]:
    return [_step_to_json(step) for step in plan.steps]


def _step_to_json(step: Step) -> dict[str, Any]:
    fallback: dict[str, Any] | None = None
    if step.fallback is not None:
        fallback = {"action": step.fallback.action.value}
        if step.fallback.template_id is not None:
            fallback["templateId"] = str(step.fallback.template_id)
        fallback["waitMinutes"] = int(step.fallback.wait.total_seconds() // 60)
    return {
        "afterMinutes": int(step.after.total_seconds() // 60),
        "notify": [t.value for t in step.notify],
        "users": [str(u) for u in step.users],
        "channels": list(step.channels),
        "fallback": fallback,
    }


def plan_from_json(steps: list[dict[str, Any]]) -> Plan:
    return Plan(steps=tuple(_step_from_json(s) for s in steps))


def _step_from_json(value: dict[str, Any]) -> Step:
    raw = value.get("fallback")
    fallback = None
    if raw:
        template = raw.get("templateId")
        fallback = Fallback(
            FallbackAction(raw["action"]),
            uuid.UUID(template) if template else None,
            # Plans stored before the wait existed took the fallback with their step.
            timedelta(minutes=int(raw.get("waitMinutes", 0))),
        )
    return Step(
        after=timedelta(minutes=int(value["afterMinutes"])),
        notify=tuple(Target(t) for t in value["notify"]),
        users=tuple(uuid.UUID(u) for u in value.get("users", [])),
        channels=tuple(value.get("channels", ["in_app"])),
        fallback=fallback,
    )


# --- the armed schedule --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Schedule:
    """When each step of an armed escalation is due: step 0 is the reminder."""

    sla_due_at: datetime
    reminder_at: datetime | None
    plan: Plan

    @property
    def last_step(self) -> int:
        """The plan's steps, and one more wake-up for a fallback with its own wait."""
        return len(self.plan.steps) + (1 if waits_for_fallback(self.plan) else 0)

    def due_at(self, step: int) -> datetime:
        if step == REMINDER_STEP:
            assert self.reminder_at is not None
            return self.reminder_at
        return self.sla_due_at + step_of(self.plan, step).after

    def first_step(self) -> int:
        return REMINDER_STEP if self.reminder_at is not None else 1

    def step_after(self, step: int) -> int | None:
        return step + 1 if step < self.last_step else None


def reminder_step() -> Step:
    return Step(timedelta(0), (Target.ON_DUTY,))


def waits_for_fallback(plan: Plan) -> bool:
    """Whether the last step's fallback runs as a wake-up of its own, after a wait."""
    last = plan.steps[-1] if plan.steps else None
    return last is not None and last.fallback is not None and last.fallback.wait > timedelta(0)


def step_of(plan: Plan, step: int) -> Step:
    """What wake-up ``step`` does: the reminder, a plan step, or — when the last step's
    fallback waits — that step without its fallback and then the fallback alone."""
    if step == REMINDER_STEP:
        return reminder_step()
    count = len(plan.steps)
    if waits_for_fallback(plan) and step >= count:
        last = plan.steps[-1]
        assert last.fallback is not None
        if step == count:
            return replace(last, fallback=None)
        return Step(
            after=last.after + last.fallback.wait,
            notify=(),
            channels=last.channels,
            fallback=last.fallback,
            fallback_of=count,
        )
    return plan.steps[step - 1]


# --- running a step ------------------------------------------------------------------------


class Skip(StrEnum):
    """Why a wake-up call does nothing (a stale or duplicate message is not an error)."""

    NOT_ARMED = "not_armed"
    STALE_TOKEN = "stale_token"
    WRONG_STEP = "wrong_step"
    NOT_PENDING = "not_pending"
    OTHER_REVISION = "other_revision"
    ALREADY_RAN = "already_ran"
    NOT_DUE = "not_due"
    LOCKED = "locked"  # another transaction holds the draft: it runs the step, or a retry does


@dataclass(frozen=True, slots=True)
class StepFacts:
    """What the actor knows after locking the draft row."""

    armed: bool
    token_matches: bool
    next_step: int | None
    step: int
    draft_pending: bool
    same_revision: bool
    already_ran: bool
    due_at: datetime | None
    now: datetime


def skip_reason(facts: StepFacts) -> Skip | None:
    """None when step ``facts.step`` must run now, else why it must not.

    Status is checked under the row lock, so a decision committed first always wins.
    """
    if not facts.armed:
        return Skip.NOT_ARMED
    if not facts.token_matches:
        return Skip.STALE_TOKEN
    if facts.next_step != facts.step:
        return Skip.WRONG_STEP
    if not facts.draft_pending:
        return Skip.NOT_PENDING
    if not facts.same_revision:
        return Skip.OTHER_REVISION
    if facts.already_ran:
        return Skip.ALREADY_RAN
    if facts.due_at is None or facts.now < facts.due_at:
        return Skip.NOT_DUE
    return None


@dataclass(frozen=True, slots=True)
class FallbackOutcome:
    """What a fallback does to the draft, given what the draft is."""

    action: FallbackAction
    applicable: bool
    reason: str = ""


def fallback_outcome(
    fallback: Fallback,
    *,
    has_inbound_item: bool,
    deadline_severity: str | None = None,
    severity: str | None = None,
) -> FallbackOutcome:
    """Publishing a reply and hiding the item both need the inbound item a reply answers;
    crisis mode is about the client, so it applies to any draft.

    A fallback only applies to the severity its deadline belongs to: when agency staff
    lowered the item's severity but its earlier deadline was kept, the deadline is
    still the higher severity's and nothing is taken for the lowered item."""
    if deadline_severity is not None and severity is not None and deadline_severity != severity:
        reason = (
            f"the item was lowered from {deadline_severity} to {severity} and kept the"
            f" {deadline_severity} deadline; a fallback applies only at its own severity"
        )
        return FallbackOutcome(fallback.action, False, reason)
    if fallback.action is not FallbackAction.CRISIS_MODE and not has_inbound_item:
        return FallbackOutcome(fallback.action, False, "the draft answers no inbound item")
    return FallbackOutcome(fallback.action, True)
