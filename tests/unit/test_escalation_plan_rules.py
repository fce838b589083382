"""Emergency plans as pure data: validation, the armed schedule, and whether a wake-up
call runs its step."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agencyhub.escalation import plan as rules
from agencyhub.escalation.plan import Fallback, FallbackAction, Plan, Skip, Step, Target

TEMPLATE = uuid.uuid4()
DUE = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


def step(minutes: int, *notify: Target, fallback: Fallback | None = None, **kw: object) -> Step:
    return Step(timedelta(minutes=minutes), tuple(notify), fallback=fallback, **kw)  # type: ignore[arg-type]


def fields(plan: Plan, approved: set[uuid.UUID] | None = None) -> list[str]:
    return [
        f for f, _ in rules.plan_problems(plan, approved if approved is not None else {TEMPLATE})
    ]


# --- validation ----------------------------------------------------------------------------


def test_the_default_plan_is_valid_and_pages_on_duty_deputies_then_executives():
    assert rules.plan_problems(rules.DEFAULT_PLAN, set()) == []
    assert [s.notify for s in rules.DEFAULT_PLAN.steps] == [
        (Target.ON_DUTY,),
        (Target.DEPUTIES,),
        (Target.EXECUTIVES,),
    ]
    assert [s.after for s in rules.DEFAULT_PLAN.steps] == [
        timedelta(0),
        timedelta(minutes=15),
        timedelta(minutes=30),
    ]
    assert all(s.fallback is None for s in rules.DEFAULT_PLAN.steps)


def test_a_plan_with_a_fallback_template_on_the_last_step_is_valid():
    plan = Plan(
        (
            step(0, Target.ON_DUTY),
            step(
                10, Target.EXECUTIVES, fallback=Fallback(FallbackAction.PUBLISH_TEMPLATE, TEMPLATE)
            ),
        )
    )
    assert fields(plan) == []


def test_the_first_step_must_notify_a_human():
    assert fields(Plan((step(0),))) == ["steps[0].notify"]


def test_no_fallback_before_a_human_was_notified():
    plan = Plan((step(0, Target.ON_DUTY, fallback=Fallback(FallbackAction.HIDE_ITEM)),))
    assert fields(plan) == ["steps[0].fallback"]


def test_a_fallback_ends_the_escalation_so_only_the_last_step_has_one():
    plan = Plan(
        (
            step(0, Target.ON_DUTY),
            step(5, Target.DEPUTIES, fallback=Fallback(FallbackAction.HIDE_ITEM)),
            step(10, Target.EXECUTIVES),
        )
    )
    assert fields(plan) == ["steps[1].fallback"]


def test_a_fallback_template_must_be_approved_by_the_client():
    plan = Plan(
        (
            step(0, Target.ON_DUTY),
            step(
                5, Target.EXECUTIVES, fallback=Fallback(FallbackAction.PUBLISH_TEMPLATE, TEMPLATE)
            ),
        )
    )
    assert fields(plan, approved=set()) == ["steps[1].fallback.templateId"]
    missing = replace(
        plan,
        steps=(
            plan.steps[0],
            replace(plan.steps[1], fallback=Fallback(FallbackAction.PUBLISH_TEMPLATE)),
        ),
    )
    assert fields(missing) == ["steps[1].fallback.templateId"]


def test_hiding_an_item_takes_no_template():
    plan = Plan(
        (
            step(0, Target.ON_DUTY),
            step(5, Target.EXECUTIVES, fallback=Fallback(FallbackAction.HIDE_ITEM, TEMPLATE)),
        )
    )
    assert fields(plan) == ["steps[1].fallback.templateId"]


def test_steps_are_ordered_by_delay():
    plan = Plan((step(0, Target.ON_DUTY), step(30, Target.DEPUTIES), step(15, Target.EXECUTIVES)))
    assert fields(plan) == ["steps[2].afterMinutes"]


def test_named_users_exactly_when_notifying_users():
    assert fields(Plan((step(0, Target.USERS),))) == ["steps[0].notify"]
    assert fields(Plan((step(0, Target.ON_DUTY, users=(uuid.uuid4(),)),))) == ["steps[0].notify"]
    assert fields(Plan((step(0, Target.USERS, users=(uuid.uuid4(),)),))) == []


def test_only_known_channels_and_a_bounded_number_of_steps():
    assert fields(Plan((step(0, Target.ON_DUTY, channels=("sms",)),))) == ["steps[0].channels"]
    assert fields(Plan(())) == ["steps"]
    assert fields(Plan(tuple(step(n, Target.ON_DUTY) for n in range(11)))) == ["steps"]


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=600),
            st.sets(
                st.sampled_from([Target.ON_DUTY, Target.DEPUTIES, Target.EXECUTIVES]), min_size=1
            ),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_the_snapshot_round_trips_through_json(raw):
    plan = Plan(tuple(step(m, *sorted(t)) for m, t in sorted(raw, key=lambda r: r[0])))
    assert rules.plan_from_json(rules.plan_to_json(plan)) == plan


# --- the armed schedule --------------------------------------------------------------------


def test_the_schedule_starts_with_the_reminder_and_counts_steps_from_the_due_time():
    schedule = rules.Schedule(DUE, DUE - timedelta(minutes=5), rules.DEFAULT_PLAN)
    assert schedule.first_step() == rules.REMINDER_STEP
    assert schedule.due_at(0) == DUE - timedelta(minutes=5)
    assert [schedule.due_at(n) for n in (1, 2, 3)] == [
        DUE,
        DUE + timedelta(minutes=15),
        DUE + timedelta(minutes=30),
    ]
    assert [schedule.step_after(n) for n in (0, 1, 2, 3)] == [1, 2, 3, None]


def test_a_fallback_with_a_wait_is_a_wake_up_of_its_own_after_the_last_step():
    """Issue #14, item 3: the last human step pages, then has ``wait`` before the
    fallback; a wait of 0 keeps the fallback in the step itself."""
    holding = Fallback(FallbackAction.HIDE_ITEM, wait=timedelta(minutes=3))
    plan = Plan((step(0, Target.ON_DUTY), replace(step(20, Target.EXECUTIVES), fallback=holding)))
    schedule = rules.Schedule(DUE, None, plan)

    assert schedule.last_step == 3
    assert schedule.due_at(2) == DUE + timedelta(minutes=20)
    assert schedule.due_at(3) == DUE + timedelta(minutes=23)
    assert rules.step_of(plan, 2).fallback is None
    assert rules.step_of(plan, 2).notify == (Target.EXECUTIVES,)
    alone = rules.step_of(plan, 3)
    assert (alone.notify, alone.fallback, alone.fallback_of) == ((), holding, 2)
    assert [schedule.step_after(n) for n in (1, 2, 3)] == [2, 3, None]

    at_once = Plan(
        (plan.steps[0], replace(plan.steps[1], fallback=replace(holding, wait=timedelta(0))))
    )
    assert rules.Schedule(DUE, None, at_once).last_step == 2
    assert rules.step_of(at_once, 2).fallback is not None


def test_a_fallback_wait_is_at_most_a_day():
    late = Fallback(FallbackAction.HIDE_ITEM, wait=timedelta(days=2))
    plan = Plan((step(0, Target.ON_DUTY), replace(step(5, Target.EXECUTIVES), fallback=late)))
    assert rules.plan_problems(plan, []) == [
        ("steps[1].fallback.waitMinutes", "must be between 0 and 1440 (one day)")
    ]


def test_plans_frozen_before_the_wait_existed_keep_the_fallback_in_their_step():
    stored = rules.plan_to_json(
        Plan(
            (
                step(0, Target.ON_DUTY),
                replace(step(5, Target.EXECUTIVES), fallback=Fallback(FallbackAction.HIDE_ITEM)),
            )
        )
    )
    del stored[-1]["fallback"]["waitMinutes"]
    assert rules.plan_from_json(stored).steps[-1].fallback == Fallback(
        FallbackAction.HIDE_ITEM, wait=timedelta(0)
    )


def test_without_a_reminder_the_schedule_starts_at_step_one():
    assert rules.Schedule(DUE, None, rules.DEFAULT_PLAN).first_step() == 1


# --- deciding whether a wake-up runs -------------------------------------------------------

DUE_FACTS = rules.StepFacts(
    armed=True,
    token_matches=True,
    next_step=2,
    step=2,
    draft_pending=True,
    same_revision=True,
    already_ran=False,
    due_at=DUE,
    now=DUE + timedelta(milliseconds=80),
)


def test_a_due_step_of_a_pending_draft_runs():
    assert rules.skip_reason(DUE_FACTS) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"armed": False}, Skip.NOT_ARMED),
        ({"token_matches": False}, Skip.STALE_TOKEN),
        ({"next_step": 3}, Skip.WRONG_STEP),
        ({"next_step": None}, Skip.WRONG_STEP),
        ({"draft_pending": False}, Skip.NOT_PENDING),
        ({"same_revision": False}, Skip.OTHER_REVISION),
        ({"already_ran": True}, Skip.ALREADY_RAN),
        ({"now": DUE - timedelta(milliseconds=1)}, Skip.NOT_DUE),
    ],
)
def test_a_stale_duplicate_early_or_decided_wakeup_is_a_no_op(change, reason):
    assert rules.skip_reason(replace(DUE_FACTS, **change)) is reason


def test_a_decided_draft_never_runs_a_step_even_with_a_valid_token():
    decided = replace(DUE_FACTS, draft_pending=False, now=DUE + timedelta(hours=1))
    assert rules.skip_reason(decided) is Skip.NOT_PENDING


def test_reply_fallbacks_need_the_inbound_item_but_crisis_mode_does_not():
    publish = Fallback(FallbackAction.PUBLISH_TEMPLATE, TEMPLATE)
    assert rules.fallback_outcome(publish, has_inbound_item=True).applicable
    assert not rules.fallback_outcome(publish, has_inbound_item=False).applicable
    hide = Fallback(FallbackAction.HIDE_ITEM)
    assert not rules.fallback_outcome(hide, has_inbound_item=False).applicable
    crisis = Fallback(FallbackAction.CRISIS_MODE)
    assert rules.fallback_outcome(crisis, has_inbound_item=False).applicable
