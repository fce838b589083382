"""The one owner of a draft's life cycle: the current state goes in, the changes to
save and the audit event to record come out.

Pure (no I/O, no clock): every writer of a draft's life-cycle columns asks one of the
functions here and saves exactly what it answers — the ORM writer
(:mod:`agencyhub.approvals.writer`, for submit, revise, withdraw, severity, the
emergency plan's fallback and crisis mode) and the Core decision path
(:mod:`agencyhub.approvals.decision_store`). Who may do what is
:func:`agencyhub.approvals.rules.apply_action`'s answer; this module turns that answer
into columns: the new status, the version bump every change makes, the SLA clock when a
draft enters the queue, the decision time, the approved wording, the crisis pause.

What needs I/O is an input (the client's SLA policy, when the change may start or move
the clock) or a flag on the :class:`Change` for the writer to act on after saving
(arm the emergency plan, let it follow a new revision, reschedule its wake-up).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from agencyhub.approvals import rules
from agencyhub.approvals.rules import Action, Refused, Severity, Status
from agencyhub.escalation import rules as sla_rules

# The draft columns a life-cycle change may write; nothing else writes them.
LIFECYCLE_COLUMNS = frozenset(
    {
        "status",
        "version",
        "severity",
        "severity_order",
        "submitted_at",
        "sla_due_at",
        "decided_at",
        "approved_wording",
        "paused_at",
    }
)
# Entering one of these stamps ``decided_at``: the client (or its plan) has answered.
DECIDED = frozenset(
    {Status.APPROVED, Status.REJECTED, Status.CHANGES_REQUESTED, Status.FALLBACK_TAKEN}
)

_EVENTS = {
    Action.SUBMIT: "draft.submitted",
    Action.REVISE: "draft.resubmitted",
    Action.APPROVE: "draft.approved",
    Action.REJECT: "draft.rejected",
    Action.REQUEST_CHANGES: "draft.changes_requested",
    Action.WITHDRAW: "draft.withdrawn",
    Action.SCHEDULE: "draft.scheduled",
    Action.PUBLISH: "draft.published",
    Action.TAKE_FALLBACK: "draft.fallback_taken",
}
# An approval that does not yet meet the client's policy leaves the draft pending.
APPROVAL_RECORDED = "draft.approval_recorded"


@dataclass(frozen=True, slots=True)
class DraftState:
    """A draft's life-cycle columns as they are now."""

    status: Status
    version: int
    severity: Severity
    submitted_at: datetime | None = None
    sla_due_at: datetime | None = None
    decided_at: datetime | None = None
    approved_wording: int | None = None
    paused_at: datetime | None = None

    @classmethod
    def of(cls, row: Any) -> DraftState:
        """From anything with the draft's column names: the ORM row or a Core row."""
        return cls(
            status=Status(row.status),
            version=row.version,
            severity=Severity(row.severity),
            submitted_at=row.submitted_at,
            sla_due_at=row.sla_due_at,
            decided_at=row.decided_at,
            approved_wording=row.approved_wording,
            paused_at=row.paused_at,
        )


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """The event a change records; ``payload`` already holds the new version and status."""

    type: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Change:
    """What to save (``values``: changed columns only) and what to record."""

    values: Mapping[str, Any]
    event: AuditEvent | None
    outcome: rules.Outcome | None = None
    entered_queue: bool = False  # a new SLA clock: arm the emergency plan
    revised_in_queue: bool = False  # still pending on a new revision: the plan follows
    moved_deadline: bool = False  # the SLA moved: reschedule the plan's wake-ups
    # A severity change that kept the earlier deadline: it stays the old severity's.
    deadline_kept: bool = False

    def applied_to(self, state: DraftState) -> DraftState:
        columns = {f.name: getattr(state, f.name) for f in fields(DraftState)}
        changed = {name: self.values[name] for name in columns.keys() & self.values.keys()}
        return DraftState.of(SimpleNamespace(**(columns | changed)))


def enters_queue(status: Status, action: Action) -> bool:
    """Whether ``action`` on a draft in ``status`` may start an SLA clock (so the writer
    loads the client's SLA policy first, and only then)."""
    return action is Action.SUBMIT or (
        action is Action.REVISE and status is Status.CHANGES_REQUESTED
    )


