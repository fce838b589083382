"""SLA clocks and the coverage rota, as pure functions of plain data and a given time.

No clock reads and no I/O. Times are aware ``datetime``s; calendars are in the
client's time zone and converted with ``zoneinfo`` at the edges, so the clock is right
across daylight-saving changes, midnight, weekends and public holidays.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

# --- SLA policy and the business calendar ------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """One opening interval on a weekday (0 = Monday), local wall-clock time."""

    weekday: int
    opens: time
    closes: time


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    timezone: str
    hours: tuple[OpeningHours, ...]
    holidays: frozenset[date] = frozenset()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class Target:
    """How long the client has to decide, and whether the clock stops when closed."""

    response: timedelta
    business_hours_only: bool


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    targets: dict[str, Target]
    calendar: BusinessCalendar
    reminder_at: float = 0.75  # share of the target after which the on-duty is reminded


def _weekday_hours() -> tuple[OpeningHours, ...]:
    return tuple(OpeningHours(day, time(8), time(18)) for day in range(5))


DEFAULT_CALENDAR = BusinessCalendar(timezone="Europe/Berlin", hours=_weekday_hours())
DEFAULT_SLA_POLICY = SlaPolicy(
    targets={
        "normal": Target(timedelta(hours=4), business_hours_only=True),
        "high": Target(timedelta(hours=1), business_hours_only=False),
        "crisis": Target(timedelta(minutes=15), business_hours_only=False),
    },
    calendar=DEFAULT_CALENDAR,
)

# A calendar must open at least once within this horizon, or no deadline exists.
_SEARCH_DAYS = 400


class NoBusinessHours(ValueError):
    """The calendar never opens, so a business-hours clock would never run out."""


def open_intervals(
    calendar: BusinessCalendar, start: datetime, days: int = _SEARCH_DAYS
) -> Iterator[tuple[datetime, datetime]]:
    """Open periods from the local day of ``start`` on, as UTC instants, in order."""
    zone = calendar.zone
    first_day = start.astimezone(zone).date()
    by_weekday: dict[int, list[OpeningHours]] = {}
    for hours in calendar.hours:
        by_weekday.setdefault(hours.weekday, []).append(hours)
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if day in calendar.holidays:
            continue
        for hours in sorted(by_weekday.get(day.weekday(), []), key=lambda h: h.opens):
            opens = _local_instant(day, hours.opens, zone)
            closes = _local_instant(day, hours.closes, zone)
            if closes > opens:
                yield opens, closes


def _local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time as UTC; a time skipped by DST moves to after the gap."""
    local = datetime.combine(day, at, tzinfo=zone)
    as_utc = local.astimezone(UTC)
    if as_utc.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        # Nonexistent (spring forward): fold=1 gives the instant after the gap.
        as_utc = local.replace(fold=1).astimezone(UTC)
    return as_utc


def sla_due_at(submitted_at: datetime, target: Target, calendar: BusinessCalendar) -> datetime:
    """When an item submitted at ``submitted_at`` must be decided (in UTC)."""
    # Arithmetic on aware datetimes that share a tzinfo is wall-clock arithmetic in
    # Python; in UTC it is elapsed time, which is what a deadline means.
    submitted_at = submitted_at.astimezone(UTC)
    if not target.business_hours_only:
        return submitted_at + target.response
    remaining = target.response
    for opens, closes in open_intervals(calendar, submitted_at):
        if closes <= submitted_at:
            continue
        start = max(opens, submitted_at)
        available = closes - start
        if remaining <= available:
            return start + remaining
        remaining -= available
    raise NoBusinessHours(f"the calendar has no opening hours within {_SEARCH_DAYS} days")


def business_time_between(start: datetime, end: datetime, calendar: BusinessCalendar) -> timedelta:
    """Open time elapsed between two instants (for reminders and reports)."""
    total = timedelta()
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return total
    for opens, closes in open_intervals(calendar, start):
        if opens >= end:
            break
        overlap = min(closes, end) - max(opens, start)
        if overlap > timedelta():
            total += overlap
    return total


def reminder_due_at(
    submitted_at: datetime, target: Target, calendar: BusinessCalendar, share: float
) -> datetime:
    """The moment ``share`` of the target has elapsed (on the same clock as the SLA)."""
    partial = Target(target.response * share, target.business_hours_only)
    return sla_due_at(submitted_at, partial, calendar)


