"""A client's SLA policy: response targets per severity and the business calendar.

Read by anyone who sees the client; written only by the client's admins (an agency
cannot change how fast its client must answer). :func:`load_sla_policy` is what the
approval queue and the escalation actors use to compute deadlines.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.db import flush_or_conflict, utcnow
from agencyhub.errors import InvalidInput
from agencyhub.escalation import rules
from agencyhub.escalation.models import SlaPolicyRecord
from agencyhub.escalation.schemas import SlaPolicyBody
from agencyhub.escalation.service import access_client, record
from agencyhub.tenancy.models import Client
from agencyhub.tenancy.rules import Actor, Role


@dataclass(frozen=True, slots=True)
class SlaPolicyView:
    policy: rules.SlaPolicy
    record: SlaPolicyRecord | None  # None: the default policy

    @property
    def is_default(self) -> bool:
        return self.record is None


@dataclass(frozen=True, slots=True)
class SlaPreview:
    severity: str
    submitted_at: datetime
    due_at: datetime
    reminder_at: datetime
    target: rules.Target
    timezone: str


def default_policy(timezone: str) -> rules.SlaPolicy:
    """The product default (DESIGN, issue #4) in the client's time zone."""
    policy = rules.DEFAULT_SLA_POLICY
    return replace(policy, calendar=replace(policy.calendar, timezone=timezone))


def policy_from_record(row: SlaPolicyRecord) -> rules.SlaPolicy:
    return rules.SlaPolicy(
        targets={
            severity: rules.Target(
                timedelta(minutes=int(target["minutes"])), bool(target["businessHoursOnly"])
            )
            for severity, target in row.targets.items()
        },
        calendar=rules.BusinessCalendar(
            timezone=row.timezone,
            hours=tuple(_hours_from_json(h) for h in row.hours),
            holidays=frozenset(date.fromisoformat(d) for d in row.holidays),
        ),
        reminder_at=row.reminder_at,
    )


def _hours_from_json(value: dict[str, Any]) -> rules.OpeningHours:
    opens = rules.parse_clock(str(value["opens"]))
    closes = rules.parse_clock(str(value["closes"]), end_of_day=True)
    assert opens is not None, value
    assert closes is not None, value
    return rules.OpeningHours(int(value["weekday"]), opens, closes)


def policy_to_json(policy: rules.SlaPolicy) -> dict[str, Any]:
    """The policy as stored (and, camelCased, as answered)."""
    return {
        "targets": {
            severity: {
                "minutes": int(target.response.total_seconds() // 60),
                "businessHoursOnly": target.business_hours_only,
            }
            for severity, target in policy.targets.items()
        },
        "timezone": policy.calendar.timezone,
        "hours": [
            {
                "weekday": h.weekday,
                "opens": rules.format_clock(h.opens),
                "closes": rules.format_clock(h.closes),
            }
            for h in policy.calendar.hours
        ],
        "holidays": [d.isoformat() for d in sorted(policy.calendar.holidays)],
        "reminderAt": policy.reminder_at,
    }


async def _record_of(session: AsyncSession, client_id: uuid.UUID) -> SlaPolicyRecord | None:
    return await session.scalar(
        select(SlaPolicyRecord).where(SlaPolicyRecord.client_id == client_id)
    )


async def load_sla_policy(session: AsyncSession, client: Client) -> rules.SlaPolicy:
    """The client's SLA policy, or the default in the client's time zone.

    The caller has looked the client up (``get_client_for``) or runs in a system scope.
    """
    row = await _record_of(session, client.id)
    return policy_from_record(row) if row is not None else default_policy(client.timezone)


async def get_sla_policy(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID
) -> SlaPolicyView:
    access = await access_client(session, actor, client_id)
    row = await _record_of(session, access.client.id)
    if row is None:
        return SlaPolicyView(default_policy(access.client.timezone), None)
    return SlaPolicyView(policy_from_record(row), row)


async def set_sla_policy(
    session: AsyncSession,
    actor: Actor,
    client_id: uuid.UUID,
    data: SlaPolicyBody,
    *,
    now: datetime | None = None,
) -> SlaPolicyView:
    access = await access_client(session, actor, client_id)
    client = access.client
    # Agency roles see the client but never set its SLA (their role there is the agency's).
    access.require({Role.CLIENT_ADMIN}, "Only the client's admins set the SLA policy.")
    policy = policy_from_body(data, client.timezone)
    problems = rules.sla_policy_problems(policy, now or utcnow())
    if problems:
        field, message = problems[0]
        raise InvalidInput(message, field=field)
    stored = policy_to_json(policy)
    row = await _record_of(session, client.id)
    if row is None:
        row = SlaPolicyRecord(agency_id=client.agency_id, client_id=client.id)
        session.add(row)
    row.targets = stored["targets"]
    row.timezone = stored["timezone"]
    row.hours = stored["hours"]
    row.holidays = stored["holidays"]
    row.reminder_at = policy.reminder_at
    row.updated_by_id = actor.user_id
    await flush_or_conflict(
        session, "Someone else saved this at the same moment; reload and try again."
    )
    await record(
        session, client, actor.user_id, "sla_policy.updated", ("client", client.id), stored
    )
    return SlaPolicyView(policy, row)


def policy_from_body(data: SlaPolicyBody, client_timezone: str) -> rules.SlaPolicy:
    """Parse the body; clock strings that do not parse answer 422 naming the field."""
    hours = []
    for index, h in enumerate(data.hours):
        opens = rules.parse_clock(h.opens)
        closes = rules.parse_clock(h.closes, end_of_day=True)
        if opens is None:
            raise InvalidInput("must be a time HH:MM", field=f"hours[{index}].opens")
        if closes is None:
            raise InvalidInput("must be a time HH:MM (or 24:00)", field=f"hours[{index}].closes")
        hours.append(rules.OpeningHours(h.weekday, opens, closes))
    targets = {
        "normal": data.targets.normal,
        "high": data.targets.high,
        "crisis": data.targets.crisis,
    }
    return rules.SlaPolicy(
        targets={
            severity: rules.Target(timedelta(minutes=t.minutes), t.business_hours_only)
            for severity, t in targets.items()
        },
        calendar=rules.BusinessCalendar(
            timezone=data.timezone or client_timezone,
            hours=tuple(hours),
            holidays=frozenset(data.holidays),
        ),
        reminder_at=data.reminder_at,
    )


async def preview(
    session: AsyncSession,
    actor: Actor,
    client_id: uuid.UUID,
    severity: str,
    submitted_at: datetime | None,
) -> SlaPreview:
    """When an item submitted at ``submitted_at`` (default now) is due, and reminded."""
    view = await get_sla_policy(session, actor, client_id)
    policy = view.policy
    if submitted_at is not None and submitted_at.tzinfo is None:
        raise InvalidInput("needs a UTC offset (2026-11-20T17:00:00+01:00)", field="submittedAt")
    submitted = submitted_at or utcnow()
    target = policy.targets[severity]
    try:
        due = rules.sla_due_at(submitted, target, policy.calendar)
        reminder = rules.reminder_due_at(submitted, target, policy.calendar, policy.reminder_at)
    except rules.NoBusinessHours as exc:  # a stored policy whose holidays closed it for good
        raise InvalidInput(str(exc), field="hours") from exc
    return SlaPreview(severity, submitted, due, reminder, target, policy.calendar.timezone)
