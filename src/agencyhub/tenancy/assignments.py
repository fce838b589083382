"""Client assignments: which agency editors work for which client.

Owners and admins see every client of their agency; an editor sees, drafts for and
hears about only the clients assigned here (``rules.role_at_client``). Assigning is
the agency managers' job; everyone who sees the client may see who is assigned.
"""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.audit.record import record_event
from agencyhub.db import flush_or_conflict
from agencyhub.errors import InvalidInput, NotFound
from agencyhub.tenancy import rules
from agencyhub.tenancy.models import Client, ClientAssignment, Membership, User
from agencyhub.tenancy.rules import Actor
from agencyhub.tenancy.service import Member, get_client_for, require

log = structlog.get_logger(__name__)

ASSIGNED = "assignment.created"
UNASSIGNED = "assignment.removed"


async def list_assigned_editors(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID
) -> list[Member]:
    client = await get_client_for(session, actor, client_id)
    rows = await session.execute(
        select(Membership, User)
        .join(ClientAssignment, ClientAssignment.membership_id == Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(ClientAssignment.client_id == client.id)
        .order_by(User.email)
    )
    return [Member(membership=m, user=u) for m, u in rows]


async def assign_editor(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, membership_id: uuid.UUID
) -> Member:
    """Assign an agency editor to the client; assigning twice changes nothing."""
    client, member = await _client_and_editor(session, actor, client_id, membership_id)
    existing = await _assignment(session, client.id, membership_id)
    if existing is None:
        session.add(
            ClientAssignment(
                agency_id=client.agency_id,
                client_id=client.id,
                membership_id=membership_id,
                user_id=member.user.id,
                created_by_id=actor.user_id,
            )
        )
        await flush_or_conflict(session, "The editor was assigned at the same moment; try again.")
        await _record(session, actor, client, member, ASSIGNED)
    return member


async def unassign_editor(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, membership_id: uuid.UUID
) -> None:
    client, member = await _client_and_editor(session, actor, client_id, membership_id)
    existing = await _assignment(session, client.id, membership_id)
    if existing is None:
        raise NotFound("This editor is not assigned to the client.")
    await session.delete(existing)
    await _record(session, actor, client, member, UNASSIGNED)


async def _client_and_editor(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, membership_id: uuid.UUID
) -> tuple[Client, Member]:
    client = await get_client_for(session, actor, client_id)
    require(
        rules.can_assign_editors(actor, client.agency_id),
        "Only the agency's owner or admins assign editors to clients.",
    )
    row = (
        await session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.id == membership_id, Membership.agency_id == client.agency_id)
        )
    ).first()
    if row is None:
        raise NotFound("No such membership in this agency.")
    membership, user = row
    if not rules.is_assignable(membership.role, membership.client_id):
        raise InvalidInput(
            "only agency editors are assigned to clients; owners and admins see every client",
            field="membershipId",
        )
    return client, Member(membership=membership, user=user)


async def _assignment(
    session: AsyncSession, client_id: uuid.UUID, membership_id: uuid.UUID
) -> ClientAssignment | None:
    return await session.scalar(
        select(ClientAssignment).where(
            ClientAssignment.client_id == client_id,
            ClientAssignment.membership_id == membership_id,
        )
    )


async def _record(
    session: AsyncSession, actor: Actor, client: Client, member: Member, event_type: str
) -> None:
    await record_event(
        session,
        type=event_type,
        agency_id=client.agency_id,
        client_id=client.id,
        subject_type="membership",
        subject_id=member.membership.id,
        actor_user_id=actor.user_id,
        payload={"userId": str(member.user.id)},
    )
    log.info(event_type, client_id=str(client.id), membership_id=str(member.membership.id))
