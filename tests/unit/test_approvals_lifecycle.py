"""The draft life cycle (approvals.lifecycle): examples, a stateful property test that
drives its one function through any sequence of actions by any role, and a guard that
no other module writes a draft's life-cycle columns."""

from __future__ import annotations

import ast
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agencyhub.approvals import decision_store, lifecycle, rules
from agencyhub.approvals.lifecycle import Change, DraftState
from agencyhub.approvals.rules import (
    Action,
    Approval,
    DraftFacts,
    Refused,
    Request,
    Severity,
    Status,
    Who,
)
from agencyhub.escalation import rules as sla_rules
from agencyhub.tenancy.rules import AGENCY_ROLES, CLIENT_ROLES

SRC = Path(__file__).resolve().parents[2] / "src" / "agencyhub"
START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday morning in business hours
SLA = sla_rules.DEFAULT_SLA_POLICY
AUTHOR = uuid.UUID(int=1)
APPROVER = uuid.UUID(int=2)
REV1 = uuid.UUID(int=101)


def state(
    status: Status = Status.DRAFT,
    *,
    submitted_at: datetime | None = None,
    sla_due_at: datetime | None = None,
    severity: Severity = Severity.NORMAL,
) -> DraftState:
    return DraftState(status, 3, severity, submitted_at=submitted_at, sla_due_at=sla_due_at)


def facts_of(draft: DraftState) -> DraftFacts:
    return DraftFacts(
        status=draft.status,
        severity=draft.severity,
        current_revision_id=REV1,
        current_revision_author_id=AUTHOR,
        created_by_id=AUTHOR,
    )


def ask(draft: DraftState, action: Action, who: Who, wording: int | None = None) -> Change:
    request = Request(action=action, who=who, revision_id=REV1)
    return lifecycle.transition(
        draft, facts_of(draft), request, rules.DEFAULT_POLICY, now=START, sla=SLA, wording=wording
    )


def test_submitting_starts_the_sla_clock_and_says_when_it_runs_out() -> None:
    change = ask(state(), Action.SUBMIT, Who(AUTHOR, "editor"))
    due = sla_rules.sla_due_at(START, SLA.targets["normal"], SLA.calendar)
    assert change.values == {
        "status": "pending",
        "version": 4,
        "submitted_at": START,
        "sla_due_at": due,
    }
    assert change.entered_queue
    assert not change.revised_in_queue
    assert change.event is not None
    assert change.event.type == "draft.submitted"
    assert change.event.payload == {"version": 4, "status": "pending", "slaDueAt": due.isoformat()}


def test_entering_the_queue_without_the_sla_policy_is_a_programming_error() -> None:
    draft = state()
    request = Request(action=Action.SUBMIT, who=Who(AUTHOR, "editor"))
    with pytest.raises(ValueError, match="SLA policy"):
        lifecycle.transition(draft, facts_of(draft), request, rules.DEFAULT_POLICY, now=START)


def test_an_approval_that_meets_the_policy_decides_and_keeps_the_wording() -> None:
    change = ask(state(Status.PENDING), Action.APPROVE, Who(APPROVER, "approver"), wording=1)
    assert change.values == {
        "status": "approved",
        "version": 4,
        "decided_at": START,
        "approved_wording": 1,
    }
    assert change.event is not None
    assert change.event.type == "draft.approved"
    assert change.event.payload == {
        "version": 4,
        "status": "approved",
        "revisionId": str(REV1),
        "role": "approver",
        "comment": "",
        "wording": 1,
    }


def test_a_first_of_two_crisis_approvals_only_records_itself() -> None:
    draft = DraftState(Status.PENDING, 5, Severity.CRISIS, START, START, None)
    request = Request(Action.APPROVE, Who(APPROVER, "approver"), REV1, "ok ")
    change = lifecycle.transition(draft, facts_of(draft), request, rules.DEFAULT_POLICY, now=START)
    assert change.values == {"status": "pending", "version": 6}
    assert change.event is not None
    assert change.event.type == "draft.approval_recorded"
    assert change.event.payload["comment"] == "ok"


def test_revising_a_draft_in_the_queue_keeps_its_clock_and_restarts_approval() -> None:
    draft = state(Status.PENDING, submitted_at=START, sla_due_at=START + timedelta(hours=4))
    change = ask(draft, Action.REVISE, Who(AUTHOR, "editor"))
    assert change.values == {"status": "pending", "version": 4}
    assert change.revised_in_queue
    assert not change.entered_queue
    assert change.event is not None
    assert change.event.type == "draft.resubmitted"
    assert change.event.payload == {"version": 4, "status": "pending", "from": "pending"}


def test_revising_a_draft_not_yet_submitted_records_no_status_event() -> None:
    change = ask(state(), Action.REVISE, Who(AUTHOR, "editor"))
    assert change.values == {"status": "draft", "version": 4}
    assert change.event is None


