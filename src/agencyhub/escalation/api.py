"""HTTP controllers of the escalation feature: SLA policy, rota, calendar feed, templates."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import structlog
from litestar import Controller, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.config import Settings
from agencyhub.db import utcnow
from agencyhub.errors import NotFound
from agencyhub.escalation import crisis, emergency, ical, notify, rota, sla, swaps, templates
from agencyhub.escalation import rules as escalation_rules
from agencyhub.escalation.models import Notification, RotaOverride, RotaSwap, StatementTemplate
from agencyhub.escalation.schemas import (
    CrisisBody,
    CrisisOut,
    EmergencyPlanBody,
    EmergencyPlanOut,
    FallbackOut,
    FeedOut,
    GapOut,
    GapsOut,
    LayerOut,
    NotificationList,
    NotificationOut,
    NotificationsRead,
    OnDutyOut,
    OpeningHoursOut,
    OverrideCreate,
    OverrideOut,
    PersonOut,
    PlanStepOut,
    RotaBody,
    RotaOut,
    SlaPolicyBody,
    SlaPolicyOut,
    SlaPreviewOut,
    SwapCreate,
    SwapList,
    SwapOut,
    TargetOut,
    TemplateApprove,
    TemplateCreate,
    TemplateList,
    TemplateOut,
    TemplateUpdate,
)
from agencyhub.tenancy import rules as tenancy_rules
from agencyhub.tenancy.models import User
from agencyhub.tenancy.rules import Actor
from agencyhub.tenancy.schemas import check_moment

log = structlog.get_logger(__name__)

SeverityName = Literal["normal", "high", "crisis"]

# --- response builders -------------------------------------------------------------------


def sla_policy_out(view: sla.SlaPolicyView) -> SlaPolicyOut:
    policy = view.policy
    return SlaPolicyOut(
        targets={
            severity: TargetOut(
                minutes=int(target.response.total_seconds() // 60),
                business_hours_only=target.business_hours_only,
            )
            for severity, target in policy.targets.items()
        },
        timezone=policy.calendar.timezone,
        hours=[
            OpeningHoursOut(
                weekday=h.weekday,
                opens=escalation_rules.format_clock(h.opens),
                closes=escalation_rules.format_clock(h.closes),
            )
            for h in policy.calendar.hours
        ],
        holidays=sorted(policy.calendar.holidays),
        reminder_at=policy.reminder_at,
        is_default=view.is_default,
        updated_at=view.record.updated_at if view.record else None,
    )


def preview_out(p: sla.SlaPreview) -> SlaPreviewOut:
    zone = ZoneInfo(p.timezone)
    return SlaPreviewOut(
        severity=p.severity,
        submitted_at=p.submitted_at,
        due_at=p.due_at,
        reminder_at=p.reminder_at,
        due_at_local=p.due_at.astimezone(zone).isoformat(),
        reminder_at_local=p.reminder_at.astimezone(zone).isoformat(),
        timezone=p.timezone,
        minutes=int(p.target.response.total_seconds() // 60),
        business_hours_only=p.target.business_hours_only,
    )


def person_out(user: User) -> PersonOut:
    return PersonOut(user_id=user.id, name=user.name, email=user.email)


def override_out(o: RotaOverride, actor: Actor) -> OverrideOut:
    reason, note = escalation_rules.absence_as_shown(
        o.reason,
        o.note,
        viewer_role=tenancy_rules.role_at_client(actor, o.agency_id, o.client_id),
        viewer_is_replaced=o.replaces_id == actor.user_id,
    )
    return OverrideOut(
        id=o.id,
        client_id=o.client_id,
        substitute_id=o.substitute_id,
        replaces=o.replaces_id,
        starts_at=o.starts_at,
        ends_at=o.ends_at,
        reason=reason,
        note=note,
        created_by_id=o.created_by_id,
        created_at=o.created_at,
    )


def rota_out(client_id: uuid.UUID, view: rota.RotaView, actor: Actor) -> RotaOut:
    return RotaOut(
        client_id=client_id,
        layers=[
            LayerOut(
                participants=list(layer.participants),
                starts_at=layer.starts_at,
                rotation=layer.rotation.value,
                handoff=escalation_rules.format_clock(layer.handoff),
                timezone=layer.timezone,
                ends_at=layer.ends_at,
            )
            for layer in view.layers
        ],
        gap_contact=view.record.gap_contact_id if view.record else None,
        overrides=[override_out(o, actor) for o in view.overrides],
        is_default=view.record is None,
        updated_at=view.record.updated_at if view.record else None,
    )


def on_duty_out(answer: rota.OnDuty) -> OnDutyOut:
    override = answer.duty.override if answer.duty.from_override else None
    return OnDutyOut(
        at=answer.at,
        on_duty=person_out(answer.person) if answer.person else None,
        from_override=override is not None,
        override_id=uuid.UUID(override.key) if override and override.key else None,
        until=answer.until,
        deputies=[person_out(u) for u in answer.deputies],
        gap_contacts=[person_out(u) for u in answer.gap_contacts],
    )


def gaps_out(found: rota.Gaps) -> GapsOut:
    return GapsOut(
        start=found.start,
        end=found.end,
        gaps=[
            GapOut(starts_at=a, ends_at=b, hours=round((b - a).total_seconds() / 3600, 2))
            for a, b in found.gaps
        ],
        gap_contact=found.gap_contact_id,
        gap_contacts=[person_out(u) for u in found.gap_contacts],
    )


def swap_out(s: RotaSwap) -> SwapOut:
    return SwapOut(
        id=s.id,
        client_id=s.client_id,
        requester_id=s.requester_id,
        colleague_id=s.colleague_id,
        starts_at=s.starts_at,
        ends_at=s.ends_at,
        status=s.status,
        note=s.note,
        override_id=s.override_id,
        created_at=s.created_at,
        decided_at=s.decided_at,
    )


def template_out(t: StatementTemplate) -> TemplateOut:
    return TemplateOut(
        id=t.id,
        client_id=t.client_id,
        name=t.name,
        body=t.body,
        status=t.status,
        version=t.version,
        proposed_by_id=t.proposed_by_id,
        approved_by_id=t.approved_by_id,
        approved_at=t.approved_at,
        retired_by_id=t.retired_by_id,
        retired_at=t.retired_at,
        created_at=t.created_at,
        updated_at=t.updated_at,
    )


def plan_out(view: emergency.PlanView) -> EmergencyPlanOut:
    return EmergencyPlanOut(
        client_id=view.client_id,
        steps=[
            PlanStepOut(
                after_minutes=int(step.after.total_seconds() // 60),
                notify=[t.value for t in step.notify],
                users=list(step.users),
                channels=list(step.channels),
                fallback=FallbackOut(
                    step.fallback.action.value,
                    step.fallback.template_id,
                    int(step.fallback.wait.total_seconds() // 60),
                )
                if step.fallback
                else None,
            )
            for step in view.plan.steps
        ],
        is_default=view.is_default,
        updated_at=view.record.updated_at if view.record else None,
    )


def notification_out(n: Notification) -> NotificationOut:
    return NotificationOut(
        id=n.id,
        client_id=n.client_id,
        kind=n.kind,
        subject_type=n.subject_type,
        subject_id=n.subject_id,
        title=n.title,
        body=n.body,
        created_at=n.created_at,
        read_at=n.read_at,
    )


def crisis_out(view: crisis.CrisisView) -> CrisisOut:
    c = view.crisis
    return CrisisOut(
        client_id=view.client_id,
        active=c is not None,
        started_at=c.started_at if c else None,
        started_by_id=c.started_by_id if c else None,
        started_by_draft_id=c.started_by_draft_id if c else None,
        reason=c.reason if c else "",
        paused_posts=view.paused_posts,
    )


# --- controllers -------------------------------------------------------------------------


class SlaPolicyController(Controller):
    path = "/api/v1/clients/{client_id:uuid}/sla-policy"
    tags = ["escalation"]

    @get("")
    async def get_policy(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
    ) -> SlaPolicyOut:
        """Response targets per severity and the business calendar (default if unset)."""
        return sla_policy_out(await sla.get_sla_policy(session, actor, client_id))

    @put("")
    async def put_policy(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[SlaPolicyBody],
    ) -> SlaPolicyOut:
        """Replace the SLA policy (client admins only)."""
        return sla_policy_out(await sla.set_sla_policy(session, actor, client_id, data))

    @get("/preview")
    async def preview(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        severity: Annotated[SeverityName, QueryParameter(name="severity")] = "normal",
        submitted_at: Annotated[datetime | None, QueryParameter(name="submittedAt")] = None,
    ) -> SlaPreviewOut:
        """When an item submitted at ``submittedAt`` (default now) is due and reminded."""
        submitted_at = check_moment(submitted_at, "submittedAt")
        found = await sla.preview(session, actor, client_id, severity, submitted_at)
        return preview_out(found)


class RotaController(Controller):
    path = "/api/v1/clients/{client_id:uuid}"
    tags = ["escalation"]

    @get("/rota")
    async def get_rota(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
    ) -> RotaOut:
        """Rotation layers, the gap contact, and running or upcoming overrides."""
        return rota_out(client_id, await rota.get_rota(session, actor, client_id), actor)

    @put("/rota")
    async def put_rota(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[RotaBody],
    ) -> RotaOut:
        """Replace the rotation layers and the gap contact (client admins only)."""
        return rota_out(client_id, await rota.set_rota(session, actor, client_id, data), actor)

    @post("/rota/overrides", status_code=HTTP_201_CREATED)
    async def create_override(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[OverrideCreate],
    ) -> OverrideOut:
        """A substitute stands in (client admins, or the person replaced)."""
        return override_out(await rota.create_override(session, actor, client_id, data), actor)

    @get("/on-duty")
    async def on_duty(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        at: Annotated[datetime | None, QueryParameter(name="at")] = None,
    ) -> OnDutyOut:
        """Who is on duty at ``at`` (default now); in a gap, whom to page instead."""
        at = check_moment(at, "at")
        return on_duty_out(await rota.who_is_on_duty(session, actor, client_id, at))

    @get("/rota/gaps")
    async def gaps(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        days: Annotated[int, QueryParameter(name="days", ge=1, le=rota.MAX_GAP_DAYS)] = 14,
    ) -> GapsOut:
        """Periods in the next ``days`` days with nobody on duty, merged."""
        return gaps_out(await rota.coverage_gaps(session, actor, client_id, days))

    @get("/rota/swaps")
    async def list_swaps(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        status: Annotated[
            Literal["pending", "accepted", "declined"] | None, QueryParameter(name="status")
        ] = None,
    ) -> SwapList:
        found = await swaps.list_swaps(session, actor, client_id, status)
        return SwapList(items=[swap_out(s) for s in found])

    @post("/rota/swaps", status_code=HTTP_201_CREATED)
    async def request_swap(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[SwapCreate],
    ) -> SwapOut:
        """Ask a colleague to take your duty from ``startsAt`` to ``endsAt``."""
        return swap_out(await swaps.request_swap(session, actor, client_id, data))

    @post("/rota/feed", status_code=HTTP_201_CREATED)
    async def rotate_feed(
        self,
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
    ) -> FeedOut:
        """Your secret iCalendar feed URL (shown once; posting again replaces it)."""
        new = await ical.rotate_feed(session, settings, actor, client_id)
        return FeedOut(url=new.url, token_prefix=new.feed.prefix, rotated_at=new.feed.rotated_at)


class RotaChangeController(Controller):
    path = "/api/v1"
    tags = ["escalation"]

    @delete("/rota-overrides/{override_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def remove_override(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        override_id: FromPath[uuid.UUID],
    ) -> None:
        await rota.remove_override(session, actor, override_id)

    @post("/rota-swaps/{swap_id:uuid}/accept", status_code=HTTP_200_OK)
    async def accept_swap(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        swap_id: FromPath[uuid.UUID],
    ) -> SwapOut:
        """Take the shift (the colleague asked only); creates an override."""
        return swap_out(await swaps.decide_swap(session, actor, swap_id, accept=True))

    @post("/rota-swaps/{swap_id:uuid}/decline", status_code=HTTP_200_OK)
    async def decline_swap(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        swap_id: FromPath[uuid.UUID],
    ) -> SwapOut:
        return swap_out(await swaps.decide_swap(session, actor, swap_id, accept=False))


class CalendarFeedController(Controller):
    path = "/api/v1/calendar"
    tags = ["escalation"]

    @get("/{feed:str}", media_type="text/calendar")
    async def feed(
        self, session: NamedDependency[AsyncSession], feed: FromPath[str]
    ) -> Response[bytes]:
        """The feed owner's duty shifts for the next 60 days (no sign-in: the URL is
        the credential)."""
        token, dot_ics, rest = feed.partition(".ics")
        if not dot_ics or rest:
            raise NotFound("No such calendar feed.")
        body = await ical.render_feed(session, token)
        return Response(
            body,
            media_type="text/calendar",  # Litestar adds "; charset=utf-8" to text types
            headers={"Cache-Control": "private, max-age=300"},
        )


class TemplateController(Controller):
    path = "/api/v1"
    tags = ["escalation"]

    @get("/clients/{client_id:uuid}/templates")
    async def list_templates(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        status: Annotated[
            Literal["proposed", "approved", "retired"] | None, QueryParameter(name="status")
        ] = None,
    ) -> TemplateList:
        rows = await templates.list_templates(session, actor, client_id, status)
        return TemplateList(items=[template_out(t) for t in rows])

    @post("/clients/{client_id:uuid}/templates", status_code=HTTP_201_CREATED)
    async def propose(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[TemplateCreate],
    ) -> TemplateOut:
        """The agency proposes a statement; the client must approve it before use."""
        template = await templates.propose_template(session, actor, client_id, data.name, data.body)
        return template_out(template)

    @patch("/templates/{template_id:uuid}")
    async def update(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        template_id: FromPath[uuid.UUID],
        data: JSONBody[TemplateUpdate],
    ) -> TemplateOut:
        """Rename or reword (agency); a new wording goes back to "proposed"."""
        template = await templates.update_template(
            session,
            actor,
            template_id,
            name=data.name if isinstance(data.name, str) else None,
            body=data.body if isinstance(data.body, str) else None,
        )
        return template_out(template)

    @post("/templates/{template_id:uuid}/approve", status_code=HTTP_200_OK)
    async def approve(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        template_id: FromPath[uuid.UUID],
        data: JSONBody[TemplateApprove | None] = None,
    ) -> TemplateOut:
        """Approve the wording (client executives and admins); send the ``version`` you
        read to be sure nobody changed it meanwhile (the body is optional)."""
        version = data.version if data is not None else None
        return template_out(await templates.approve_template(session, actor, template_id, version))

    @post("/templates/{template_id:uuid}/retire", status_code=HTTP_200_OK)
    async def retire(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        template_id: FromPath[uuid.UUID],
    ) -> TemplateOut:
        """Retire (client executives and admins; the agency while still proposed)."""
        return template_out(await templates.retire_template(session, actor, template_id))


class EmergencyPlanController(Controller):
    path = "/api/v1/clients/{client_id:uuid}/emergency-plan"
    tags = ["escalation"]

    @get("")
    async def get_plan(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
    ) -> EmergencyPlanOut:
        """Escalation steps and the fallback (the default plan if none is saved)."""
        return plan_out(await emergency.get_emergency_plan(session, actor, client_id))

    @put("")
    async def put_plan(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[EmergencyPlanBody],
    ) -> EmergencyPlanOut:
        """Replace the plan (client admins); drafts already in the queue keep theirs."""
        return plan_out(await emergency.set_emergency_plan(session, actor, client_id, data))


class NotificationController(Controller):
    path = "/api/v1/me/notifications"
    tags = ["escalation"]

    @get("")
    async def list_notifications(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        unread: Annotated[bool, QueryParameter(name="unread")] = False,
    ) -> NotificationList:
        """The caller's in-app notifications, newest first."""
        rows = await notify.list_my_notifications(session, actor, unread_only=unread)
        return NotificationList(items=[notification_out(n) for n in rows])

    @post("/{notification_id:uuid}/read", status_code=200)
    async def mark_read(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        notification_id: FromPath[uuid.UUID],
    ) -> NotificationOut:
        """Mark one of your notifications read (again: nothing changes)."""
        notification = await notify.mark_read(session, actor, notification_id, utcnow())
        log.info("notification.read", notification_id=str(notification_id))
        return notification_out(notification)

    @post("/read", status_code=200)
    async def mark_all_read(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> NotificationsRead:
        """Mark every unread notification of yours read; answers how many."""
        count = await notify.mark_all_read(session, actor, utcnow())
        log.info("notification.all_read", count=count)
        return NotificationsRead(read=count)


class CrisisController(Controller):
    path = "/api/v1/clients/{client_id:uuid}/crisis"
    tags = ["escalation"]

    @get("")
    async def get_crisis(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
    ) -> CrisisOut:
        """Whether the client is in crisis mode (every client view shows this)."""
        return crisis_out(await crisis.get_crisis(session, actor, client_id))

    @post("", status_code=HTTP_200_OK)
    async def declare(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[CrisisBody | None] = None,
    ) -> CrisisOut:
        """Declare crisis mode (client executives/admins): pauses scheduled posts,
        raises new inbound items to crisis severity. Declaring again changes nothing."""
        reason = data.reason if data is not None else ""
        return crisis_out(await crisis.declare_crisis(session, actor, client_id, reason))

    @delete("", status_code=HTTP_200_OK)
    async def end(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
    ) -> CrisisOut:
        """End crisis mode (client executives/admins only); paused posts resume."""
        return crisis_out(await crisis.end_crisis(session, actor, client_id))


__all__ = [
    "CalendarFeedController",
    "CrisisController",
    "EmergencyPlanController",
    "NotificationController",
    "RotaChangeController",
    "RotaController",
    "SlaPolicyController",
    "TemplateController",
]
