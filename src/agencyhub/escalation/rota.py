"""The coverage rota: rotation layers, overrides, who is on duty, gaps.

Who is on duty is computed by the pure rules from the stored layers and overrides.
Someone on a layer who is no longer an approver or executive of the client counts as
nobody (a gap), so the gap contact is paged instead of a person who has left.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.db import flush_or_conflict, utcnow
from agencyhub.errors import Forbidden, InvalidInput, NotFound
from agencyhub.escalation import rules
from agencyhub.escalation.models import RotaOverride, RotaRecord
from agencyhub.escalation.schemas import LayerBody, OverrideCreate, RotaBody
from agencyhub.escalation.service import (
    GAP_CONTACT_ROLES,
    ON_DUTY_ROLES,
    ClientAccess,
    access_client,
    check,
    client_people,
    record,
    users_by_id,
    why_cannot_decide,
)
from agencyhub.tenancy import rules as tenancy_rules
from agencyhub.tenancy.models import Client, User
from agencyhub.tenancy.rules import Actor, Role

UNTIL_HORIZON = timedelta(days=35)
"""How far ahead "on duty until" looks; a longer duty answers no end."""
MAX_GAP_DAYS = 60


# --- stored form <-> rules -------------------------------------------------------------------


def layer_from_json(value: dict[str, Any]) -> rules.Layer:
    handoff = rules.parse_clock(str(value["handoff"]))
    assert handoff is not None, value
    ends_at = value.get("endsAt")
    return rules.Layer(
        participants=tuple(uuid.UUID(p) for p in value["participants"]),
        starts_at=datetime.fromisoformat(value["startsAt"]),
        rotation=rules.Rotation(value["rotation"]),
        handoff=handoff,
        timezone=str(value["timezone"]),
        ends_at=datetime.fromisoformat(ends_at) if ends_at else None,
    )


def layer_to_json(layer: rules.Layer) -> dict[str, Any]:
    return {
        "participants": [str(p) for p in layer.participants],
        "startsAt": layer.starts_at.isoformat(),
        "rotation": layer.rotation.value,
        "handoff": rules.format_clock(layer.handoff),
        "timezone": layer.timezone,
        "endsAt": layer.ends_at.isoformat() if layer.ends_at else None,
    }


def override_of(row: RotaOverride) -> rules.Override:
    return rules.Override(
        substitute=row.substitute_id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        replaces=row.replaces_id,
        created_at=row.created_at,
        key=str(row.id),
    )


# --- loading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RotaView:
    """The stored rota of a client and the overrides that touch a window."""

    record: RotaRecord | None
    layers: tuple[rules.Layer, ...]
    overrides: list[RotaOverride]

    @property
    def rota(self) -> rules.Rota:
        return rules.Rota(self.layers, tuple(override_of(o) for o in self.overrides))


async def _rota_record(session: AsyncSession, client_id: uuid.UUID) -> RotaRecord | None:
    return await session.scalar(select(RotaRecord).where(RotaRecord.client_id == client_id))


async def load_rota(
    session: AsyncSession, client: Client, start: datetime, end: datetime | None
) -> RotaView:
    """The client's layers and every override overlapping ``start``–``end`` (open-ended
    when ``end`` is None)."""
    row = await _rota_record(session, client.id)
    query = select(RotaOverride).where(
        RotaOverride.client_id == client.id, RotaOverride.ends_at > start
    )
    if end is not None:
        query = query.where(RotaOverride.starts_at < end)
    overrides = await session.scalars(
        query.order_by(RotaOverride.starts_at, RotaOverride.created_at)
    )
    layers = tuple(layer_from_json(v) for v in row.layers) if row is not None else ()
    return RotaView(row, layers, list(overrides))


async def on_duty_people(session: AsyncSession, client_id: uuid.UUID) -> frozenset[uuid.UUID]:
    """Who may be on duty: the client's approvers and executives who can decide."""
    return frozenset(await client_people(session, client_id, ON_DUTY_ROLES, deciding=True))


async def get_rota(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, *, now: datetime | None = None
) -> RotaView:
    """The layers, and the overrides running now or later."""
    access = await access_client(session, actor, client_id)
    return await load_rota(session, access.client, now or utcnow(), None)


# --- writing the rota ------------------------------------------------------------------------


