"""The client's approval policy as stored, and the people who can meet it.

Apart from :mod:`.service` so that tenancy (changing someone's role) can ask whether a
change leaves a policy impossible without importing the draft use cases.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.approvals import rules
from agencyhub.approvals.models import ApprovalPolicy
from agencyhub.tenancy.models import Membership


def policy_from_row(row: ApprovalPolicy | None) -> rules.Policy:
    if row is None:
        return rules.DEFAULT_POLICY
    return policy_from(row.requirements, row.four_eyes)


def policy_from(requirements: dict[str, Any], four_eyes: bool) -> rules.Policy:
    """The policy stored as ``requirements`` (JSON, see :func:`policy_to_json`)."""
    return rules.Policy(
        requirements={
            severity: rules.Requirement(tuple(dict(alt) for alt in alternatives))
            for severity, alternatives in requirements.items()
        },
        four_eyes=four_eyes,
    )


def policy_to_json(policy: rules.Policy) -> dict[str, list[dict[str, int]]]:
    return {
        str(severity): [dict(alt) for alt in requirement.alternatives]
        for severity, requirement in policy.requirements.items()
    }


async def load_policy(session: AsyncSession, client_id: uuid.UUID) -> ApprovalPolicy | None:
    return await session.scalar(select(ApprovalPolicy).where(ApprovalPolicy.client_id == client_id))


async def deciders_by_role(session: AsyncSession, client_id: uuid.UUID) -> dict[str, int]:
    """How many of the client's people can decide, per deciding role."""
    query = (
        select(Membership.role, func.count())
        .where(
            Membership.client_id == client_id,
            Membership.role.in_(sorted(rules.DECIDING_ROLES)),
            Membership.can_decide(),
        )
        .group_by(Membership.role)
    )
    return {role: int(count) for role, count in await session.execute(query)}


async def can_decide_now(session: AsyncSession, membership: Membership) -> bool:
    """Whether this membership's person can decide in a deciding role today
    (:meth:`Membership.can_decide`: confirmed, no agency role reaching the client)."""
    found = await session.scalar(
        select(Membership.id).where(Membership.id == membership.id, Membership.can_decide())
    )
    return found is not None


async def impossible_after_change(
    session: AsyncSession, membership: Membership, new_role: str | None
) -> list[tuple[str, str]]:
    """The severities the client's policy could no longer approve if ``membership``
    changed to ``new_role`` (None: removed); empty for an agency membership."""
    if membership.client_id is None:
        return []
    before = await deciders_by_role(session, membership.client_id)
    after = dict(before)
    if await can_decide_now(session, membership):
        if membership.role in after:
            after[membership.role] -= 1
        if new_role in rules.DECIDING_ROLES:
            after[new_role] = after.get(new_role, 0) + 1
    policy = policy_from_row(await load_policy(session, membership.client_id))
    already = rules.unreachable_problems(policy, before)
    return [p for p in rules.unreachable_problems(policy, after) if p not in already]
