"""A client's SLA policy, statement templates, emergency plan and rota in tenant files.

The spec types of the per-client tables ``[clients.sla_policy]``,
``[[clients.templates]]``, ``[clients.emergency_plan]`` and ``[clients.rota]``, and
their database side:
apply (create or update, only what differs, events like the API's) and export. The
rules themselves are the escalation feature's (``escalation.rules``, ``.plan``) and
the stored forms are its own (``sla.policy_to_json``, ``plan.plan_to_json``,
``rota.layer_to_json``), so a
policy from a file is stored exactly as one set through the API.

Imports point one way: ``tenantfiles.apply`` -> here; this module knows no TOML and
reports a conflict with the database as :class:`EscalationConflict` (a line and a
message) for the applier to turn into a ``TenantFileConflict``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import PurePath
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.db import utcnow
from agencyhub.escalation import plan as plan_rules
from agencyhub.escalation import rules as esc_rules
from agencyhub.escalation.models import (
    EmergencyPlanRecord,
    RotaRecord,
    SlaPolicyRecord,
    StatementTemplate,
)
from agencyhub.escalation.rota import layer_from_json, layer_to_json
from agencyhub.escalation.rules import TemplateStatus
from agencyhub.escalation.service import record
from agencyhub.escalation.sla import policy_from_record, policy_to_json
from agencyhub.tenancy.models import Client, User

__all__ = [
    "EscalationConflict",
    "LayerSpec",
    "PlanSpec",
    "RotaSpec",
    "SlaPolicySpec",
    "StepSpec",
    "TemplateSpec",
    "apply_escalation",
    "read_escalation",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # 0 = Monday, as in the rules


# --- specs ---------------------------------------------------------------------------------


def file_label(file: str) -> str:
    """How the audit trail names a tenant file: its name, never the machine's path
    (a client's audit CSV must not show the operator's folders)."""
    return PurePath(file).name or file


@dataclass(frozen=True, slots=True)
class SlaPolicySpec:
    """``[clients.sla_policy]`` with every default filled in (timezone: None = client's)."""

    targets: tuple[tuple[str, int, bool], ...]  # (severity, minutes, business_hours_only)
    hours: tuple[esc_rules.OpeningHours, ...]
    holidays: tuple[date, ...] = ()  # sorted
    reminder_at: float = 0.75
    timezone: str | None = None
    line: int = field(default=0, compare=False)

    def policy(self, client_timezone: str) -> esc_rules.SlaPolicy:
        return esc_rules.SlaPolicy(
            targets={
                severity: esc_rules.Target(timedelta(minutes=minutes), business_hours_only)
                for severity, minutes, business_hours_only in self.targets
            },
            calendar=esc_rules.BusinessCalendar(
                timezone=self.timezone or client_timezone,
                hours=self.hours,
                holidays=frozenset(self.holidays),
            ),
            reminder_at=self.reminder_at,
        )


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """``[[clients.templates]]``; without ``approved_by`` the template is only proposed."""

    name: str
    body: str
    approved_by: str | None = None  # e-mail of a client executive or admin
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class StepSpec:
    after_minutes: int
    notify: tuple[str, ...]
    users: tuple[str, ...] = ()  # e-mails
    channels: tuple[str, ...] = ("in_app",)
    fallback: str | None = None  # a plan_rules.FallbackAction value
    template: str | None = None  # the fallback's template, by name
    fallback_wait: int = 5  # minutes between the step's pages and its fallback
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class PlanSpec:
    steps: tuple[StepSpec, ...]
    line: int = field(default=0, compare=False)

    def plan(
        self, template_ids: Mapping[str, uuid.UUID], user_ids: Mapping[str, uuid.UUID]
    ) -> plan_rules.Plan:
        """The rules' plan, naming templates and people by the ids given for their names."""
        steps = []
        for step in self.steps:
            fallback = None
            if step.fallback is not None:
                template_id = template_ids.get(step.template) if step.template else None
                fallback = plan_rules.Fallback(
                    plan_rules.FallbackAction(step.fallback),
                    template_id,
                    timedelta(minutes=step.fallback_wait),
                )
            steps.append(
                plan_rules.Step(
                    after=timedelta(minutes=step.after_minutes),
                    notify=tuple(plan_rules.Target(t) for t in step.notify),
                    users=tuple(user_ids[email] for email in step.users if email in user_ids),
                    channels=step.channels,
                    fallback=fallback,
                )
            )
        return plan_rules.Plan(tuple(steps))


@dataclass(frozen=True, slots=True)
class LayerSpec:
    participants: tuple[str, ...]  # e-mails, in turn order
    starts_at: datetime
    rotation: str  # an esc_rules.Rotation value
    handoff: time
    timezone: str | None = None  # None: the client's
    ends_at: datetime | None = None
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class RotaSpec:
    """``[clients.rota]``: its layers and whom to page in a gap (None: all executives)."""

    layers: tuple[LayerSpec, ...]
    gap_contact: str | None = None
    line: int = field(default=0, compare=False)

    def rota_layers(
        self, client_timezone: str, user_ids: Mapping[str, uuid.UUID]
    ) -> tuple[esc_rules.Layer, ...]:
        return tuple(
            esc_rules.Layer(
                participants=tuple(user_ids[e] for e in layer.participants if e in user_ids),
                starts_at=layer.starts_at,
                rotation=esc_rules.Rotation(layer.rotation),
                handoff=layer.handoff,
                timezone=layer.timezone or client_timezone,
                ends_at=layer.ends_at,
            )
            for layer in self.layers
        )


def file_id(kind: str, name: str) -> uuid.UUID:
    """A stand-in id for validating with the pure rules before anything is stored."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"agencyhub-tenant-file:{kind}:{name}")


class EscalationConflict(Exception):
    """The file disagrees with the database at ``line``; nothing is applied."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(message)


# --- apply -----------------------------------------------------------------------------------


@dataclass
class _Target:
    session: AsyncSession
    client: Client
    where: str  # "agency/client" for the change descriptions
    file: str
    users: Mapping[str, User]  # by e-mail: everyone the files name
    roles: Mapping[str, str]  # e-mail -> role at this client, from the file
    changes: list[str] = field(default_factory=list)

    async def event(
        self, type: str, subject: tuple[str, uuid.UUID], actor: uuid.UUID | None, **payload: Any
    ) -> None:
        payload |= {"source": "tenant file", "file": file_label(self.file)}
        await record(self.session, self.client, actor, type, subject, payload)


async def apply_escalation(
    session: AsyncSession,
    client: Client,
    *,
    where: str,
    file: str,
    users: Mapping[str, User],
    roles: Mapping[str, str],
    sla_policy: SlaPolicySpec | None,
    templates: Sequence[TemplateSpec],
    emergency_plan: PlanSpec | None,
    rota: RotaSpec | None,
) -> list[str]:
    """Create or update the client's tables the file has; what changed, in words.

    The client's people are applied already, so ``users`` holds everyone named here.
    """
    target = _Target(session, client, where, file, users, roles)
    if sla_policy is not None:
        await _apply_sla_policy(target, sla_policy)
    by_name = await _apply_templates(target, templates)
    if emergency_plan is not None:
        await _apply_plan(target, emergency_plan, by_name)
    if rota is not None:
        await _apply_rota(target, rota)
    return target.changes


async def _apply_rota(target: _Target, spec: RotaSpec) -> None:
    client = target.client
    user_ids = {email: user.id for email, user in target.users.items()}
    layers = [layer_to_json(layer) for layer in spec.rota_layers(client.timezone, user_ids)]
    gap_contact = user_ids[spec.gap_contact] if spec.gap_contact else None
    row = await target.session.scalar(select(RotaRecord).where(RotaRecord.client_id == client.id))
    if row is not None and row.layers == layers and row.gap_contact_id == gap_contact:
        return
    if row is None:
        row = RotaRecord(agency_id=client.agency_id, client_id=client.id)
        target.session.add(row)
    row.layers = layers
    row.gap_contact_id = gap_contact
    row.updated_by_id = None
    await target.session.flush()
    await target.event(
        "rota.updated",
        ("client", client.id),
        None,
        layers=layers,
        gapContact=str(gap_contact) if gap_contact else None,
    )
    target.changes.append(f"set the rota of {target.where}")


async def _apply_sla_policy(target: _Target, spec: SlaPolicySpec) -> None:
    client = target.client
    stored = policy_to_json(spec.policy(client.timezone))
    row = await target.session.scalar(
        select(SlaPolicyRecord).where(SlaPolicyRecord.client_id == client.id)
    )
    if row is not None and _sla_json(row) == stored:
        return
    if row is None:
        row = SlaPolicyRecord(agency_id=client.agency_id, client_id=client.id)
        target.session.add(row)
    row.targets = stored["targets"]
    row.timezone = stored["timezone"]
    row.hours = stored["hours"]
    row.holidays = stored["holidays"]
    row.reminder_at = stored["reminderAt"]
    row.updated_by_id = None
    await target.session.flush()
    await target.event("sla_policy.updated", ("client", client.id), None, **stored)
    target.changes.append(f"set the SLA policy of {target.where}")


def _sla_json(row: SlaPolicyRecord) -> dict[str, Any]:
    return {
        "targets": row.targets,
        "timezone": row.timezone,
        "hours": row.hours,
        "holidays": row.holidays,
        "reminderAt": row.reminder_at,
    }


async def _apply_templates(
    target: _Target, specs: Sequence[TemplateSpec]
) -> dict[str, StatementTemplate]:
    session, client = target.session, target.client
    rows = await session.scalars(
        select(StatementTemplate).where(StatementTemplate.client_id == client.id)
    )
    by_name = {row.name: row for row in rows}
    for spec in specs:
        template = by_name.get(spec.name)
        if template is None:
            template = StatementTemplate(
                agency_id=client.agency_id,
                client_id=client.id,
                name=spec.name,
                body=spec.body,
                status=TemplateStatus.PROPOSED,
                version=1,
                proposed_by_id=None,
            )
            session.add(template)
            await session.flush()
            by_name[spec.name] = template
            await _template_event(target, template, "template.proposed", None, None)
            target.changes.append(f'proposed template "{spec.name}" for {target.where}')
        elif template.status == TemplateStatus.RETIRED:
            raise EscalationConflict(
                spec.line,
                f'templates: template "{spec.name}" is retired in the app; '
                "give the new wording another name or remove it from this file",
            )
        elif template.body != spec.body:
            withdrawn = template.status == TemplateStatus.APPROVED
            template.body = spec.body
            template.version += 1
            template.status = TemplateStatus.PROPOSED
            template.approved_by_id = None
            template.approved_at = None
            extra: dict[str, object] = {"version": template.version}
            if withdrawn:
                extra["approvalWithdrawn"] = True
            await _template_event(target, template, "template.updated", None, None, **extra)
            target.changes.append(f'reworded template "{spec.name}" of {target.where}')
        if spec.approved_by is not None and template.status == TemplateStatus.PROPOSED:
            # Recorded as the approver's own approval, as if they had approved it in the app.
            approver = target.users[spec.approved_by]
            template.status = TemplateStatus.APPROVED
            template.approved_by_id = approver.id
            template.approved_at = utcnow()
            role = target.roles.get(spec.approved_by)
            await _template_event(target, template, "template.approved", approver.id, role)
            target.changes.append(
                f'template "{spec.name}" of {target.where} approved by {spec.approved_by}'
            )
    await session.flush()
    return by_name


async def _template_event(
    target: _Target,
    template: StatementTemplate,
    type: str,
    actor: uuid.UUID | None,
    role: str | None,
    **extra: object,
) -> None:
    """The payload the API records (``templates._event``), plus the file."""
    payload = {
        "name": template.name,
        "status": template.status,
        "version": template.version,
        "role": role,
        **extra,
    }
    await target.event(type, ("template", template.id), actor, **payload)


async def _apply_plan(
    target: _Target, spec: PlanSpec, templates: Mapping[str, StatementTemplate]
) -> None:
    client = target.client
    approved = {name: t.id for name, t in templates.items() if t.status == TemplateStatus.APPROVED}
    for step in spec.steps:
        if step.template is not None and step.template not in approved:
            raise EscalationConflict(
                step.line,
                f'emergency_plan: template "{step.template}" is not approved by the client',
            )
    plan = spec.plan(approved, {email: user.id for email, user in target.users.items()})
    problems = plan_rules.plan_problems(plan, approved.values())
    if problems:  # validation has seen the same; kept so that nothing invalid is stored
        raise EscalationConflict(spec.line, f"emergency_plan.{problems[0][0]}: {problems[0][1]}")
    stored = plan_rules.plan_to_json(plan)
    row = await target.session.scalar(
        select(EmergencyPlanRecord).where(EmergencyPlanRecord.client_id == client.id)
    )
    if row is not None and row.steps == stored:
        return
    if row is None:
        row = EmergencyPlanRecord(agency_id=client.agency_id, client_id=client.id, steps=stored)
        target.session.add(row)
    row.steps = stored
    row.updated_by_id = None
    await target.session.flush()
    await target.event("emergency_plan.updated", ("client", client.id), None, steps=stored)
    target.changes.append(f"set the emergency plan of {target.where}")


# --- export ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EscalationSpecs:
    sla_policy: SlaPolicySpec | None
    templates: tuple[TemplateSpec, ...]
    emergency_plan: PlanSpec | None
    rota: RotaSpec | None


async def read_escalation(session: AsyncSession, client: Client) -> EscalationSpecs:
    """The client's stored policy, templates (not retired) and plan, as specs."""
    sla_row = await session.scalar(
        select(SlaPolicyRecord).where(SlaPolicyRecord.client_id == client.id)
    )
    template_rows = list(
        await session.scalars(
            select(StatementTemplate)
            .where(
                StatementTemplate.client_id == client.id,
                StatementTemplate.status != TemplateStatus.RETIRED,
            )
            .order_by(StatementTemplate.name)
        )
    )
    plan_row = await session.scalar(
        select(EmergencyPlanRecord).where(EmergencyPlanRecord.client_id == client.id)
    )
    plan = plan_rules.plan_from_json(plan_row.steps) if plan_row is not None else None
    rota_row = await session.scalar(select(RotaRecord).where(RotaRecord.client_id == client.id))
    layers = [layer_from_json(v) for v in rota_row.layers] if rota_row is not None else []
    user_ids = {t.approved_by_id for t in template_rows if t.approved_by_id}
    if plan is not None:
        user_ids |= {user for step in plan.steps for user in step.users}
    user_ids |= {person for layer in layers for person in layer.participants}
    if rota_row is not None and rota_row.gap_contact_id is not None:
        user_ids.add(rota_row.gap_contact_id)
    emails: dict[uuid.UUID, str] = {}
    if user_ids:
        users = await session.scalars(select(User).where(User.id.in_(sorted(user_ids))))
        emails = {user.id: user.email for user in users}
    names = {t.id: t.name for t in template_rows}
    return EscalationSpecs(
        sla_policy=_sla_spec(sla_row) if sla_row is not None else None,
        templates=tuple(
            TemplateSpec(
                name=t.name,
                body=t.body,
                approved_by=emails.get(t.approved_by_id) if t.approved_by_id else None,
            )
            for t in template_rows
        ),
        emergency_plan=_plan_spec(plan, names, emails) if plan is not None else None,
        rota=_rota_spec(rota_row, layers, emails) if rota_row is not None else None,
    )


def _rota_spec(
    row: RotaRecord, layers: Sequence[esc_rules.Layer], emails: Mapping[uuid.UUID, str]
) -> RotaSpec:
    gap_contact = emails.get(row.gap_contact_id) if row.gap_contact_id else None
    return RotaSpec(
        layers=tuple(
            LayerSpec(
                participants=tuple(emails[p] for p in layer.participants if p in emails),
                starts_at=layer.starts_at,
                rotation=layer.rotation.value,
                handoff=layer.handoff,
                timezone=layer.timezone,
                ends_at=layer.ends_at,
            )
            for layer in layers
        ),
        gap_contact=gap_contact,
    )


def _sla_spec(row: SlaPolicyRecord) -> SlaPolicySpec:
    policy = policy_from_record(row)
    return SlaPolicySpec(
        targets=tuple(
            (severity, int(t.response.total_seconds() // 60), t.business_hours_only)
            for severity, t in sorted(
                policy.targets.items(), key=lambda item: esc_rules.SEVERITIES.index(item[0])
            )
        ),
        hours=tuple(sorted(policy.calendar.hours, key=lambda h: (h.weekday, h.opens))),
        holidays=tuple(sorted(policy.calendar.holidays)),
        reminder_at=policy.reminder_at,
        timezone=policy.calendar.timezone,
    )


def _plan_spec(
    plan: plan_rules.Plan, names: Mapping[uuid.UUID, str], emails: Mapping[uuid.UUID, str]
) -> PlanSpec:
    return PlanSpec(
        steps=tuple(
            StepSpec(
                after_minutes=int(step.after.total_seconds() // 60),
                notify=tuple(t.value for t in step.notify),
                users=tuple(emails[u] for u in step.users if u in emails),
                channels=step.channels,
                fallback=step.fallback.action.value if step.fallback else None,
                template=(
                    names.get(step.fallback.template_id)
                    if step.fallback and step.fallback.template_id
                    else None
                ),
                fallback_wait=(
                    int(step.fallback.wait.total_seconds() // 60) if step.fallback else 5
                ),
            )
            for step in plan.steps
        )
    )
