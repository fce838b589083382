"""SLA clocks and the coverage rota, as pure functions of plain data and a given time.

No clock reads and no I/O. Times are aware ``datetime``s; calendars are in the
client's time zone and converted with ``zoneinfo`` at the edges, so the clock is right
across daylight-saving changes, midnight, weekends and public holidays.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo

from agencyhub.approvals.rules import DECIDING_ROLES

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
            closes = _closing_instant(day, hours.closes, zone)
            if closes > opens:
                yield opens, closes


END_OF_DAY = time.max
"""A closing time of "24:00": open until the next local midnight."""


def _closing_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    if at == END_OF_DAY:
        return _local_instant(day + timedelta(days=1), time(0), zone)
    return _local_instant(day, at, zone)


def _local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """A local wall-clock time as UTC.

    An ambiguous time (the repeated hour in autumn) is its first occurrence. A time
    skipped by DST (spring forward) is the end of the gap: the first instant whose
    wall clock on ``day`` shows ``at`` or later. (``fold=1`` would give an instant
    *before* the gap, an hour early.)
    """
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=zone).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    before = int(wall.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    after = int(first.timestamp())
    # Transitions fall on whole seconds: bisect for the first instant at or past ``wall``.
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


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
    key: str = ""  # a stable identity (the stored override's id), for callers


@dataclass(frozen=True, slots=True)
class Rota:
    layers: tuple[Layer, ...]  # the first layer that covers a moment decides
    overrides: tuple[Override, ...] = ()


def _shift_index(layer: Layer, at: datetime) -> int:
    """How many handovers have happened in this layer up to ``at``."""
    zone = ZoneInfo(layer.timezone)
    first_day = layer.starts_at.astimezone(zone).date()
    local_day = at.astimezone(zone).date()
    # Count handovers in local days so a 23- or 25-hour DST day is still one day; compare
    # instants (not wall times) so the repeated autumn hour cannot hand back and forth.
    days = (local_day - first_day).days
    if at < _local_instant(local_day, layer.handoff, zone):
        days -= 1
    return max(days, 0) // _period_days(layer)


def _period_days(layer: Layer) -> int:
    return 7 if layer.rotation is Rotation.WEEKLY else 1


def shift_start(layer: Layer, index: int) -> datetime:
    """When shift ``index`` of the layer begins (shift 0 begins when the layer does)."""
    if index <= 0:
        return layer.starts_at.astimezone(UTC)
    zone = ZoneInfo(layer.timezone)
    first_day = layer.starts_at.astimezone(zone).date()
    day = first_day + timedelta(days=index * _period_days(layer))
    return _local_instant(day, layer.handoff, zone)


def layer_on_duty(layer: Layer, at: datetime) -> uuid.UUID | None:
    if not layer.participants or at < layer.starts_at:
        return None
    if layer.ends_at is not None and at >= layer.ends_at:
        return None
    return layer.participants[_shift_index(layer, at) % len(layer.participants)]


def on_duty(rota: Rota, at: datetime) -> uuid.UUID | None:
    """Who is on duty at ``at``: the scheduled person, unless an override stands in."""
    return who_is_on_duty(rota, at).person


@dataclass(frozen=True, slots=True)
class Duty:
    """Who is on duty at a moment, and why: a layer's shift, an override, or nobody."""

    person: uuid.UUID | None
    override: Override | None = None
    layer: int | None = None  # index of the layer whose schedule covers the moment
    shift: int | None = None  # that layer's shift index

    @property
    def from_override(self) -> bool:
        return self.override is not None and self.person is not None


def who_is_on_duty(rota: Rota, at: datetime, eligible: frozenset[uuid.UUID] | None = None) -> Duty:
    """:func:`on_duty` with its reason. A person not in ``eligible`` (someone who left
    the client since the rota was written) counts as nobody: a gap, not a page into the
    void."""
    layer_index: int | None = None
    shift: int | None = None
    scheduled: uuid.UUID | None = None
    for index, layer in enumerate(rota.layers):
        person = layer_on_duty(layer, at)
        if person is not None:
            scheduled, layer_index, shift = person, index, _shift_index(layer, at)
            break
    active = [
        o
        for o in rota.overrides
        if o.starts_at <= at < o.ends_at and (o.replaces is None or o.replaces == scheduled)
    ]
    # Overlapping overrides: the one recorded last is the newest arrangement.
    override = max(active, key=lambda o: o.created_at) if active else None
    person = override.substitute if override is not None else scheduled
    if eligible is not None and person not in eligible:
        person = None
    return Duty(person=person, override=override, layer=layer_index, shift=shift)