async def set_rota(
    session: AsyncSession,
    actor: Actor,
    client_id: uuid.UUID,
    data: RotaBody,
    *,
    now: datetime | None = None,
) -> RotaView:
    access = await access_client(session, actor, client_id)
    access.require({Role.CLIENT_ADMIN}, "Only the client's admins set the rota.")
    client = access.client
    layers = tuple(_layer_of(index, body, client) for index, body in enumerate(data.layers))
    check(rules.layer_problems(layers, await on_duty_people(session, client.id)))
    if data.gap_contact is not None:
        contacts = await client_people(session, client.id, GAP_CONTACT_ROLES)
        if data.gap_contact not in contacts:
            raise InvalidInput(
                "is not an executive or admin of this client (null pages all executives)",
                field="gapContact",
            )
    row = await _rota_record(session, client.id)
    if row is None:
        row = RotaRecord(agency_id=client.agency_id, client_id=client.id)
        session.add(row)
    row.layers = [layer_to_json(layer) for layer in layers]
    row.gap_contact_id = data.gap_contact
    row.updated_by_id = actor.user_id
    await flush_or_conflict(
        session, "Someone else saved this at the same moment; reload and try again."
    )
    await record(
        session,
        client,
        actor.user_id,
        "rota.updated",
        ("client", client.id),
        {
            "layers": row.layers,
            "gapContact": str(data.gap_contact) if data.gap_contact else None,
        },
    )
    return await get_rota(session, actor, client.id, now=now)


