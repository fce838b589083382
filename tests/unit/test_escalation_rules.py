"""SLA due times across DST, holidays, weekends and midnight; the coverage rota."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agencyhub.escalation.rules import (
    DEFAULT_CALENDAR,
    BusinessCalendar,
    Layer,
    NoBusinessHours,
    OpeningHours,
    Override,
    Rota,
    Rotation,
    Target,
    calendar_problems,
    gap_contact_ids,
    on_duty,
    open_intervals,
    reminder_due_at,
    rota_problems,
    shifts_of,
    sla_due_at,
    uncovered,
)

BERLIN = ZoneInfo("Europe/Berlin")
FOUR_BUSINESS_HOURS = Target(timedelta(hours=4), business_hours_only=True)
ONE_HOUR = Target(timedelta(hours=1), business_hours_only=False)
# Mon–Fri 08:00–18:00 in Berlin; 2026 holidays: Easter Monday (6 Apr), German Unity (3 Oct).
CALENDAR = BusinessCalendar(
    timezone="Europe/Berlin",
    hours=DEFAULT_CALENDAR.hours,
    holidays=frozenset({date(2026, 4, 6), date(2026, 10, 3), date(2026, 12, 25)}),
)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def test_calendar_hours_run_through_the_night_and_weekend():
    friday_evening = berlin(2026, 11, 20, 17, 30)
    assert sla_due_at(friday_evening, ONE_HOUR, CALENDAR) == berlin(2026, 11, 20, 18, 30)


def test_business_hours_clock_pauses_overnight():
    tuesday = berlin(2026, 11, 17, 16, 0)
    assert sla_due_at(tuesday, FOUR_BUSINESS_HOURS, CALENDAR) == berlin(2026, 11, 18, 10, 0)


def test_business_hours_clock_skips_the_weekend():
    friday = berlin(2026, 11, 20, 17, 0)
    assert sla_due_at(friday, FOUR_BUSINESS_HOURS, CALENDAR) == berlin(2026, 11, 23, 11, 0)


def test_submitted_on_a_sunday_starts_on_monday_morning():
    sunday = berlin(2026, 11, 22, 12, 0)
    assert sla_due_at(sunday, FOUR_BUSINESS_HOURS, CALENDAR) == berlin(2026, 11, 23, 12, 0)


def test_holidays_are_closed():
    # Thursday 24 Dec 17:00 → 25 Dec holiday → Saturday, Sunday → Monday 28 Dec 11:00.
    christmas_eve = berlin(2026, 12, 24, 17, 0)
    assert sla_due_at(christmas_eve, FOUR_BUSINESS_HOURS, CALENDAR) == berlin(2026, 12, 28, 11, 0)


def test_spring_forward_calendar_time_is_real_elapsed_time():
    # 29 March 2026: 02:00 CET jumps to 03:00 CEST. One hour after 01:30 is 03:30 local.
    before = berlin(2026, 3, 29, 1, 30)
    due = sla_due_at(before, ONE_HOUR, CALENDAR)
    assert due - before.astimezone(UTC) == timedelta(hours=1)
    assert due.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 30)


def test_fall_back_calendar_time_is_real_elapsed_time():
    # 25 October 2026: 03:00 CEST falls back to 02:00 CET.
    before = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN, fold=0)
    due = sla_due_at(before, ONE_HOUR, CALENDAR)
    assert due - before == timedelta(hours=1)
    assert due.astimezone(BERLIN).hour == 2  # the second 02:30, now in CET


def test_business_hours_across_dst_weekend_open_at_local_eight():
    # Friday before spring forward, 17:00 → Monday 30 March opens 08:00 CEST (06:00 UTC).
    friday = berlin(2026, 3, 27, 17, 0)
    due = sla_due_at(friday, FOUR_BUSINESS_HOURS, CALENDAR)
    assert due.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 30, 11, 0)
    assert due.astimezone(UTC).hour == 9


def test_a_shop_open_across_the_dst_switch_counts_the_shorter_night():
    # Open 00:00–06:00 every day: on 29 March 2026 that is only 5 real hours.
    night = BusinessCalendar(
        "Europe/Berlin", tuple(OpeningHours(d, time(0), time(6)) for d in range(7))
    )
    start = berlin(2026, 3, 29, 0, 0)
    intervals = list(open_intervals(night, start, days=1))
    assert intervals[0][1] - intervals[0][0] == timedelta(hours=5)
    assert sla_due_at(start, Target(timedelta(hours=6), True), night) == berlin(2026, 3, 30, 1, 0)


def test_a_calendar_that_never_opens_is_an_error():
    closed = BusinessCalendar("Europe/Berlin", ())
    with pytest.raises(NoBusinessHours):
        sla_due_at(berlin(2026, 1, 1, 9), FOUR_BUSINESS_HOURS, closed)
    assert calendar_problems(closed) == [("hours", "needs at least one opening interval")]
    bad = BusinessCalendar("Mars/Olympus", (OpeningHours(7, time(9), time(8)),))
    assert [f for f, _ in calendar_problems(bad)] == ["timezone", "hours[0].weekday", "hours[0]"]


def test_reminder_at_three_quarters():
    tuesday = berlin(2026, 11, 17, 9, 0)
    assert reminder_due_at(tuesday, FOUR_BUSINESS_HOURS, CALENDAR, 0.75) == berlin(2026, 11, 17, 12)


instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
targets = st.builds(
    Target,
    response=st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(hours=30)),
    business_hours_only=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(instants, instants, targets)
def test_due_time_is_monotonic_in_submit_time(a: datetime, b: datetime, target: Target):
    early, late = min(a, b), max(a, b)
    assert sla_due_at(early, target, CALENDAR) <= sla_due_at(late, target, CALENDAR)


@settings(max_examples=300, deadline=None)
@given(instants, targets)
def test_due_time_is_never_earlier_than_calendar_time(submitted: datetime, target: Target):
    assert sla_due_at(submitted, target, CALENDAR) >= submitted + target.response


@settings(max_examples=300, deadline=None)
@given(instants, st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(hours=30)))
def test_business_clock_runs_only_while_open(submitted: datetime, response: timedelta):
    due = sla_due_at(submitted, Target(response, True), CALENDAR)
    local = due.astimezone(BERLIN)
    assert local.date() not in CALENDAR.holidays
    assert local.weekday() < 5
    assert time(8) < local.time() <= time(18) or local.time() == time(18)
    assert open_time_between(submitted, due, CALENDAR) == response


def open_time_between(start: datetime, end: datetime, calendar: BusinessCalendar) -> timedelta:
    """The oracle: open time elapsed between two instants, summed over open intervals."""
    total = timedelta()
    for opens, closes in open_intervals(calendar, start):
        if opens >= end:
            break
        total += max(timedelta(), min(closes, end) - max(opens, start))
    return total


# --- rota -----------------------------------------------------------------------------------

SABINE, TOBIAS, MONIKA, FELIX = (uuid.UUID(int=n) for n in (1, 2, 3, 4))


def weekly(*people: uuid.UUID, start: datetime | None = None) -> Layer:
    return Layer(
        participants=people,
        starts_at=start or berlin(2026, 11, 2, 9),  # a Monday
        rotation=Rotation.WEEKLY,
        handoff=time(9),
        timezone="Europe/Berlin",
    )


def test_weekly_rotation_hands_over_on_monday_at_nine():
    rota = Rota(layers=(weekly(SABINE, TOBIAS),))
    assert on_duty(rota, berlin(2026, 11, 2, 9)) == SABINE
    assert on_duty(rota, berlin(2026, 11, 9, 8, 59)) == SABINE
    assert on_duty(rota, berlin(2026, 11, 9, 9)) == TOBIAS
    assert on_duty(rota, berlin(2026, 11, 16, 9)) == SABINE
    assert on_duty(rota, berlin(2026, 11, 1, 12)) is None  # before the rota starts


def test_daily_rotation_survives_the_dst_change():
    layer = Layer(
        (SABINE, TOBIAS), berlin(2026, 3, 27, 9), Rotation.DAILY, time(9), "Europe/Berlin"
    )
    rota = Rota(layers=(layer,))
    assert [on_duty(rota, berlin(2026, 3, d, 10)) for d in (27, 28, 29, 30)] == [
        SABINE,
        TOBIAS,
        SABINE,
        TOBIAS,
    ]
    assert on_duty(rota, berlin(2026, 3, 30, 8, 59)) == SABINE


def test_overrides_replace_the_person_they_name():
    rota = Rota(
        layers=(weekly(SABINE, TOBIAS),),
        overrides=(Override(FELIX, berlin(2026, 11, 3), berlin(2026, 11, 5), replaces=SABINE),),
    )
    assert on_duty(rota, berlin(2026, 11, 4, 12)) == FELIX
    assert on_duty(rota, berlin(2026, 11, 5, 12)) == SABINE
    # An override for Tobias does nothing while Sabine is on duty.
    other = Rota(rota.layers, (Override(FELIX, berlin(2026, 11, 3), berlin(2026, 11, 5), TOBIAS),))
    assert on_duty(other, berlin(2026, 11, 4, 12)) == SABINE


def test_overlapping_overrides_newest_wins():
    ill = Override(FELIX, berlin(2026, 11, 3), berlin(2026, 11, 10), SABINE, berlin(2026, 11, 1))
    holiday = Override(MONIKA, berlin(2026, 11, 4), berlin(2026, 11, 6), None, berlin(2026, 11, 2))
    rota = Rota(layers=(weekly(SABINE, TOBIAS),), overrides=(holiday, ill))
    assert on_duty(rota, berlin(2026, 11, 3, 12)) == FELIX
    assert on_duty(rota, berlin(2026, 11, 5, 12)) == MONIKA
    assert on_duty(rota, berlin(2026, 11, 7, 12)) == FELIX


def test_first_layer_that_covers_decides_and_gaps_are_found():
    weekdays = Layer(
        (SABINE,),
        berlin(2026, 11, 2, 9),
        Rotation.WEEKLY,
        time(9),
        "Europe/Berlin",
        ends_at=berlin(2026, 11, 4, 9),
    )
    later = Layer((TOBIAS,), berlin(2026, 11, 5, 9), Rotation.WEEKLY, time(9), "Europe/Berlin")
    rota = Rota(layers=(weekdays, later))
    assert on_duty(rota, berlin(2026, 11, 3, 12)) == SABINE
    gaps = uncovered(rota, berlin(2026, 11, 2, 9), berlin(2026, 11, 6, 9))
    assert gaps == [(berlin(2026, 11, 4, 9), berlin(2026, 11, 5, 9))]
    shifts = shifts_of(rota, TOBIAS, berlin(2026, 11, 2, 9), berlin(2026, 11, 6, 9))
    assert [(s.starts_at, s.ends_at) for s in shifts][:1] == [
        (berlin(2026, 11, 5, 9), berlin(2026, 11, 12, 9))
    ]


def test_rota_validation():
    empty = Layer((), berlin(2026, 11, 2), Rotation.DAILY, time(9), "Europe/Berlin")
    backwards = Override(FELIX, berlin(2026, 11, 5), berlin(2026, 11, 4))
    assert [f for f, _ in rota_problems(Rota((empty,), (backwards,)))] == [
        "layers[0].participants",
        "overrides[0].endsAt",
    ]


def test_a_gap_pages_the_named_contact_while_they_hold_the_role_else_all_executives():
    contacts = {SABINE: "client_admin", MONIKA: "executive", FELIX: "executive"}
    assert gap_contact_ids(contacts, SABINE) == [SABINE]
    assert gap_contact_ids(contacts, TOBIAS) == [MONIKA, FELIX]  # no longer a contact
    assert gap_contact_ids(contacts, None) == [MONIKA, FELIX]
    assert gap_contact_ids({}, SABINE) == []