def calendar_problems(calendar: BusinessCalendar) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    try:
        ZoneInfo(calendar.timezone)
    except (KeyError, ValueError):
        problems.append(("timezone", f"'{calendar.timezone}' is not an IANA time zone"))
    if not calendar.hours:
        problems.append(("hours", "needs at least one opening interval"))
    for index, hours in enumerate(calendar.hours):
        if not 0 <= hours.weekday <= 6:
            problems.append((f"hours[{index}].weekday", "must be 0 (Monday) to 6 (Sunday)"))
        if hours.closes <= hours.opens:
            problems.append((f"hours[{index}]", "must close after it opens"))
    return problems


# --- coverage rota ---------------------------------------------------------------------------


class Rotation(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


@dataclass(frozen=True, slots=True)
class Layer:
    """People taking turns from ``starts_at``, handing over at ``handoff`` local time."""

    participants: tuple[uuid.UUID, ...]
    starts_at: datetime
    rotation: Rotation
    handoff: time
    timezone: str
    ends_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Override:
    """``substitute`` stands in for ``replaces`` (or for whoever is on duty, if None)."""

    substitute: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    replaces: uuid.UUID | None = None
    created_at: datetime = field(default=datetime.min.replace(tzinfo=UTC))


@dataclass(frozen=True, slots=True)
class Rota:
    layers: tuple[Layer, ...]  # the first layer that covers a moment decides
    overrides: tuple[Override, ...] = ()


def _shift_index(layer: Layer, at: datetime) -> int:
    """How many handovers have happened in this layer up to ``at``."""
    zone = ZoneInfo(layer.timezone)
    first = datetime.combine(layer.starts_at.astimezone(zone).date(), layer.handoff, tzinfo=zone)
    local_at = at.astimezone(zone)
    # Count handovers in local days so a 23- or 25-hour DST day is still one day.
    days = (local_at.date() - first.date()).days
    if local_at.time() < layer.handoff:
        days -= 1
    period = 7 if layer.rotation is Rotation.WEEKLY else 1
    return max(days, 0) // period


def layer_on_duty(layer: Layer, at: datetime) -> uuid.UUID | None:
    if not layer.participants or at < layer.starts_at:
        return None
    if layer.ends_at is not None and at >= layer.ends_at:
        return None
    return layer.participants[_shift_index(layer, at) % len(layer.participants)]


def on_duty(rota: Rota, at: datetime) -> uuid.UUID | None:
    """Who is on duty at ``at``: the scheduled person, unless an override stands in."""
    scheduled = next(
        (person for layer in rota.layers if (person := layer_on_duty(layer, at)) is not None),
        None,
    )
    active = [
        o
        for o in rota.overrides
        if o.starts_at <= at < o.ends_at and (o.replaces is None or o.replaces == scheduled)
    ]
    if not active:
        return scheduled
    # Overlapping overrides: the one recorded last is the newest arrangement.
    return max(active, key=lambda o: o.created_at).substitute


def coverage_gaps(
    rota: Rota, start: datetime, end: datetime, step: timedelta = timedelta(hours=1)
) -> list[tuple[datetime, datetime]]:
    """Periods (checked every ``step``) between ``start`` and ``end`` with nobody on duty."""
    return _periods_where(rota, start, end, step, lambda person: person is None)


def duty_shifts(
    rota: Rota, person: uuid.UUID, start: datetime, end: datetime, step: timedelta
) -> list[tuple[datetime, datetime]]:
    """The periods in which ``person`` is on duty (for the iCalendar feed)."""
    return _periods_where(rota, start, end, step, lambda on: on == person)


def _periods_where(
    rota: Rota,
    start: datetime,
    end: datetime,
    step: timedelta,
    wanted: Callable[[uuid.UUID | None], bool],
) -> list[tuple[datetime, datetime]]:
    periods: list[tuple[datetime, datetime]] = []
    moment = start
    while moment < end:
        nxt = min(moment + step, end)
        if wanted(on_duty(rota, moment)):
            if periods and periods[-1][1] == moment:
                periods[-1] = (periods[-1][0], nxt)
            else:
                periods.append((moment, nxt))
        moment = nxt
    return periods


def rota_problems(rota: Rota) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for index, layer in enumerate(rota.layers):
        if not layer.participants:
            problems.append((f"layers[{index}].participants", "needs at least one person"))
        if layer.ends_at is not None and layer.ends_at <= layer.starts_at:
            problems.append((f"layers[{index}].endsAt", "must be after startsAt"))
    for index, override in enumerate(rota.overrides):
        if override.ends_at <= override.starts_at:
            problems.append((f"overrides[{index}].endsAt", "must be after startsAt"))
    return problems
