"""Swap requests: someone on the rota asks a colleague to take (part of) their duty.

The colleague accepts, which creates an override (reason "swap"), or declines; each
request is answered once (the row is locked while answering).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.db import utcnow
from agencyhub.errors import Conflict, Forbidden, InvalidInput, NotFound
from agencyhub.escalation import rules
from agencyhub.escalation.models import RotaOverride, RotaSwap
from agencyhub.escalation.rota import load_rota, on_duty_people, override_event
from agencyhub.escalation.schemas import SwapCreate
from agencyhub.escalation.service import ON_DUTY_ROLES, ClientAccess, access_client, check, record
from agencyhub.tenancy.models import Client
from agencyhub.tenancy.rules import Actor

SWAP_REASON = "swap"


async def request_swap(
    session: AsyncSession,
    actor: Actor,
    client_id: uuid.UUID,
    data: SwapCreate,
    *,
    now: datetime | None = None,
) -> RotaSwap:
    """A participant asks a colleague to take (part of) their duty."""
    access = await access_client(session, actor, client_id)
    client = access.client
    now = now or utcnow()
    view = await load_rota(session, client, data.starts_at, data.ends_at)
    if access.role not in ON_DUTY_ROLES or actor.user_id not in rules.participants(view.rota):
        raise Forbidden("Only people on the rota can ask for a swap.")
    check(rules.period_problems(data.starts_at, data.ends_at, now))
    eligible = await on_duty_people(session, client.id)
    if data.colleague_id == actor.user_id or data.colleague_id not in eligible:
        raise InvalidInput("is not a colleague on duty at this client", field="colleagueId")
    timeline = rules.duty_timeline(view.rota, data.starts_at, data.ends_at, eligible)
    if not any(s.duty.person == actor.user_id for s in timeline):
        raise InvalidInput("you are not on duty in this period", field="startsAt")
    swap = RotaSwap(
        agency_id=client.agency_id,
        client_id=client.id,
        requester_id=actor.user_id,
        colleague_id=data.colleague_id,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        note=data.note.strip(),
    )
    session.add(swap)
    await session.flush()
    await _swap_event(session, client, actor.user_id, "rota.swap_requested", swap)
    return swap


async def decide_swap(
    session: AsyncSession,
    actor: Actor,
    swap_id: uuid.UUID,
    *,
    accept: bool,
    now: datetime | None = None,
) -> RotaSwap:
    """The colleague accepts (an override is created) or declines; once."""
    swap = await session.scalar(select(RotaSwap).where(RotaSwap.id == swap_id))
    if swap is None:
        raise NotFound("No such swap request.")
    access = await access_client(session, actor, swap.client_id)
    if swap.colleague_id != actor.user_id:
        raise Forbidden("Only the colleague asked can answer this swap request.")
    # Lock, then look again: two answers at once must not both create an override.
    locked = await session.scalar(
        select(RotaSwap)
        .where(RotaSwap.id == swap_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert locked is not None
    swap = locked
    if swap.status != "pending":
        raise Conflict(f"This swap request is already {swap.status}.")
    now = now or utcnow()
    if accept:
        await _accept(session, access, swap, now)
    swap.status = "accepted" if accept else "declined"
    swap.decided_at = now
    event = "rota.swap_accepted" if accept else "rota.swap_declined"
    await _swap_event(session, access.client, actor.user_id, event, swap)
    return swap


async def _accept(
    session: AsyncSession, access: ClientAccess, swap: RotaSwap, now: datetime
) -> None:
    if swap.ends_at <= now:
        raise Conflict("This shift is over; the request can only be declined.")
    if access.role not in ON_DUTY_ROLES:
        raise Forbidden("Only approvers and executives of the client can take a shift.")
    client = access.client
    override = RotaOverride(
        agency_id=client.agency_id,
        client_id=client.id,
        substitute_id=swap.colleague_id,
        replaces_id=swap.requester_id,
        starts_at=swap.starts_at,
        ends_at=swap.ends_at,
        reason=SWAP_REASON,
        note=swap.note,
        created_by_id=swap.colleague_id,
    )
    session.add(override)
    await session.flush()
    swap.override_id = override.id
    await override_event(session, client, swap.colleague_id, "rota.override_created", override)


async def list_swaps(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, status: str | None
) -> list[RotaSwap]:
    access = await access_client(session, actor, client_id)
    query = select(RotaSwap).where(RotaSwap.client_id == access.client.id)
    if status is not None:
        query = query.where(RotaSwap.status == status)
    return list(await session.scalars(query.order_by(RotaSwap.created_at.desc()).limit(200)))


async def _swap_event(
    session: AsyncSession, client: Client, actor_id: uuid.UUID, type: str, swap: RotaSwap
) -> None:
    await record(
        session,
        client,
        actor_id,
        type,
        ("rota_swap", swap.id),
        {
            "requesterId": str(swap.requester_id),
            "colleagueId": str(swap.colleague_id),
            "startsAt": swap.starts_at.isoformat(),
            "endsAt": swap.ends_at.isoformat(),
            "status": swap.status,
            "overrideId": str(swap.override_id) if swap.override_id else None,
        },
    )