def _layer_of(index: int, body: LayerBody, client: Client) -> rules.Layer:
    field = f"layers[{index}]"
    handoff = rules.parse_clock(body.handoff)
    if handoff is None:
        raise InvalidInput("must be a time HH:MM", field=f"{field}.handoff")
    timezone = body.timezone or client.timezone
    if not tenancy_rules.is_known_timezone(timezone):
        raise InvalidInput(f"'{timezone}' is not an IANA time zone", field=f"{field}.timezone")
    for name, value in (("startsAt", body.starts_at), ("endsAt", body.ends_at)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput("needs a UTC offset", field=f"{field}.{name}")
    return rules.Layer(
        participants=tuple(body.participants),
        starts_at=body.starts_at,
        rotation=rules.Rotation(body.rotation),
        handoff=handoff,
        timezone=timezone,
        ends_at=body.ends_at,
    )


# --- overrides -------------------------------------------------------------------------------


async def create_override(
    session: AsyncSession,
    actor: Actor,
    client_id: uuid.UUID,
    data: OverrideCreate,
    *,
    now: datetime | None = None,
) -> RotaOverride:
    """A substitute stands in; arranged by a client admin or by the person replaced."""
    access = await access_client(session, actor, client_id)
    arranging_own = data.replaces is not None and data.replaces == actor.user_id
    if access.role != Role.CLIENT_ADMIN and not arranging_own:
        raise Forbidden("Only the client's admins, or the person replaced, arrange a substitute.")
    client = access.client
    now = now or utcnow()
    check(rules.period_problems(data.starts_at, data.ends_at, now))
    await _check_override_people(session, client, data)
    row = RotaOverride(
        agency_id=client.agency_id,
        client_id=client.id,
        substitute_id=data.substitute_id,
        replaces_id=data.replaces,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        reason=data.reason,
        note=data.note.strip(),
        created_by_id=actor.user_id,
    )
    session.add(row)
    await session.flush()
    await override_event(session, client, actor.user_id, "rota.override_created", row)
    return row


async def _check_override_people(
    session: AsyncSession, client: Client, data: OverrideCreate
) -> None:
    reason = await why_cannot_decide(session, client.id, data.substitute_id)
    if reason is not None:
        raise InvalidInput(reason, field="substituteId")
    if data.replaces is None:
        return
    if data.replaces == data.substitute_id:
        raise InvalidInput("cannot stand in for themselves", field="substituteId")
    row = await _rota_record(session, client.id)
    layers = tuple(layer_from_json(v) for v in row.layers) if row is not None else ()
    if data.replaces not in rules.participants(rules.Rota(layers)):
        raise InvalidInput("is not on this client's rota", field="replaces")


async def get_override_for(
    session: AsyncSession, actor: Actor, override_id: uuid.UUID
) -> tuple[RotaOverride, ClientAccess]:
    row = await session.scalar(select(RotaOverride).where(RotaOverride.id == override_id))
    if row is None:
        raise NotFound("No such override.")
    return row, await access_client(session, actor, row.client_id)


async def remove_override(session: AsyncSession, actor: Actor, override_id: uuid.UUID) -> None:
    row, access = await get_override_for(session, actor, override_id)
    if access.role != Role.CLIENT_ADMIN and row.replaces_id != actor.user_id:
        raise Forbidden("Only the client's admins, or the person replaced, remove a substitute.")
    await override_event(session, access.client, actor.user_id, "rota.override_removed", row)
    await session.delete(row)
    await session.flush()


async def override_event(
    session: AsyncSession, client: Client, actor_id: uuid.UUID, type: str, row: RotaOverride
) -> None:
    await record(
        session,
        client,
        actor_id,
        type,
        ("rota_override", row.id),
        {
            "substituteId": str(row.substitute_id),
            "replaces": str(row.replaces_id) if row.replaces_id else None,
            "startsAt": row.starts_at.isoformat(),
            "endsAt": row.ends_at.isoformat(),
            # No reason: everyone who sees the client reads the audit trail, and the
            # reason may be health data (escalation.rules.absence_as_shown).
        },
    )


# --- on duty and gaps --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OnDuty:
    at: datetime
    duty: rules.Duty
    person: User | None
    until: datetime | None
    deputies: list[User]  # the layer's next turns, to page after the person on duty
    gap_contacts: list[User]  # whom to page while nobody is on duty (else empty)


async def on_duty_at(session: AsyncSession, client: Client, at: datetime) -> OnDuty:
    """Who is on duty for ``client`` at ``at``, until when, their deputies; in a gap,
    whom to page instead.

    For the escalation actors: the caller has the client (tenant or system scope).
    """
    view = await load_rota(session, client, at, at + UNTIL_HORIZON)
    eligible = await on_duty_people(session, client.id)
    timeline = rules.duty_timeline(view.rota, at, at + UNTIL_HORIZON, eligible)
    duty = timeline[0].duty
    until = timeline[0].ends_at if timeline[0].ends_at < at + UNTIL_HORIZON else None
    deputy_ids = rules.deputies(view.rota, at, eligible)
    people = await users_by_id(session, [*deputy_ids, *([duty.person] if duty.person else [])])
    deputies = [people[d] for d in deputy_ids if d in people]
    if duty.person is None:
        contacts = await gap_contacts(session, client, view.record)
        return OnDuty(at, duty, None, until, deputies, contacts)
    return OnDuty(at, duty, people.get(duty.person), until, deputies, [])


async def who_is_on_duty(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, at: datetime | None
) -> OnDuty:
    access = await access_client(session, actor, client_id)
    if at is not None and at.tzinfo is None:
        raise InvalidInput("needs a UTC offset", field="at")
    return await on_duty_at(session, access.client, at or utcnow())


async def gap_contacts(session: AsyncSession, client: Client, row: RotaRecord | None) -> list[User]:
    """The named gap contact while they still hold the role, else every executive."""
    contacts = await client_people(session, client.id, GAP_CONTACT_ROLES)
    named = row.gap_contact_id if row is not None else None
    people = await users_by_id(session, rules.gap_contact_ids(contacts, named))
    return sorted(people.values(), key=lambda u: u.email)


@dataclass(frozen=True, slots=True)
class Gaps:
    start: datetime
    end: datetime
    gaps: list[tuple[datetime, datetime]]
    gap_contact_id: uuid.UUID | None
    gap_contacts: list[User]


async def coverage_gaps(
    session: AsyncSession,
    actor: Actor,
    client_id: uuid.UUID,
    days: int,
    *,
    now: datetime | None = None,
) -> Gaps:
    """Periods in the next ``days`` days with nobody on duty, and whom they page."""
    access = await access_client(session, actor, client_id)
    start = now or utcnow()
    end = start + timedelta(days=days)
    view = await load_rota(session, access.client, start, end)
    eligible = await on_duty_people(session, access.client.id)
    return Gaps(
        start=start,
        end=end,
        gaps=rules.uncovered(view.rota, start, end, eligible),
        gap_contact_id=view.record.gap_contact_id if view.record else None,
        gap_contacts=await gap_contacts(session, access.client, view.record),
    )
