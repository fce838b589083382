"""Statement templates for fallbacks: the agency proposes, the client approves.

Only approved templates are eligible for an emergency plan's fallback
(:func:`approved_templates`). Changing an approved template's wording sends it back to
"proposed": the client approved words, not a name. Approval records who and when, for
the audit line "template T, approved by P on D".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.db import utcnow
from agencyhub.errors import Conflict, Forbidden, InvalidInput, NotFound
from agencyhub.escalation import rules
from agencyhub.escalation.models import StatementTemplate
from agencyhub.escalation.rules import TemplateStatus
from agencyhub.escalation.service import ClientAccess, access_client, record
from agencyhub.tenancy.rules import Actor


@dataclass(frozen=True, slots=True)
class TemplateAccess:
    template: StatementTemplate
    access: ClientAccess

    @property
    def status(self) -> TemplateStatus:
        return TemplateStatus(self.template.status)


async def approved_templates(
    session: AsyncSession, client_id: uuid.UUID
) -> list[StatementTemplate]:
    """The client's approved templates, by name: the only ones a fallback may publish.

    The caller has looked the client up (tenant scope) or runs in a system scope.
    """
    rows = await session.scalars(
        select(StatementTemplate)
        .where(
            StatementTemplate.client_id == client_id,
            StatementTemplate.status == TemplateStatus.APPROVED,
        )
        .order_by(StatementTemplate.name)
    )
    return list(rows)


async def approved_template(
    session: AsyncSession, client_id: uuid.UUID, template_id: uuid.UUID
) -> StatementTemplate | None:
    """One approved template of the client, or None (unknown, other client, not approved)."""
    return await session.scalar(
        select(StatementTemplate).where(
            StatementTemplate.id == template_id,
            StatementTemplate.client_id == client_id,
            StatementTemplate.status == TemplateStatus.APPROVED,
        )
    )


async def get_template_for(
    session: AsyncSession, actor: Actor, template_id: uuid.UUID, *, lock: bool = False
) -> TemplateAccess:
    """The template if the actor sees its client (else 404); row-locked when ``lock``."""
    template = await session.scalar(
        select(StatementTemplate).where(StatementTemplate.id == template_id)
    )
    if template is None:
        raise NotFound("No such template.")
    access = await access_client(session, actor, template.client_id)
    if lock:
        locked = await session.scalar(
            select(StatementTemplate)
            .where(StatementTemplate.id == template_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert locked is not None
        template = locked
    return TemplateAccess(template, access)


async def list_templates(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, status: str | None
) -> list[StatementTemplate]:
    access = await access_client(session, actor, client_id)
    query = select(StatementTemplate).where(StatementTemplate.client_id == access.client.id)
    if status is not None:
        query = query.where(StatementTemplate.status == status)
    return list(await session.scalars(query.order_by(StatementTemplate.name)))


async def propose_template(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, name: str, body: str
) -> StatementTemplate:
    access = await access_client(session, actor, client_id)
    access.require(rules.TEMPLATE_AUTHORS, "Only the agency proposes templates.")
    _check(name, body)
    client = access.client
    await _check_name_free(session, client.id, name.strip(), None)
    template = StatementTemplate(
        agency_id=client.agency_id,
        client_id=client.id,
        name=name.strip(),
        body=body.strip(),
        status=TemplateStatus.PROPOSED,
        proposed_by_id=actor.user_id,
    )
    session.add(template)
    await session.flush()
    await _event(session, TemplateAccess(template, access), actor, "template.proposed", {})
    return template


async def update_template(
    session: AsyncSession,
    actor: Actor,
    template_id: uuid.UUID,
    *,
    name: str | None,
    body: str | None,
) -> StatementTemplate:
    """Rename or reword (agency); new wording needs the client's approval again."""
    found = await get_template_for(session, actor, template_id, lock=True)
    found.access.require(rules.TEMPLATE_AUTHORS, "Only the agency edits templates.")
    if found.status is TemplateStatus.RETIRED:
        raise Conflict("This template is retired; propose a new one.")
    _check(name, body)
    template = found.template
    changes: dict[str, object] = {}
    if name is not None and name.strip() != template.name:
        await _check_name_free(session, template.client_id, name.strip(), template.id)
        changes["name"] = {"from": template.name, "to": name.strip()}
        template.name = name.strip()
    if body is not None and body.strip() != template.body:
        template.body = body.strip()
        template.version += 1
        changes["version"] = template.version
        if found.status is TemplateStatus.APPROVED:
            changes["approvalWithdrawn"] = True
        _back_to_proposed(template)
    if changes:
        await _event(session, found, actor, "template.updated", changes)
    return template


def _back_to_proposed(template: StatementTemplate) -> None:
    template.status = TemplateStatus.PROPOSED
    template.approved_by_id = None
    template.approved_at = None


async def approve_template(
    session: AsyncSession, actor: Actor, template_id: uuid.UUID, version: int | None
) -> StatementTemplate:
    """The client's executive or admin approves the wording they saw (``version``)."""
    found = await get_template_for(session, actor, template_id, lock=True)
    found.access.require(
        rules.TEMPLATE_APPROVERS, "Only the client's executives and admins approve templates."
    )
    template = found.template
    if found.status is not TemplateStatus.PROPOSED:
        raise Conflict(f"This template is {template.status}, not proposed.")
    if version is not None and version != template.version:
        raise Conflict(
            f"The wording changed since you read it (version {version}, now "
            f"{template.version}). Read it again before approving.",
            current={"version": template.version},
        )
    template.status = TemplateStatus.APPROVED
    template.approved_by_id = actor.user_id
    template.approved_at = utcnow()
    await _event(session, found, actor, "template.approved", {})
    return template


async def retire_template(
    session: AsyncSession, actor: Actor, template_id: uuid.UUID
) -> StatementTemplate:
    found = await get_template_for(session, actor, template_id, lock=True)
    if not rules.may_retire_template(found.access.role, found.status):
        raise Forbidden(
            "Only the client's executives and admins retire templates; "
            "the agency may withdraw a proposal."
        )
    template = found.template
    if found.status is TemplateStatus.RETIRED:
        raise Conflict("This template is already retired.")
    template.status = TemplateStatus.RETIRED
    template.retired_by_id = actor.user_id
    template.retired_at = utcnow()
    await _event(session, found, actor, "template.retired", {})
    return template


def _check(name: str | None, body: str | None) -> None:
    problems = rules.template_problems(name, body)
    if problems:
        field, message = problems[0]
        raise InvalidInput(message, field=field)


async def _check_name_free(
    session: AsyncSession, client_id: uuid.UUID, name: str, own_id: uuid.UUID | None
) -> None:
    taken = await session.scalar(
        select(StatementTemplate.id).where(
            StatementTemplate.client_id == client_id, StatementTemplate.name == name
        )
    )
    if taken is not None and taken != own_id:
        raise Conflict(f"A template named '{name}' already exists for this client.", field="name")


async def _event(
    session: AsyncSession,
    found: TemplateAccess,
    actor: Actor,
    type: str,
    extra: dict[str, object],
) -> None:
    template = found.template
    await record(
        session,
        found.access.client,
        actor.user_id,
        type,
        ("template", template.id),
        {
            "name": template.name,
            "status": template.status,
            "version": template.version,
            "role": found.access.role,
            **extra,
        },
    )
