"""Whom a step may page: only people whose decision can still change the outcome
(issue #14, item 2)."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from agencyhub.escalation.rules import Standing, cannot_change_outcome

ANNA, BEN, CHEFIN = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def standing(**changes) -> Standing:
    values = {
        "approved": frozenset(),
        "author": None,
        "four_eyes": True,
        "counting_roles": frozenset({"approver", "executive"}),
        **changes,
    }
    return Standing(**values)


def test_whoever_already_approved_cannot_change_it() -> None:
    after_anna = standing(approved=frozenset({ANNA}))
    assert cannot_change_outcome(ANNA, "approver", after_anna) == (
        "has already approved this revision"
    )
    assert cannot_change_outcome(BEN, "approver", after_anna) is None


def test_the_author_is_passed_over_only_under_four_eyes() -> None:
    assert cannot_change_outcome(ANNA, "approver", standing(author=ANNA)) == (
        "wrote this revision and may not approve it (four-eyes)"
    )
    assert cannot_change_outcome(ANNA, "approver", standing(author=ANNA, four_eyes=False)) is None


def test_a_role_the_severity_does_not_count_is_passed_over() -> None:
    executives_only = standing(counting_roles=frozenset({"executive"}))
    assert cannot_change_outcome(ANNA, "approver", executives_only) == (
        "an approver's approval does not count for this severity"
    )
    assert cannot_change_outcome(CHEFIN, "executive", executives_only) is None


@given(
    st.sampled_from(["client_admin", "viewer"]),
    st.frozensets(st.sampled_from([ANNA, BEN, CHEFIN])),
)
def test_people_paged_to_arrange_not_to_decide_are_never_passed_over(role, approved) -> None:
    # A gap contact who is the client's admin cannot approve, but can arrange cover.
    assert cannot_change_outcome(ANNA, role, standing(approved=approved, author=ANNA)) is None