def test_the_fallback_is_the_systems_and_carries_the_plans_detail() -> None:
    draft = state(Status.PENDING, submitted_at=START)
    request = Request(Action.TAKE_FALLBACK, Who.system())
    change = lifecycle.transition(
        draft,
        facts_of(draft),
        request,
        rules.DEFAULT_POLICY,
        now=START,
        detail={"step": 3, "action": "hide_item"},
    )
    assert change.values == {"status": "fallback_taken", "version": 4, "decided_at": START}
    assert change.event is not None
    assert change.event.payload == {
        "version": 4,
        "status": "fallback_taken",
        "step": 3,
        "action": "hide_item",
    }


def test_facts_that_disagree_with_the_state_are_refused() -> None:
    draft = state(Status.PENDING)
    request = Request(Action.WITHDRAW, Who(AUTHOR, "editor"))
    with pytest.raises(ValueError, match="disagree"):
        lifecycle.transition(draft, facts_of(state()), request, rules.DEFAULT_POLICY, now=START)


def test_a_higher_severity_brings_the_deadline_closer_and_never_pushes_it_back() -> None:
    far = START + timedelta(days=3)
    draft = state(Status.PENDING, submitted_at=START, sla_due_at=far)
    change = lifecycle.change_severity(draft, Severity.CRISIS, sla=SLA)
    assert change is not None
    crisis_due = sla_rules.sla_due_at(START, SLA.targets["crisis"], SLA.calendar)
    assert change.values["sla_due_at"] == min(crisis_due, far)
    assert change.moved_deadline
    back = lifecycle.change_severity(change.applied_to(draft), Severity.NORMAL, sla=SLA)
    assert back is not None
    assert back.values["sla_due_at"] == change.values["sla_due_at"]
    assert lifecycle.change_severity(draft, Severity.NORMAL, sla=SLA) is None


def test_a_downgrade_by_the_client_recomputes_the_deadline_by_the_agency_keeps_it() -> None:
    """Issue #14, item 1: the client decides what an item is worth; agency staff can
    only bring a deadline closer, and a kept deadline stays the higher severity's."""
    crisis_due = sla_rules.sla_due_at(START, SLA.targets["crisis"], SLA.calendar)
    normal_due = sla_rules.sla_due_at(START, SLA.targets["normal"], SLA.calendar)
    crisis = state(
        Status.PENDING, severity=Severity.CRISIS, submitted_at=START, sla_due_at=crisis_due
    )

    by_client = lifecycle.change_severity(crisis, Severity.NORMAL, sla=SLA, by_client=True)
    assert by_client is not None
    assert by_client.values["sla_due_at"] == normal_due
    assert not by_client.deadline_kept
    assert by_client.event is not None
    assert by_client.event.payload["deadlineKept"] is False

    by_agency = lifecycle.change_severity(crisis, Severity.NORMAL, sla=SLA)
    assert by_agency is not None
    assert by_agency.values["sla_due_at"] == crisis_due
    assert by_agency.deadline_kept
    assert by_agency.event is not None
    assert by_agency.event.payload["slaDueAt"] == crisis_due.isoformat()


def test_a_decided_drafts_severity_is_settled() -> None:
    with pytest.raises(Refused, match="settled"):
        lifecycle.change_severity(state(Status.APPROVED), Severity.HIGH)


def test_crisis_mode_pauses_only_scheduled_posts_and_resumes_paused_ones() -> None:
    with pytest.raises(Refused):
        lifecycle.pause(state(Status.PENDING), START)
    paused = lifecycle.pause(state(Status.SCHEDULED), START)
    assert paused.values == {"paused_at": START, "version": 4}
    assert paused.event is not None
    assert paused.event.type == "draft.paused"
    held = paused.applied_to(state(Status.SCHEDULED))
    with pytest.raises(Refused, match="already"):
        lifecycle.pause(held, START)
    resumed = lifecycle.resume(held)
    assert resumed.values == {"paused_at": None, "version": 5}
    with pytest.raises(Refused, match="not paused"):
        lifecycle.resume(resumed.applied_to(held))


def test_a_paused_post_is_not_published_and_a_withdrawn_one_is_no_longer_held() -> None:
    held = lifecycle.pause(state(Status.SCHEDULED), START).applied_to(state(Status.SCHEDULED))
    with pytest.raises(Refused, match="crisis mode holds"):
        ask(held, Action.PUBLISH, Who.system())
    withdrawn = ask(held, Action.WITHDRAW, Who(AUTHOR, "editor"))
    assert withdrawn.values == {"status": "withdrawn", "version": 5, "paused_at": None}


