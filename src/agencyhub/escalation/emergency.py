"""Use cases of a client's emergency plan: read it (anyone who sees the client), replace
it (client admins). A saved plan is only a template for the future: a draft that
entered the queue keeps the plan frozen into it then (see :mod:`.enforcement`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.db import flush_or_conflict
from agencyhub.escalation import plan as rules
from agencyhub.escalation.models import EmergencyPlanRecord
from agencyhub.escalation.schemas import EmergencyPlanBody, PlanStepBody
from agencyhub.escalation.service import access_client, check, client_people, record
from agencyhub.escalation.templates import approved_templates
from agencyhub.tenancy.rules import CLIENT_ROLES, Actor, Role

PLAN_EDITORS = frozenset({Role.CLIENT_ADMIN})


@dataclass(frozen=True, slots=True)
class PlanView:
    client_id: uuid.UUID
    plan: rules.Plan
    record: EmergencyPlanRecord | None

    @property
    def is_default(self) -> bool:
        return self.record is None


async def _record_of(session: AsyncSession, client_id: uuid.UUID) -> EmergencyPlanRecord | None:
    return await session.scalar(
        select(EmergencyPlanRecord).where(EmergencyPlanRecord.client_id == client_id)
    )


async def load_plan(session: AsyncSession, client_id: uuid.UUID) -> rules.Plan:
    """The client's plan or the default; the caller has the client (tenant or system)."""
    row = await _record_of(session, client_id)
    return rules.plan_from_json(row.steps) if row is not None else rules.DEFAULT_PLAN


async def get_emergency_plan(session: AsyncSession, actor: Actor, client_id: uuid.UUID) -> PlanView:
    access = await access_client(session, actor, client_id)
    row = await _record_of(session, access.client.id)
    plan = rules.plan_from_json(row.steps) if row is not None else rules.DEFAULT_PLAN
    return PlanView(access.client.id, plan, row)


async def set_emergency_plan(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, body: EmergencyPlanBody
) -> PlanView:
    access = await access_client(session, actor, client_id)
    access.require(PLAN_EDITORS, "Only the client's admins set the emergency plan.")
    client = access.client
    plan = plan_from_body(body)
    approved = {t.id for t in await approved_templates(session, client.id)}
    check(rules.plan_problems(plan, approved))
    await _check_named_people(session, client.id, plan)
    row = await _record_of(session, client.id)
    if row is None:
        row = EmergencyPlanRecord(agency_id=client.agency_id, client_id=client.id, steps=[])
        session.add(row)
    row.steps = rules.plan_to_json(plan)
    row.updated_by_id = actor.user_id
    await flush_or_conflict(
        session, "Someone else saved the plan at the same moment; reload and try again."
    )
    await record(
        session,
        client,
        actor.user_id,
        "emergency_plan.updated",
        ("client", client.id),
        {"steps": row.steps},
    )
    return PlanView(client.id, plan, row)


def plan_from_body(body: EmergencyPlanBody) -> rules.Plan:
    return rules.Plan(steps=tuple(_step_of(step) for step in body.steps))


def _step_of(body: PlanStepBody) -> rules.Step:
    fallback = None
    if body.fallback is not None:
        fallback = rules.Fallback(
            rules.FallbackAction(body.fallback.action),
            body.fallback.template_id,
            timedelta(minutes=body.fallback.wait_minutes),
        )
    return rules.Step(
        after=timedelta(minutes=body.after_minutes),
        notify=tuple(rules.Target(t) for t in body.notify),
        users=tuple(dict.fromkeys(body.users)),
        channels=tuple(dict.fromkeys(body.channels)),
        fallback=fallback,
    )


async def _check_named_people(
    session: AsyncSession, client_id: uuid.UUID, plan: rules.Plan
) -> None:
    members = await client_people(session, client_id, CLIENT_ROLES)
    for index, step in enumerate(plan.steps):
        if any(user not in members for user in step.users):
            check([(f"steps[{index}].users", "names someone who is not a member of the client")])