@dataclass(frozen=True, slots=True)
class Shift:
    """A stretch of time in which the same :class:`Duty` holds."""

    starts_at: datetime
    ends_at: datetime
    duty: Duty


def duty_timeline(
    rota: Rota, start: datetime, end: datetime, eligible: frozenset[uuid.UUID] | None = None
) -> list[Shift]:
    """Who is on duty from ``start`` to ``end``, exactly: the duty can only change at a
    handover, at a layer's start or end, or where an override starts or ends."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return []
    inner = {p for p in _change_points(rota, start, end) if start < p < end}
    points = [start, *sorted(inner), end]
    timeline: list[Shift] = []
    for begin, finish in pairwise(points):
        duty = who_is_on_duty(rota, begin, eligible)
        if timeline and timeline[-1].duty == duty:
            timeline[-1] = Shift(timeline[-1].starts_at, finish, duty)
        else:
            timeline.append(Shift(begin, finish, duty))
    return timeline


def _change_points(rota: Rota, start: datetime, end: datetime) -> Iterator[datetime]:
    for layer in rota.layers:
        yield layer.starts_at.astimezone(UTC)
        if layer.ends_at is not None:
            yield layer.ends_at.astimezone(UTC)
        first = _shift_index(layer, max(start, layer.starts_at))
        last = _shift_index(layer, end)
        for index in range(first + 1, last + 2):
            yield shift_start(layer, index)
    for override in rota.overrides:
        yield override.starts_at.astimezone(UTC)
        yield override.ends_at.astimezone(UTC)


def deputies(
    rota: Rota, at: datetime, eligible: frozenset[uuid.UUID] | None = None
) -> tuple[uuid.UUID, ...]:
    """Whom to page after the person on duty: the other people of the layer covering
    ``at``, in the order their turns come, without repeats. Neither the person on duty
    nor someone an override stands in for (ill, on holiday) is a deputy."""
    duty = who_is_on_duty(rota, at, eligible)
    if duty.layer is None or duty.shift is None:
        return ()
    people = rota.layers[duty.layer].participants
    turn = duty.shift % len(people)
    off = {duty.person, people[turn] if duty.override is not None else None}
    deputies_: list[uuid.UUID] = []
    for person in people[turn + 1 :] + people[: turn + 1]:
        allowed = eligible is None or person in eligible
        if person not in off and person not in deputies_ and allowed:
            deputies_.append(person)
    return tuple(deputies_)


def uncovered(
    rota: Rota, start: datetime, end: datetime, eligible: frozenset[uuid.UUID] | None = None
) -> list[tuple[datetime, datetime]]:
    """The exact periods between ``start`` and ``end`` with nobody on duty, merged."""
    gaps: list[tuple[datetime, datetime]] = []
    for shift in duty_timeline(rota, start, end, eligible):
        if shift.duty.person is not None:
            continue
        if gaps and gaps[-1][1] == shift.starts_at:
            gaps[-1] = (gaps[-1][0], shift.ends_at)
        else:
            gaps.append((shift.starts_at, shift.ends_at))
    return gaps


def gap_contact_ids(contacts: Mapping[uuid.UUID, str], named: uuid.UUID | None) -> list[uuid.UUID]:
    """Whom to page while nobody is on duty: the rota's named gap contact while they
    still hold a gap-contact role (``contacts``: person -> role), else every executive."""
    if named is not None and named in contacts:
        return [named]
    return [person for person, role in contacts.items() if role == "executive"]


# Shifts are reported whole: looking back this far finds where a running shift began.
SHIFT_LOOKBACK = timedelta(days=31)


def shifts_of(
    rota: Rota,
    person: uuid.UUID,
    start: datetime,
    end: datetime,
    eligible: frozenset[uuid.UUID] | None = None,
) -> list[Shift]:
    """``person``'s duty shifts that overlap ``start``–``end``, with their real bounds
    (a shift that is running at ``start`` keeps its true beginning)."""
    window = duty_timeline(rota, start - SHIFT_LOOKBACK, end + SHIFT_LOOKBACK, eligible)
    return [
        s for s in window if s.duty.person == person and s.ends_at > start and s.starts_at < end
    ]


def shift_uid(client_id: uuid.UUID, shift: Shift) -> str:
    """A calendar UID that stays the same for the same person's shift at the same start."""
    assert shift.duty.person is not None
    name = f"{client_id}/{shift.duty.person}/{shift.starts_at.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return f"{uuid.uuid5(_UID_NAMESPACE, name)}@agencyhub"


