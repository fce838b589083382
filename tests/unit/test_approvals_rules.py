"""The draft state machine and approval policy: examples, and a stateful property test."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from agencyhub.approvals import rules
from agencyhub.approvals.rules import (
    Action,
    Approval,
    DraftFacts,
    Kind,
    Refused,
    Request,
    Severity,
    Status,
    Who,
)
from agencyhub.tenancy.rules import AGENCY_ROLES, CLIENT_ROLES

AUTHOR = uuid.UUID(int=1)
APPROVER = uuid.UUID(int=2)
DEPUTY = uuid.UUID(int=3)
CHEFIN = uuid.UUID(int=4)
REV1 = uuid.UUID(int=101)
REV2 = uuid.UUID(int=102)


def facts(
    status: Status = Status.PENDING, severity: Severity = Severity.NORMAL, **kw
) -> DraftFacts:
    values = {
        "status": status,
        "severity": severity,
        "current_revision_id": REV1,
        "current_revision_author_id": AUTHOR,
    }
    values.update(kw)
    return DraftFacts(**values)


def by(user: uuid.UUID, role: str, action: Action, **kw) -> Request:
    return Request(action=action, who=Who(user_id=user, role=role), revision_id=REV1, **kw)


def test_one_approver_approves_a_normal_item() -> None:
    outcome = rules.apply_action(
        facts(), by(APPROVER, "approver", Action.APPROVE), rules.DEFAULT_POLICY
    )
    assert outcome.status is Status.APPROVED
    assert outcome.records_decision


def test_crisis_needs_an_executive_or_two_approvers() -> None:
    crisis = facts(severity=Severity.CRISIS)
    first = rules.apply_action(
        crisis, by(APPROVER, "approver", Action.APPROVE), rules.DEFAULT_POLICY
    )
    assert first.status is Status.PENDING
    second_facts = facts(
        severity=Severity.CRISIS, approvals_on_current=(Approval(APPROVER, "approver"),)
    )
    second = rules.apply_action(
        second_facts, by(DEPUTY, "approver", Action.APPROVE), rules.DEFAULT_POLICY
    )
    assert second.status is Status.APPROVED
    chefin = rules.apply_action(
        crisis, by(CHEFIN, "executive", Action.APPROVE), rules.DEFAULT_POLICY
    )
    assert chefin.status is Status.APPROVED


def test_the_same_approver_twice_does_not_count_twice() -> None:
    crisis = facts(severity=Severity.CRISIS, approvals_on_current=(Approval(APPROVER, "approver"),))
    with pytest.raises(Refused, match="already approved"):
        rules.apply_action(crisis, by(APPROVER, "approver", Action.APPROVE), rules.DEFAULT_POLICY)


def test_four_eyes_refuses_the_author() -> None:
    own = facts(current_revision_author_id=APPROVER)
    with pytest.raises(Refused, match="four-eyes"):
        rules.apply_action(own, by(APPROVER, "approver", Action.APPROVE), rules.DEFAULT_POLICY)
    relaxed = rules.Policy(rules.DEFAULT_POLICY.requirements, four_eyes=False)
    assert rules.apply_action(own, by(APPROVER, "approver", Action.APPROVE), relaxed).policy_met


@pytest.mark.parametrize("action", [Action.REJECT, Action.REQUEST_CHANGES])
def test_reject_and_request_changes_need_a_comment(action: Action) -> None:
    with pytest.raises(Refused) as refused:
        rules.apply_action(
            facts(), by(APPROVER, "approver", action, comment="  "), rules.DEFAULT_POLICY
        )
    assert refused.value.kind == "invalid"
    ok = rules.apply_action(
        facts(), by(APPROVER, "approver", action, comment="Bitte ändern"), rules.DEFAULT_POLICY
    )
    assert ok.status in (Status.REJECTED, Status.CHANGES_REQUESTED)


def test_a_decision_on_an_older_revision_is_refused() -> None:
    current = facts(current_revision_id=REV2)
    with pytest.raises(Refused, match="older revision"):
        rules.apply_action(current, by(APPROVER, "approver", Action.APPROVE), rules.DEFAULT_POLICY)


@pytest.mark.parametrize("status", sorted(rules.FINAL_STATES))
def test_final_states_accept_nothing(status: Status) -> None:
    for action in Action:
        who = (
            Who.system()
            if action in rules.SYSTEM_ACTIONS
            else Who(user_id=APPROVER, role="approver")
        )
        if action not in rules.DECISIONS and not who.is_system:
            who = Who(user_id=AUTHOR, role="editor")
        with pytest.raises(Refused):
            rules.apply_action(
                facts(status=status), Request(action, who, REV1, "x"), rules.DEFAULT_POLICY
            )


def test_client_people_only_rework_drafts_they_wrote() -> None:
    agency_draft = facts(status=Status.DRAFT, created_by_id=AUTHOR)
    for action in (Action.REVISE, Action.SUBMIT, Action.WITHDRAW):
        with pytest.raises(Refused) as refused:
            rules.apply_action(agency_draft, by(APPROVER, "approver", action), rules.DEFAULT_POLICY)
        assert refused.value.kind == "forbidden"
        assert rules.apply_action(agency_draft, by(AUTHOR, "editor", action), rules.DEFAULT_POLICY)
    own = facts(status=Status.DRAFT, created_by_id=CHEFIN)
    assert rules.apply_action(own, by(CHEFIN, "executive", Action.SUBMIT), rules.DEFAULT_POLICY)


def test_viewers_and_client_admins_do_not_decide() -> None:
    for role in ("viewer", "client_admin"):
        with pytest.raises(Refused) as refused:
            rules.apply_action(facts(), by(APPROVER, role, Action.APPROVE), rules.DEFAULT_POLICY)
        assert refused.value.kind == "forbidden"


def test_policy_validation() -> None:
    assert rules.policy_problems(rules.DEFAULT_POLICY) == []
    bad = rules.Policy(
        {
            Severity.NORMAL: rules.Requirement(({"editor": 1},)),
            Severity.HIGH: rules.Requirement(()),
            Severity.CRISIS: rules.Requirement(({"executive": 0},)),
        }
    )
    fields = [field for field, _ in rules.policy_problems(bad)]
    assert fields == ["normal[0]", "high", "crisis[0]"]


def test_content_checks_name_the_field() -> None:
    assert rules.content_problems(kind=Kind.POST, wordings=["ok"], text_limit=280) == []
    assert rules.content_problems(kind=Kind.POST, wordings=["x" * 281], text_limit=280) == [
        ("body", "is 281 characters; the channel allows at most 280")
    ]
    assert rules.content_problems(kind=Kind.POST, wordings=["a", "b"], text_limit=None)[0][0] == (
        "alternatives"
    )
    assert rules.content_problems(kind=Kind.REPLY, wordings=["a", "b", "c"], text_limit=10) == []
    assert rules.content_problems(kind=Kind.REPLY, wordings=["a", "b", "c", "d"], text_limit=10)
    assert rules.content_problems(kind=Kind.REPLY, wordings=["a", " "], text_limit=10) == [
        ("alternatives[0]", "must not be blank")
    ]


@given(st.text(max_size=60), st.text(max_size=60))
def test_word_diff_rebuilds_both_sides(old: str, new: str) -> None:
    parts = rules.word_diff(old, new)
    assert "".join(t for op, t in parts if op != "insert") == old
    assert "".join(t for op, t in parts if op != "delete") == new


# --- the stateful property test ------------------------------------------------------------

PEOPLE = [uuid.UUID(int=n) for n in range(10, 16)]
ROLES = sorted(AGENCY_ROLES | CLIENT_ROLES)


class DraftLifeCycle(RuleBasedStateMachine):
    """Any sequence of actions by any role: the invariants of DESIGN §4 always hold."""

    def __init__(self) -> None:
        super().__init__()
        self.status = Status.DRAFT
        self.severity = Severity.NORMAL
        self.revisions: list[tuple[uuid.UUID, uuid.UUID]] = [(uuid.uuid4(), PEOPLE[0])]
        self.approvals: dict[uuid.UUID, list[Approval]] = {}
        self.policy = rules.DEFAULT_POLICY

    def current_facts(self) -> DraftFacts:
        revision_id, author = self.revisions[-1]
        return DraftFacts(
            status=self.status,
            severity=self.severity,
            current_revision_id=revision_id,
            current_revision_author_id=author,
            approvals_on_current=tuple(self.approvals.get(revision_id, [])),
            created_by_id=PEOPLE[0],
        )

    @rule(
        action=st.sampled_from(list(Action)),
        person=st.sampled_from(PEOPLE),
        # The system (None) and deciders are over-weighted so every state is reached.
        role=st.sampled_from([*ROLES, "approver", "executive", None, None, None]),
        on_old_revision=st.booleans(),
        comment=st.sampled_from(["", "Bitte anders formulieren", "Passt so"]),
    )
    def act(
        self,
        action: Action,
        person: uuid.UUID,
        role: str | None,
        on_old_revision: bool,
        comment: str,
    ) -> None:
        who = Who.system() if role is None else Who(user_id=person, role=role)
        revision_id = self.revisions[0][0] if on_old_revision else self.revisions[-1][0]
        before = self.current_facts()
        try:
            outcome = rules.apply_action(
                before, Request(action, who, revision_id, comment), self.policy
            )
        except Refused:
            return
        self.check_authority(action, who, outcome.status)
        if action in rules.DECISIONS:
            # A decision always binds to the current revision, never another one.
            assert revision_id == before.current_revision_id
        if action is Action.REVISE:
            self.revisions.append((uuid.uuid4(), person))
        if action is Action.APPROVE:
            self.approvals.setdefault(revision_id, []).append(Approval(person, who.role or ""))
        self.status = outcome.status

    @rule(severity=st.sampled_from(list(Severity)))
    def change_severity(self, severity: Severity) -> None:
        if self.status in rules.OPEN_STATES:
            self.severity = severity

    def check_authority(self, action: Action, who: Who, target: Status) -> None:
        if target in (Status.APPROVED,) and self.status is not Status.APPROVED:
            assert who.role in CLIENT_ROLES, f"{who.role} approved"
        if target in (Status.SCHEDULED, Status.PUBLISHED, Status.FALLBACK_TAKEN):
            assert who.is_system, f"{who.role} moved a draft to {target}"
        moved_to_authority = target in (Status.APPROVED, Status.SCHEDULED, Status.PUBLISHED)
        assert not (who.role in AGENCY_ROLES and moved_to_authority and self.status != target)

    @invariant()
    def status_is_documented(self) -> None:
        assert self.status in rules.ALL_STATES

    @invariant()
    def approved_means_the_policy_was_met_on_the_current_revision(self) -> None:
        if self.status in (Status.APPROVED,):
            revision_id = self.revisions[-1][0]
            approvals = self.approvals.get(revision_id, [])
            assert self.policy.requirement(self.severity).is_met(approvals)


DraftLifeCycle.TestCase.settings = settings(max_examples=400, stateful_step_count=40, deadline=None)
TestDraftLifeCycle = DraftLifeCycle.TestCase
