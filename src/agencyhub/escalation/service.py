"""What the escalation use cases share: the caller's role at a client, the people who
may be on duty or be paged, and recording events.

The use cases live in :mod:`.sla`, :mod:`.rota`, :mod:`.swaps`, :mod:`.ical` and
:mod:`.templates`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.approvals.policy_store import can_decide_now
from agencyhub.audit.service import record_event
from agencyhub.errors import Forbidden, InvalidInput
from agencyhub.tenancy import rules as tenancy_rules
from agencyhub.tenancy.models import Client, Membership, User
from agencyhub.tenancy.rules import Actor, Role
from agencyhub.tenancy.service import get_client_for

ON_DUTY_ROLES: frozenset[str] = frozenset({Role.APPROVER, Role.EXECUTIVE})
"""Who may be on a rota, stand in for someone, or take a swapped shift."""
GAP_CONTACT_ROLES: frozenset[str] = frozenset({Role.EXECUTIVE, Role.CLIENT_ADMIN})
"""Who may be named as the person to page while nobody is on duty."""


@dataclass(frozen=True, slots=True)
class ClientAccess:
    client: Client
    role: str | None  # the caller's role there: agency role first, else client role

    def require(self, roles: Collection[str], detail: str) -> None:
        if self.role not in roles:
            raise Forbidden(detail)


async def access_client(session: AsyncSession, actor: Actor, client_id: uuid.UUID) -> ClientAccess:
    """The client (404 if the actor cannot see it) with the actor's role at it."""
    client = await get_client_for(session, actor, client_id)
    return ClientAccess(client, tenancy_rules.role_at_client(actor, client.agency_id, client.id))


async def client_people(
    session: AsyncSession, client_id: uuid.UUID, roles: Collection[str], *, deciding: bool = False
) -> dict[uuid.UUID, str]:
    """Members of the client holding one of ``roles``: user id → role; with
    ``deciding``, only those who can decide in it (:meth:`Membership.can_decide`)."""
    query = select(Membership.user_id, Membership.role).where(
        Membership.client_id == client_id, Membership.role.in_(sorted(roles))
    )
    if deciding:
        query = query.where(Membership.can_decide())
    return {user_id: role for user_id, role in await session.execute(query)}


async def why_cannot_decide(
    session: AsyncSession, client_id: uuid.UUID, user_id: uuid.UUID
) -> str | None:
    """Why ``user_id`` cannot be on this client's duty (None: they can): the message a
    rota or override names them with."""
    membership = await session.scalar(
        select(Membership).where(Membership.client_id == client_id, Membership.user_id == user_id)
    )
    if membership is None or membership.role not in ON_DUTY_ROLES:
        return "is not an approver or executive of this client"
    if not membership.confirmed:
        return "cannot be on duty before another client admin confirms their membership"
    if not await can_decide_now(session, membership):
        return "is agency staff and cannot decide for this client, so cannot be on its duty"
    return None


async def users_by_id(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, User]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {u.id: u for u in await session.scalars(select(User).where(User.id.in_(wanted)))}


async def record(
    session: AsyncSession,
    client: Client,
    actor_id: uuid.UUID | None,
    type: str,
    subject: tuple[str, uuid.UUID],
    payload: dict[str, Any],
) -> None:
    await record_event(
        session,
        type=type,
        agency_id=client.agency_id,
        client_id=client.id,
        subject_type=subject[0],
        subject_id=subject[1],
        actor_user_id=actor_id,
        actor_kind="user" if actor_id else "system",
        payload=payload,
    )


def check(problems: Sequence[tuple[str, str]]) -> None:
    """Answer the first ``(field, message)`` problem as 422 naming the field."""
    if problems:
        field, message = problems[0]
        raise InvalidInput(message, field=field)