_UID_NAMESPACE = uuid.UUID("6f1d7a52-2c1e-4d7b-9a57-3c0a3f1e8b21")


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


# --- validation of what clients write ---------------------------------------------------------

SEVERITIES = ("normal", "high", "crisis")
MAX_TARGET = timedelta(days=7)
REMINDER_RANGE = (0.1, 0.95)
MAX_HOLIDAYS = 500
MAX_LAYERS = 10
MAX_PARTICIPANTS = 50
MAX_OVERRIDE = timedelta(days=366)


def parse_clock(text: str, *, end_of_day: bool = False) -> time | None:
    """``"HH:MM"`` as a time; ``"24:00"`` is the end of the day where allowed."""
    if end_of_day and text == "24:00":
        return END_OF_DAY
    hours, colon, minutes = text.partition(":")
    if not (colon and len(hours) == 2 and len(minutes) == 2):
        return None
    if not (hours.isdigit() and minutes.isdigit()):
        return None
    if int(hours) > 23 or int(minutes) > 59:
        return None
    return time(int(hours), int(minutes))


def format_clock(value: time) -> str:
    return "24:00" if value == END_OF_DAY else f"{value.hour:02d}:{value.minute:02d}"


def sla_policy_problems(policy: SlaPolicy, now: datetime) -> list[tuple[str, str]]:
    """Everything wrong with a policy, each as ``(field, message)`` in wire names."""
    problems = calendar_problems(policy.calendar)
    problems += _overlapping_hours(policy.calendar.hours)
    for severity in SEVERITIES:
        target = policy.targets.get(severity)
        if target is None:
            problems.append((f"targets.{severity}", "is required"))
        elif not timedelta(minutes=1) <= target.response <= MAX_TARGET:
            problems.append((f"targets.{severity}.minutes", "must be 1 minute to 7 days"))
    low, high = REMINDER_RANGE
    if not low <= policy.reminder_at <= high:
        problems.append(("reminderAt", f"must be between {low} and {high}"))
    if len(policy.calendar.holidays) > MAX_HOLIDAYS:
        problems.append(("holidays", f"at most {MAX_HOLIDAYS} dates"))
    if not problems and _needs_business_hours(policy) and not _opens_soon(policy.calendar, now):
        problems.append(("hours", f"the business calendar never opens within {_SEARCH_DAYS} days"))
    return problems


def _overlapping_hours(hours: tuple[OpeningHours, ...]) -> list[tuple[str, str]]:
    """Overlapping intervals on one weekday would count the same open time twice."""
    problems: list[tuple[str, str]] = []
    for index, current in enumerate(hours):
        for earlier_index, earlier in enumerate(hours[:index]):
            same_day = earlier.weekday == current.weekday
            if same_day and current.opens < earlier.closes and earlier.opens < current.closes:
                problems.append((f"hours[{index}]", f"overlaps hours[{earlier_index}]"))
                break
    return problems


def _needs_business_hours(policy: SlaPolicy) -> bool:
    return any(t.business_hours_only for t in policy.targets.values())


def _opens_soon(calendar: BusinessCalendar, now: datetime) -> bool:
    return next(open_intervals(calendar, now), None) is not None


def layer_problems(
    layers: tuple[Layer, ...], eligible: frozenset[uuid.UUID]
) -> list[tuple[str, str]]:
    """:func:`rota_problems` for the layers, plus: everyone on them may be on duty."""
    problems = rota_problems(Rota(layers))
    if len(layers) > MAX_LAYERS:
        problems.append(("layers", f"at most {MAX_LAYERS} layers"))
    for index, layer in enumerate(layers):
        field_name = f"layers[{index}]"
        if len(layer.participants) > MAX_PARTICIPANTS:
            problems.append((f"{field_name}.participants", f"at most {MAX_PARTICIPANTS} people"))
        for position, person in enumerate(layer.participants):
            if person not in eligible:
                problems.append(
                    (
                        f"{field_name}.participants[{position}]",
                        "is not an approver or executive of this client",
                    )
                )
        if layer.starts_at.tzinfo is None:
            problems.append((f"{field_name}.startsAt", "needs a UTC offset"))
    return problems


