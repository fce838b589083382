"""Validation of SLA policies, rota layers, override periods and statement templates."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from agencyhub.escalation.rules import (
    DEFAULT_SLA_POLICY,
    BusinessCalendar,
    Layer,
    OpeningHours,
    Rotation,
    Target,
    TemplateStatus,
    format_clock,
    layer_problems,
    may_retire_template,
    open_intervals,
    parse_clock,
    period_problems,
    sla_due_at,
    sla_policy_problems,
    template_problems,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
SABINE, TOBIAS = uuid.UUID(int=1), uuid.UUID(int=2)


def with_hours(*hours: OpeningHours, holidays: frozenset[date] = frozenset()):
    calendar = BusinessCalendar("Europe/Berlin", tuple(hours), holidays)
    return replace(DEFAULT_SLA_POLICY, calendar=calendar)


@pytest.mark.parametrize(
    ("text", "end_of_day", "expected"),
    [
        ("08:00", False, time(8)),
        ("23:59", False, time(23, 59)),
        ("24:00", True, time.max),
        ("24:00", False, None),
        ("8:00", False, None),
        ("25:00", False, None),
        ("12:60", False, None),
        ("ab:cd", False, None),
    ],
)
def test_clock_strings(text, end_of_day, expected):
    assert parse_clock(text, end_of_day=end_of_day) == expected


def test_clock_round_trip_including_midnight_close():
    assert format_clock(time(8, 5)) == "08:05"
    assert format_clock(time.max) == "24:00"


def test_the_default_policy_is_valid():
    assert sla_policy_problems(DEFAULT_SLA_POLICY, NOW) == []


def test_overlapping_hours_on_one_day_are_refused():
    policy = with_hours(
        OpeningHours(0, time(8), time(12)),
        OpeningHours(0, time(11), time(15)),
        OpeningHours(1, time(11), time(15)),
    )
    assert sla_policy_problems(policy, NOW) == [("hours[1]", "overlaps hours[0]")]


def test_targets_and_reminder_share_are_checked():
    policy = replace(
        DEFAULT_SLA_POLICY,
        targets={**DEFAULT_SLA_POLICY.targets, "high": Target(timedelta(days=8), False)},
        reminder_at=0.99,
    )
    fields = [f for f, _ in sla_policy_problems(policy, NOW)]
    assert fields == ["targets.high.minutes", "reminderAt"]
    missing = replace(DEFAULT_SLA_POLICY, targets={"normal": DEFAULT_SLA_POLICY.targets["normal"]})
    assert [f for f, _ in sla_policy_problems(missing, NOW)] == ["targets.high", "targets.crisis"]


def test_a_calendar_closed_by_holidays_for_good_is_refused():
    mondays = {date(2026, 11, 23) + timedelta(weeks=w) for w in range(60)}
    policy = with_hours(OpeningHours(0, time(8), time(18)), holidays=frozenset(mondays))
    assert sla_policy_problems(policy, NOW) == [
        ("hours", "the business calendar never opens within 400 days")
    ]


def test_a_closed_calendar_is_fine_when_no_clock_needs_it():
    always = {s: Target(t.response, False) for s, t in DEFAULT_SLA_POLICY.targets.items()}
    mondays = {date(2026, 11, 23) + timedelta(weeks=w) for w in range(60)}
    policy = replace(
        with_hours(OpeningHours(0, time(8), time(18)), holidays=frozenset(mondays)),
        targets=always,
    )
    assert sla_policy_problems(policy, NOW) == []


def test_open_until_midnight_counts_the_whole_evening():
    late = BusinessCalendar("Europe/Berlin", (OpeningHours(4, time(18), time.max),))
    friday = datetime(2026, 11, 20, 22, tzinfo=BERLIN)
    due = sla_due_at(friday, Target(timedelta(hours=3), True), late)
    assert due.astimezone(BERLIN) == datetime(2026, 11, 27, 19, 0, tzinfo=BERLIN)


def test_opening_in_the_spring_gap_opens_when_the_clock_jumps():
    # 29 March 2026 has no 02:30; a shop "opening at 02:30" opens at 03:00 CEST.
    night = BusinessCalendar("Europe/Berlin", (OpeningHours(6, time(2, 30), time(4)),))
    opens, closes = next(open_intervals(night, datetime(2026, 3, 29, tzinfo=BERLIN)))
    assert opens == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert closes - opens == timedelta(hours=1)


def test_layers_name_the_person_who_may_not_be_on_duty():
    layer = Layer((SABINE, TOBIAS), NOW, Rotation.WEEKLY, time(9), "Europe/Berlin")
    assert layer_problems((layer,), frozenset({SABINE})) == [
        ("layers[0].participants[1]", "is not an approver or executive of this client")
    ]
    backwards = replace(layer, ends_at=NOW - timedelta(days=1))
    assert [f for f, _ in layer_problems((backwards,), frozenset({SABINE, TOBIAS}))] == [
        "layers[0].endsAt"
    ]


def test_periods_must_be_ordered_current_and_bounded():
    hour = timedelta(hours=1)
    assert period_problems(NOW, NOW + hour, NOW) == []
    assert period_problems(NOW, NOW, NOW) == [("endsAt", "must be after startsAt")]
    assert period_problems(NOW - 3 * hour, NOW - hour, NOW) == [("endsAt", "is in the past")]
    assert period_problems(NOW, NOW + timedelta(days=400), NOW)[0][0] == "endsAt"
    naive = datetime(2026, 11, 21, 9)
    assert period_problems(naive, NOW + hour, NOW) == [("startsAt", "needs a UTC offset")]


def test_template_text_rules():
    assert template_problems("Holding statement", "Wir melden uns.") == []
    assert template_problems("  ", "x") == [("name", "must not be blank")]
    assert template_problems(None, " \n ") == [("body", "must not be blank")]
    assert template_problems(None, "x" * 5001) == [("body", "at most 5000 characters")]
    assert template_problems(None, None) == []


@pytest.mark.parametrize(
    ("role", "status", "allowed"),
    [
        ("client_admin", TemplateStatus.APPROVED, True),
        ("executive", TemplateStatus.PROPOSED, True),
        ("editor", TemplateStatus.PROPOSED, True),
        ("owner", TemplateStatus.APPROVED, False),
        ("approver", TemplateStatus.PROPOSED, False),
        ("viewer", TemplateStatus.PROPOSED, False),
        (None, TemplateStatus.PROPOSED, False),
    ],
)
def test_who_may_retire_a_template(role, status, allowed):
    assert may_retire_template(role, status) is allowed