def test_only_submit_and_revising_after_changes_requested_can_enter_the_queue() -> None:
    entering = {
        (status, action)
        for status in Status
        for action in Action
        if lifecycle.enters_queue(status, action)
    }
    assert entering == {(status, Action.SUBMIT) for status in Status} | {
        (Status.CHANGES_REQUESTED, Action.REVISE)
    }


# --- the stateful property test ------------------------------------------------------------

PEOPLE = [uuid.UUID(int=n) for n in range(10, 16)]
ROLES = sorted(AGENCY_ROLES | CLIENT_ROLES)


class DraftLifeCycle(RuleBasedStateMachine):
    """Any sequence of actions by any role through :func:`lifecycle.transition` (and
    severity, pause, resume): the invariants of DESIGN §4 hold for the state it leaves,
    and every change is one version, one event and only life-cycle columns."""

    def __init__(self) -> None:
        super().__init__()
        self.draft = DraftState(status=Status.DRAFT, version=1, severity=Severity.NORMAL)
        self.now = START
        self.revisions: list[tuple[uuid.UUID, uuid.UUID]] = [(uuid.uuid4(), PEOPLE[0])]
        self.approvals: dict[uuid.UUID, list[Approval]] = {}
        self.policy = rules.DEFAULT_POLICY
        self.was_approved = False

    def current_facts(self) -> DraftFacts:
        revision_id, author = self.revisions[-1]
        return DraftFacts(
            status=self.draft.status,
            severity=self.draft.severity,
            current_revision_id=revision_id,
            current_revision_author_id=author,
            approvals_on_current=tuple(self.approvals.get(revision_id, [])),
            created_by_id=PEOPLE[0],
        )

    def save(self, change: Change) -> None:
        """What a writer does: check the change's shape, then apply exactly it."""
        before = self.draft
        assert change.values["version"] == before.version + 1
        assert change.values.keys() <= lifecycle.LIFECYCLE_COLUMNS
        if change.event is not None:
            assert change.event.payload["version"] == before.version + 1
            assert change.event.payload["status"] == change.values.get("status", before.status)
        self.draft = change.applied_to(before)

    @rule(
        action=st.sampled_from(list(Action)),
        person=st.sampled_from(PEOPLE),
        role=st.sampled_from([*ROLES, None]),
        on_old_revision=st.booleans(),
        comment=st.sampled_from(["", "Bitte anders formulieren", "Passt so"]),
        wording=st.sampled_from([None, 0, 1]),
        minutes=st.integers(0, 600),
    )
    def anyone_does_anything(
        self,
        action: Action,
        person: uuid.UUID,
        role: str | None,
        on_old_revision: bool,
        comment: str,
        wording: int | None,
        minutes: int,
    ) -> None:
        who = Who.system() if role is None else Who(user_id=person, role=role)
        revision_id = self.revisions[0][0] if on_old_revision else self.revisions[-1][0]
        self.attempt(action, who, revision_id, comment, wording, minutes)

    # The rules below make the likely next steps likely, so every state is reached
    # often; the one above keeps trying everything else from wherever that led.

    @rule(person=st.sampled_from(PEOPLE), action=st.sampled_from([Action.SUBMIT, Action.REVISE]))
    def the_agency_writes(self, person: uuid.UUID, action: Action) -> None:
        self.attempt(action, Who(person, "editor"), self.revisions[-1][0], "", None, 5)

    @rule(
        person=st.sampled_from(PEOPLE),
        role=st.sampled_from(sorted(rules.DECIDING_ROLES)),
        action=st.sampled_from(sorted(rules.DECISIONS)),
        comment=st.sampled_from(["", "Passt so"]),
        wording=st.sampled_from([None, 0, 1]),
    )
    def the_client_decides(
        self, person: uuid.UUID, role: str, action: Action, comment: str, wording: int | None
    ) -> None:
        self.attempt(action, Who(person, role), self.revisions[-1][0], comment, wording, 30)

    @rule(action=st.sampled_from(sorted(rules.SYSTEM_ACTIONS)), minutes=st.integers(0, 3000))
    def the_system_acts(self, action: Action, minutes: int) -> None:
        self.attempt(action, Who.system(), None, "", None, minutes)

    def attempt(
        self,
        action: Action,
        who: Who,
        revision_id: uuid.UUID | None,
        comment: str,
        wording: int | None,
        minutes: int,
    ) -> None:
        self.now += timedelta(minutes=minutes)
        before = self.draft
        try:
            change = lifecycle.transition(
                before,
                self.current_facts(),
                Request(action, who, revision_id, comment),
                self.policy,
                now=self.now,
                sla=SLA if lifecycle.enters_queue(before.status, action) else None,
                wording=wording,
            )
        except Refused:
            assert self.draft == before  # a refusal changes nothing
            return
        assert change.outcome is not None
        target = change.outcome.status
        self.check_authority(action, who, before.status, target)
        if action in rules.DECISIONS:
            # A decision always binds to the current revision, never another one, and
            # the Core decision path can save everything it changes.
            assert revision_id == self.revisions[-1][0]
            assert change.values.keys() <= set(decision_store.DRAFT_CHANGES)
        assert change.entered_queue == (target is Status.PENDING and before.status != target)
        if action is Action.REVISE:
            assert who.user_id is not None
            self.revisions.append((uuid.uuid4(), who.user_id))
        if action is Action.APPROVE:
            assert who.user_id is not None
            self.approvals.setdefault(self.revisions[-1][0], []).append(
                Approval(who.user_id, who.role or "")
            )
        self.save(change)
        if target is Status.APPROVED:
            self.was_approved = True
            assert self.draft.approved_wording == (wording or 0)

    @rule(severity=st.sampled_from(list(Severity)))
    def change_severity(self, severity: Severity) -> None:
        before = self.draft
        try:
            change = lifecycle.change_severity(before, severity, sla=SLA)
        except Refused:
            assert before.status not in rules.OPEN_STATES
            return
        if change is None:
            assert severity is before.severity
            return
        self.save(change)
        if before.sla_due_at is not None and before.status is Status.PENDING:
            assert self.draft.sla_due_at is not None
            assert self.draft.sla_due_at <= before.sla_due_at  # never pushed back

    @precondition(lambda self: self.draft.status is Status.SCHEDULED)
    @rule()
    def crisis_pauses(self) -> None:
        try:
            change = lifecycle.pause(self.draft, self.now)
        except Refused:
            assert self.draft.paused_at is not None
            return
        self.save(change)

    @rule()
    def crisis_ends(self) -> None:
        try:
            change = lifecycle.resume(self.draft)
        except Refused:
            assert self.draft.paused_at is None
            return
        self.save(change)

    def check_authority(self, action: Action, who: Who, source: Status, target: Status) -> None:
        if target is Status.APPROVED and source is not Status.APPROVED:
            assert who.role in CLIENT_ROLES, f"{who.role} approved"
        if target in (Status.SCHEDULED, Status.PUBLISHED, Status.FALLBACK_TAKEN):
            assert who.is_system, f"{who.role} moved a draft to {target}"
        moved_to_authority = target in (Status.APPROVED, Status.SCHEDULED, Status.PUBLISHED)
        assert not (who.role in AGENCY_ROLES and moved_to_authority and source != target)

    @invariant()
    def status_is_documented(self) -> None:
        assert self.draft.status in rules.ALL_STATES

    @invariant()
    def approved_means_the_policy_was_met_on_the_current_revision(self) -> None:
        if self.draft.status is Status.APPROVED:
            approvals = self.approvals.get(self.revisions[-1][0], [])
            assert self.policy.requirement(self.draft.severity).is_met(approvals)

    @invariant()
    def a_pending_draft_has_a_running_clock(self) -> None:
        if self.draft.status is Status.PENDING:
            assert self.draft.submitted_at is not None
            assert self.draft.sla_due_at is not None
            assert self.draft.sla_due_at > self.draft.submitted_at

    @invariant()
    def a_decided_draft_says_when(self) -> None:
        if self.draft.status in lifecycle.DECIDED:
            assert self.draft.decided_at is not None

    @invariant()
    def only_an_approved_draft_has_an_approved_wording(self) -> None:
        assert (self.draft.approved_wording is not None) == self.was_approved

    @invariant()
    def only_a_scheduled_post_is_paused(self) -> None:
        if self.draft.paused_at is not None:
            assert self.draft.status is Status.SCHEDULED