def period_problems(starts_at: datetime, ends_at: datetime, now: datetime) -> list[tuple[str, str]]:
    """An override or swap period: ordered, not over yet, at most a year long."""
    if starts_at.tzinfo is None:
        return [("startsAt", "needs a UTC offset")]
    if ends_at.tzinfo is None:
        return [("endsAt", "needs a UTC offset")]
    if ends_at <= starts_at:
        return [("endsAt", "must be after startsAt")]
    if ends_at <= now:
        return [("endsAt", "is in the past")]
    if ends_at - starts_at > MAX_OVERRIDE:
        return [("endsAt", "at most 366 days after startsAt")]
    return []


def participants(rota: Rota) -> frozenset[uuid.UUID]:
    return frozenset(person for layer in rota.layers for person in layer.participants)


# --- statement templates ----------------------------------------------------------------------


class TemplateStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    RETIRED = "retired"


TEMPLATE_BODY_LIMIT = 5000
TEMPLATE_NAME_LIMIT = 100
TEMPLATE_AUTHORS = frozenset({"owner", "admin", "editor"})  # the agency proposes
TEMPLATE_APPROVERS = frozenset({"client_admin", "executive"})  # the client decides


def template_problems(name: str | None, body: str | None) -> list[tuple[str, str]]:
    """``None`` means "not given" (a partial update)."""
    problems: list[tuple[str, str]] = []
    if name is not None:
        if not name.strip():
            problems.append(("name", "must not be blank"))
        elif len(name.strip()) > TEMPLATE_NAME_LIMIT:
            problems.append(("name", f"at most {TEMPLATE_NAME_LIMIT} characters"))
    if body is not None:
        if not body.strip():
            problems.append(("body", "must not be blank"))
        elif len(body.strip()) > TEMPLATE_BODY_LIMIT:
            problems.append(("body", f"at most {TEMPLATE_BODY_LIMIT} characters"))
    return problems


def may_retire_template(role: str | None, status: TemplateStatus) -> bool:
    """The client retires any template; the agency only withdraws its own proposal."""
    if role in TEMPLATE_APPROVERS:
        return True
    return role in TEMPLATE_AUTHORS and status is TemplateStatus.PROPOSED


# --- absences: health data stays with the client's admins -------------------------------

ABSENCE_AS_SHOWN_TO_OTHERS = "away"


def absence_as_shown(
    reason: str, note: str, *, viewer_role: str | None, viewer_is_replaced: bool
) -> tuple[str, str]:
    """An override's reason ("illness") and note ("Grippe") as a viewer may see them:
    the client's admins and the person replaced see both; everyone else, the agency
    included, sees only that the person is away."""
    if viewer_role == "client_admin" or viewer_is_replaced:
        return reason, note
    return ABSENCE_AS_SHOWN_TO_OTHERS, ""


# --- whom a step pages -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Standing:
    """Where a pending draft's approval stands, as far as paging is concerned: who has
    approved its current revision, who wrote it, and whose approval counts at all."""

    approved: frozenset[uuid.UUID]
    author: uuid.UUID | None
    four_eyes: bool
    counting_roles: frozenset[str]  # the roles of the severity's ways to approve


def cannot_change_outcome(person: uuid.UUID, role: str, standing: Standing) -> str | None:
    """Why paging this person cannot change the draft's outcome (None: it can).

    Only the deciding roles are judged; someone paged in another role (a gap contact who
    is the client's admin, a named person) is paged to arrange, not to decide."""
    if role not in DECIDING_ROLES:
        return None
    if person in standing.approved:
        return "has already approved this revision"
    if standing.four_eyes and person == standing.author:
        return "wrote this revision and may not approve it (four-eyes)"
    if role not in standing.counting_roles:
        return f"an {role}'s approval does not count for this severity"
    return None
