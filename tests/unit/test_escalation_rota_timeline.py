"""The exact duty timeline: shifts, gaps, calendar shifts and DST-safe handovers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from agencyhub.escalation.rules import (
    Layer,
    Override,
    Rota,
    Rotation,
    deputies,
    duty_timeline,
    layer_on_duty,
    on_duty,
    shift_uid,
    shifts_of,
    uncovered,
    who_is_on_duty,
)

BERLIN = ZoneInfo("Europe/Berlin")
SABINE, TOBIAS, MONIKA, FELIX = (uuid.UUID(int=n) for n in (1, 2, 3, 4))
CLIENT = uuid.UUID(int=99)


def berlin(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=BERLIN, fold=fold)


def daily(*people: uuid.UUID, handoff: time = time(9), **kwargs: object) -> Layer:
    return Layer(
        participants=people,
        starts_at=kwargs.pop("starts_at", berlin(2026, 11, 2, 9)),  # type: ignore[arg-type]
        rotation=Rotation.DAILY,
        handoff=handoff,
        timezone="Europe/Berlin",
        **kwargs,  # type: ignore[arg-type]
    )


def weekly(*people: uuid.UUID) -> Layer:
    return Layer(people, berlin(2026, 11, 2, 9), Rotation.WEEKLY, time(9), "Europe/Berlin")


def test_timeline_hands_over_exactly_at_the_handoff():
    rota = Rota(layers=(daily(SABINE, TOBIAS),))
    timeline = duty_timeline(rota, berlin(2026, 11, 2, 12), berlin(2026, 11, 4, 12))
    assert [(s.starts_at, s.ends_at, s.duty.person) for s in timeline] == [
        (berlin(2026, 11, 2, 12), berlin(2026, 11, 3, 9), SABINE),
        (berlin(2026, 11, 3, 9), berlin(2026, 11, 4, 9), TOBIAS),
        (berlin(2026, 11, 4, 9), berlin(2026, 11, 4, 12), SABINE),
    ]


def test_a_single_person_still_has_one_shift_per_rotation():
    timeline = duty_timeline(Rota((daily(SABINE),)), berlin(2026, 11, 2, 9), berlin(2026, 11, 4, 9))
    assert [s.starts_at for s in timeline] == [berlin(2026, 11, 2, 9), berlin(2026, 11, 3, 9)]
    assert {s.duty.person for s in timeline} == {SABINE}


def test_overlapping_overrides_newest_wins_on_the_timeline():
    ill = Override(FELIX, berlin(2026, 11, 3), berlin(2026, 11, 10), SABINE, berlin(2026, 11, 1))
    holiday = Override(MONIKA, berlin(2026, 11, 4), berlin(2026, 11, 6), None, berlin(2026, 11, 2))
    rota = Rota(layers=(weekly(SABINE, TOBIAS),), overrides=(holiday, ill))
    timeline = duty_timeline(rota, berlin(2026, 11, 2, 9), berlin(2026, 11, 12))
    assert [(s.starts_at, s.duty.person, s.duty.from_override) for s in timeline] == [
        (berlin(2026, 11, 2, 9), SABINE, False),
        (berlin(2026, 11, 3), FELIX, True),
        (berlin(2026, 11, 4), MONIKA, True),
        (berlin(2026, 11, 6), FELIX, True),
        # Sabine's week ends on the 9th at nine: Felix no longer replaces anyone.
        (berlin(2026, 11, 9, 9), TOBIAS, False),
    ]


def test_uncovered_periods_are_exact_and_merged():
    first = daily(SABINE, ends_at=berlin(2026, 11, 3, 14))
    later = daily(TOBIAS, starts_at=berlin(2026, 11, 4, 7, 30))
    rota = Rota((first, later))
    assert uncovered(rota, berlin(2026, 11, 2, 9), berlin(2026, 11, 5)) == [
        (berlin(2026, 11, 3, 14), berlin(2026, 11, 4, 7, 30))
    ]


def test_someone_who_left_is_a_gap_not_a_person_on_duty():
    rota = Rota((daily(SABINE, TOBIAS),))
    at = berlin(2026, 11, 3, 12)  # Tobias's day
    assert who_is_on_duty(rota, at).person == TOBIAS
    assert who_is_on_duty(rota, at, eligible=frozenset({SABINE})).person is None
    gaps = uncovered(rota, berlin(2026, 11, 2, 9), berlin(2026, 11, 5, 9), frozenset({SABINE}))
    assert gaps == [(berlin(2026, 11, 3, 9), berlin(2026, 11, 4, 9))]


def test_calendar_shifts_keep_their_real_start_and_stable_uids():
    rota = Rota((weekly(SABINE, TOBIAS),))
    now = berlin(2026, 11, 4, 15)  # in the middle of Sabine's first week
    shifts = shifts_of(rota, SABINE, now, now + timedelta(days=60))
    assert shifts[0].starts_at == berlin(2026, 11, 2, 9)
    assert shifts[0].ends_at == berlin(2026, 11, 9, 9)
    assert shifts[1].starts_at == berlin(2026, 11, 16, 9)
    later = shifts_of(rota, SABINE, now + timedelta(hours=5), now + timedelta(days=60))
    assert shift_uid(CLIENT, shifts[0]) == shift_uid(CLIENT, later[0])
    assert len({shift_uid(CLIENT, s) for s in shifts}) == len(shifts)


def test_a_handoff_in_the_spring_gap_happens_when_the_clock_jumps():
    # 29 March 2026, 02:00 → 03:00: a 02:30 handoff happens at 03:00 CEST (01:00 UTC).
    layer = daily(SABINE, TOBIAS, handoff=time(2, 30), starts_at=berlin(2026, 3, 28, 2, 30))
    assert layer_on_duty(layer, datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)) == SABINE
    assert layer_on_duty(layer, datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) == TOBIAS
    timeline = duty_timeline(Rota((layer,)), berlin(2026, 3, 28, 12), berlin(2026, 3, 30, 12))
    starts = [s.starts_at for s in timeline]
    assert datetime(2026, 3, 29, 1, 0, tzinfo=UTC) in starts


def test_a_handoff_in_the_repeated_autumn_hour_hands_over_once():
    # 25 October 2026: 02:30 happens twice; the handover is the first 02:30 and stays.
    layer = daily(SABINE, TOBIAS, handoff=time(2, 30), starts_at=berlin(2026, 10, 24, 2, 30))
    first = berlin(2026, 10, 25, 2, 30, fold=0)
    assert layer_on_duty(layer, first - timedelta(seconds=1)) == SABINE
    assert layer_on_duty(layer, first) == TOBIAS
    assert layer_on_duty(layer, berlin(2026, 10, 25, 2, 10, fold=1)) == TOBIAS  # second 02:10


def test_nothing_before_the_rota_starts():
    assert duty_timeline(Rota(()), berlin(2026, 11, 2), berlin(2026, 11, 2)) == []
    timeline = duty_timeline(Rota((daily(SABINE),)), berlin(2026, 11, 1), berlin(2026, 11, 2, 12))
    assert timeline[0].duty.person is None
    assert timeline[0].ends_at == berlin(2026, 11, 2, 9)


# --- properties ---------------------------------------------------------------------------

people = st.sampled_from([SABINE, TOBIAS, MONIKA, FELIX])
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)


@st.composite
def rotas(draw: st.DrawFn) -> Rota:
    layers = []
    for _ in range(draw(st.integers(1, 2))):
        start = draw(moments)
        layers.append(
            Layer(
                participants=tuple(draw(st.lists(people, min_size=1, max_size=3))),
                starts_at=start,
                rotation=draw(st.sampled_from(list(Rotation))),
                handoff=time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 30]))),
                timezone=draw(st.sampled_from(["Europe/Berlin", "America/New_York", "UTC"])),
                ends_at=draw(st.none() | st.just(start + timedelta(days=draw(st.integers(1, 40))))),
            )
        )
    overrides = []
    for n in range(draw(st.integers(0, 3))):
        start = draw(moments)
        overrides.append(
            Override(
                substitute=draw(people),
                starts_at=start,
                ends_at=start + timedelta(hours=draw(st.integers(1, 200))),
                replaces=draw(st.none() | people),
                created_at=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=n),
            )
        )
    return Rota(tuple(layers), tuple(overrides))


@settings(max_examples=150, deadline=None)
@given(rotas(), moments, st.integers(1, 30), st.lists(moments, min_size=1, max_size=10))
def test_the_timeline_agrees_with_on_duty_everywhere(
    rota: Rota, start: datetime, days: int, probes: list[datetime]
):
    end = start + timedelta(days=days)
    timeline = duty_timeline(rota, start, end)
    assert timeline[0].starts_at == start
    assert timeline[-1].ends_at == end
    for before, after in pairwise(timeline):
        assert before.ends_at == after.starts_at
        assert before.duty != after.duty
    for probe in probes:
        at = start + (probe - datetime(2026, 1, 1, tzinfo=UTC)) % (end - start)
        shift = next(s for s in timeline if s.starts_at <= at < s.ends_at)
        assert shift.duty.person == on_duty(rota, at)


def test_deputies_are_the_next_turns_of_the_covering_layer():
    rota = Rota((daily(SABINE, TOBIAS, MONIKA),))
    assert deputies(rota, berlin(2026, 11, 3, 12)) == (MONIKA, SABINE)  # Tobias's day
    ill = Override(FELIX, berlin(2026, 11, 3), berlin(2026, 11, 4), TOBIAS)
    covered = Rota(rota.layers, (ill,))
    # Felix stands in for Tobias, who is ill: not a deputy either.
    assert deputies(covered, berlin(2026, 11, 3, 12)) == (MONIKA, SABINE)
    assert deputies(rota, berlin(2026, 11, 3, 12), frozenset({TOBIAS, SABINE})) == (SABINE,)
    assert deputies(Rota(()), berlin(2026, 11, 3, 12)) == ()