def transition(
    state: DraftState,
    facts: rules.DraftFacts,
    request: rules.Request,
    policy: rules.Policy,
    *,
    now: datetime,
    sla: sla_rules.SlaPolicy | None = None,
    wording: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Change:
    """The change ``request`` makes to a draft in ``state``, or :class:`Refused`.

    ``facts`` are the rules' view of the same draft (its revision and approvals);
    ``sla`` is required when :func:`enters_queue`; ``wording`` is the wording an
    approval chose; ``detail`` is added to the event (e.g. the plan's step).
    """
    if facts.status is not state.status or facts.severity is not state.severity:
        raise ValueError("the rules' facts and the draft's state disagree")
    if request.action is Action.PUBLISH and state.paused_at is not None:
        raise Refused("crisis mode holds this post; it goes out when the crisis ends")
    outcome = rules.apply_action(facts, request, policy)
    values: dict[str, Any] = {"status": outcome.status.value, "version": state.version + 1}
    if state.paused_at is not None and outcome.status is not Status.SCHEDULED:
        values["paused_at"] = None  # a withdrawn post is no longer held, it is gone
    entered = outcome.status is Status.PENDING and state.status is not Status.PENDING
    if entered:
        if sla is None:
            raise ValueError("entering the queue needs the client's SLA policy")
        values["submitted_at"] = now
        values["sla_due_at"] = _due(sla, state.severity, now)
    if outcome.status in DECIDED:
        values["decided_at"] = now
    if outcome.policy_met:
        values["approved_wording"] = wording or 0
    event = _transition_event(state, request, outcome, values, wording, detail or {})
    return Change(
        values=values,
        event=event,
        outcome=outcome,
        entered_queue=entered,
        revised_in_queue=request.action is Action.REVISE and state.status is Status.PENDING,
    )


def _transition_event(
    state: DraftState,
    request: rules.Request,
    outcome: rules.Outcome,
    values: Mapping[str, Any],
    wording: int | None,
    detail: Mapping[str, Any],
) -> AuditEvent | None:
    action = request.action
    if action is Action.REVISE and not outcome.restarts_approval:
        return None  # a draft still being written: its revision event says it all
    payload: dict[str, Any] = {"version": values["version"], "status": outcome.status.value}
    if action is Action.SUBMIT:
        payload["slaDueAt"] = values["sla_due_at"].isoformat()
    elif action is Action.REVISE:
        payload["from"] = state.status.value
    elif action in rules.DECISIONS:
        payload.update(
            revisionId=str(request.revision_id),
            role=request.who.role or "",
            comment=request.comment.strip(),
            wording=(wording or 0) if action is Action.APPROVE else None,
        )
    payload.update(detail)
    kind = _EVENTS[action]
    if action is Action.APPROVE and not outcome.policy_met:
        kind = APPROVAL_RECORDED
    return AuditEvent(kind, payload)


def change_severity(
    state: DraftState,
    severity: Severity,
    *,
    sla: sla_rules.SlaPolicy | None = None,
    by_client: bool = False,
) -> Change | None:
    """A new severity for an open draft (None: it has that one already); ``sla`` is
    required when the draft is pending.

    A running SLA clock is recomputed from the submission. The client (``by_client``)
    decides what an item is worth, so its new deadline stands, later or not. Agency
    staff can only bring a deadline closer: a downgrade of theirs keeps the earlier
    one, which stays the higher severity's (``deadline_kept``), so the plan's fallback
    never applies to the lowered item at that deadline."""
    if state.status not in rules.OPEN_STATES:
        raise Refused(f"the draft is {state.status.value}; its severity is settled")
    if severity is state.severity:
        return None
    values: dict[str, Any] = {
        "severity": severity.value,
        "severity_order": rules.SEVERITY_ORDER[severity],
        "version": state.version + 1,
    }
    running = state.status is Status.PENDING and state.submitted_at is not None
    if running:
        if sla is None:
            raise ValueError("a pending draft's new severity needs the client's SLA policy")
        assert state.submitted_at is not None
        due = _due(sla, severity, state.submitted_at)
        keep = not by_client and state.sla_due_at is not None and state.sla_due_at < due
        values["sla_due_at"] = state.sla_due_at if keep else due
    else:
        keep = False
    payload: dict[str, Any] = {
        "version": values["version"],
        "status": state.status.value,
        "from": state.severity.value,
        "to": severity.value,
    }
    if running:
        payload["slaDueAt"] = values["sla_due_at"].isoformat()
        payload["deadlineKept"] = keep
    return Change(
        values=values,
        event=AuditEvent("draft.severity_changed", payload),
        moved_deadline=running,
        deadline_kept=keep,
    )


def pause(state: DraftState, now: datetime) -> Change:
    """Crisis mode holds a scheduled post (it stays ``scheduled``; see ``paused_at``)."""
    if state.status is not Status.SCHEDULED:
        raise Refused(f"only a scheduled post can be paused, this draft is {state.status}")
    if state.paused_at is not None:
        raise Refused("the post is paused already")
    version = state.version + 1
    payload = {"version": version, "status": state.status.value, "crisis": True}
    return Change({"paused_at": now, "version": version}, AuditEvent("draft.paused", payload))


def resume(state: DraftState) -> Change:
    """The end of crisis mode lets a paused post go out again."""
    if state.paused_at is None:
        raise Refused("the post is not paused")
    version = state.version + 1
    payload = {"version": version, "status": state.status.value}
    return Change({"paused_at": None, "version": version}, AuditEvent("draft.resumed", payload))


def _due(sla: sla_rules.SlaPolicy, severity: Severity, entered_at: datetime) -> datetime:
    return sla_rules.sla_due_at(entered_at, sla.targets[severity], sla.calendar)
