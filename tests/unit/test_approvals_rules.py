"""The draft state machine and approval policy: examples, and a stateful property test."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def test_a_policy_is_reachable_when_one_way_fits_the_headcount() -> None:
    policy = rules.Policy(
        {
            Severity.NORMAL: rules.Requirement(({"approver": 2},)),
            Severity.HIGH: rules.Requirement(({"approver": 3}, {"executive": 1})),
            Severity.CRISIS: rules.Requirement(({"approver": 1, "executive": 1},)),
        }
    )
    assert rules.unreachable_problems(policy, {"approver": 2, "executive": 1}) == []
    assert rules.unreachable_problems(policy, {"approver": 1}) == [
        ("normal", "needs 2 approvers, but the client has 1 approver who can decide"),
        (
            "high",
            "none of its ways to approve can be met: the client has 1 approver and 0 executives"
            " who can decide",
        ),
        (
            "crisis",
            "needs 1 approver and 1 executive, but the client has 1 approver and 0 executives"
            " who can decide",
        ),
    ]


@given(
    st.dictionaries(st.sampled_from(["approver", "executive"]), st.integers(1, 10), min_size=1),
    st.dictionaries(st.sampled_from(["approver", "executive"]), st.integers(0, 10)),
)
def test_reachable_exactly_when_the_people_suffice(
    needed: dict[str, int], have: dict[str, int]
) -> None:
    policy = rules.Policy({severity: rules.Requirement((needed,)) for severity in Severity})
    reachable = all(have.get(role, 0) >= n for role, n in needed.items())
    assert (rules.unreachable_problems(policy, have) == []) is reachable


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