DraftLifeCycle.TestCase.settings = settings(max_examples=400, stateful_step_count=40, deadline=None)
TestDraftLifeCycle = DraftLifeCycle.TestCase


# --- one owner -----------------------------------------------------------------------------


def _lifecycle_writes(path: Path, root: Path = SRC) -> list[str]:
    """``<something draft-ish>.<life-cycle column> =`` (or ``+=``) in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AugAssign | ast.AnnAssign)
            else []
        )
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and target.attr in lifecycle.LIFECYCLE_COLUMNS
                and "draft" in ast.unparse(target.value).lower()
            ):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(target)}")
    return found


def test_no_module_but_the_life_cycle_decides_a_drafts_status_version_or_clock() -> None:
    """The writers save a :class:`lifecycle.Change` by its column names; nobody assigns
    a draft's status, version, clock or pause by hand. (The guard knows the names the
    code uses for drafts; a renamed variable slips past it, a review does not.)"""
    writes = [hit for path in sorted(SRC.rglob("*.py")) for hit in _lifecycle_writes(path)]
    assert writes == []


def test_the_guard_finds_a_hand_written_status(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("draft.status = 'approved'\nrun.draft.version += 1\n", encoding="utf-8")
    assert len(_lifecycle_writes(sample, tmp_path)) == 2
