"""Request and response structures of the escalation API (camelCase on the wire)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from agencyhub.tenancy.schemas import Camel, Out

Clock = Annotated[str, msgspec.Meta(pattern=r"^\d{2}:\d{2}$", examples=["08:00"])]
TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Note = Annotated[str, msgspec.Meta(max_length=500)]
SeverityName = Literal["normal", "high", "crisis"]


# --- SLA policy ----------------------------------------------------------------------------


class TargetBody(Camel):
    minutes: Annotated[int, msgspec.Meta(ge=1, le=10_080)]
    business_hours_only: bool


class OpeningHoursBody(Camel):
    weekday: Annotated[int, msgspec.Meta(ge=0, le=6)]
    opens: Clock
    closes: Clock  # "24:00" closes at midnight


def _default_hours() -> list[OpeningHoursBody]:
    return [OpeningHoursBody(weekday=d, opens="08:00", closes="18:00") for d in range(5)]


class TargetsBody(Camel):
    normal: TargetBody = msgspec.field(default_factory=lambda: TargetBody(240, True))
    high: TargetBody = msgspec.field(default_factory=lambda: TargetBody(60, False))
    crisis: TargetBody = msgspec.field(default_factory=lambda: TargetBody(15, False))


class SlaPolicyBody(Camel):
    """The whole policy (PUT replaces it); omitted parts take the defaults."""

    targets: TargetsBody = msgspec.field(default_factory=TargetsBody)
    timezone: TimeZone | None = None  # the client's time zone when omitted
    hours: list[OpeningHoursBody] = msgspec.field(default_factory=_default_hours)
    holidays: list[date] = msgspec.field(default_factory=list)
    reminder_at: float = 0.75


class TargetOut(Out):
    minutes: int
    business_hours_only: bool


class OpeningHoursOut(Out):
    weekday: int
    opens: str
    closes: str


class SlaPolicyOut(Out):
    targets: dict[str, TargetOut]
    timezone: str
    hours: list[OpeningHoursOut]
    holidays: list[date]
    reminder_at: float
    is_default: bool
    updated_at: datetime | None = None


class SlaPreviewOut(Out):
    severity: str
    submitted_at: datetime
    due_at: datetime
    reminder_at: datetime
    due_at_local: str
    reminder_at_local: str
    timezone: str
    minutes: int
    business_hours_only: bool


# --- rota ------------------------------------------------------------------------------


class LayerBody(Camel):
    participants: list[uuid.UUID]
    starts_at: datetime
    rotation: Literal["daily", "weekly"]
    handoff: Clock
    timezone: TimeZone | None = None  # the client's time zone when omitted
    ends_at: datetime | None = None


class RotaBody(Camel):
    layers: list[LayerBody]
    gap_contact: uuid.UUID | None = None  # None: page all of the client's executives


class PersonOut(Out):
    user_id: uuid.UUID
    name: str
    email: str


class LayerOut(Out):
    participants: list[uuid.UUID]
    starts_at: datetime
    rotation: str
    handoff: str
    timezone: str
    ends_at: datetime | None


class OverrideCreate(Camel):
    substitute_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: Literal["illness", "holiday", "other"]
    replaces: uuid.UUID | None = None  # None: whoever is on duty
    note: Note = ""


class OverrideOut(Out):
    id: uuid.UUID
    client_id: uuid.UUID
    substitute_id: uuid.UUID
    replaces: uuid.UUID | None
    starts_at: datetime
    ends_at: datetime
    reason: str
    note: str
    created_by_id: uuid.UUID | None
    created_at: datetime


class RotaOut(Out):
    client_id: uuid.UUID
    layers: list[LayerOut]
    gap_contact: uuid.UUID | None
    overrides: list[OverrideOut]  # running and upcoming
    is_default: bool
    updated_at: datetime | None = None


class OnDutyOut(Out):
    at: datetime
    on_duty: PersonOut | None
    from_override: bool
    override_id: uuid.UUID | None
    until: datetime | None  # when this duty ends (within the next weeks)
    deputies: list[PersonOut]  # the next turns of the covering layer
    gap_contacts: list[PersonOut]  # whom to page while nobody is on duty


class GapOut(Out):
    starts_at: datetime
    ends_at: datetime
    hours: float


class GapsOut(Out):
    start: datetime
    end: datetime
    gaps: list[GapOut]
    gap_contact: uuid.UUID | None
    gap_contacts: list[PersonOut]


class SwapCreate(Camel):
    colleague_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    note: Note = ""


class SwapOut(Out):
    id: uuid.UUID
    client_id: uuid.UUID
    requester_id: uuid.UUID
    colleague_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    status: str
    note: str
    override_id: uuid.UUID | None
    created_at: datetime
    decided_at: datetime | None


class SwapList(Out):
    items: list[SwapOut]


class FeedOut(Out):
    url: str  # shown once: only its hash is kept
    token_prefix: str
    rotated_at: datetime


# --- templates -----------------------------------------------------------------------------


class TemplateCreate(Camel):
    name: Annotated[str, msgspec.Meta(max_length=200)]
    body: Annotated[str, msgspec.Meta(max_length=20_000)]


class TemplateUpdate(Camel):
    name: Annotated[str, msgspec.Meta(max_length=200)] | msgspec.UnsetType = msgspec.UNSET
    body: Annotated[str, msgspec.Meta(max_length=20_000)] | msgspec.UnsetType = msgspec.UNSET


class TemplateApprove(Camel):
    version: Annotated[int, msgspec.Meta(ge=1)] | None = None  # the wording you read


class TemplateOut(Out):
    id: uuid.UUID
    client_id: uuid.UUID
    name: str
    body: str
    status: str
    version: int
    proposed_by_id: uuid.UUID | None
    approved_by_id: uuid.UUID | None
    approved_at: datetime | None
    retired_by_id: uuid.UUID | None
    retired_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TemplateList(Out):
    items: list[TemplateOut]


# --- emergency plan, notifications, crisis -------------------------------------------------

TargetName = Literal["on_duty", "deputies", "all_approvers", "executives", "users"]
FallbackName = Literal["publish_template", "hide_item", "crisis_mode"]


class FallbackBody(Camel):
    action: FallbackName
    template_id: uuid.UUID | None = None
    # Minutes after the step paged its people, so the last of them can still act.
    wait_minutes: Annotated[int, msgspec.Meta(ge=0, le=1440)] = 5


class PlanStepBody(Camel):
    after_minutes: Annotated[int, msgspec.Meta(ge=0, le=10_080)]
    notify: Annotated[list[TargetName], msgspec.Meta(max_length=5)]
    users: Annotated[list[uuid.UUID], msgspec.Meta(max_length=20)] = msgspec.field(
        default_factory=list
    )  # whom "users" in ``notify`` names
    channels: Annotated[list[Literal["in_app"]], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["in_app"]
    )
    fallback: FallbackBody | None = None


class EmergencyPlanBody(Camel):
    """The whole plan (PUT replaces it)."""

    steps: Annotated[list[PlanStepBody], msgspec.Meta(min_length=1, max_length=10)]


class FallbackOut(Out):
    action: str
    template_id: uuid.UUID | None
    wait_minutes: int


class PlanStepOut(Out):
    after_minutes: int
    notify: list[str]
    users: list[uuid.UUID]
    channels: list[str]
    fallback: FallbackOut | None


class EmergencyPlanOut(Out):
    client_id: uuid.UUID
    steps: list[PlanStepOut]
    is_default: bool
    updated_at: datetime | None


class NotificationOut(Out):
    id: uuid.UUID
    client_id: uuid.UUID
    kind: str
    subject_type: str
    subject_id: uuid.UUID | None
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


class NotificationList(Out):
    items: list[NotificationOut]


class NotificationsRead(Out):
    read: int  # how many were unread


class CrisisBody(Camel):
    reason: Note = ""


class CrisisOut(Out):
    client_id: uuid.UUID
    active: bool
    started_at: datetime | None
    started_by_id: uuid.UUID | None
    started_by_draft_id: uuid.UUID | None
    reason: str
    paused_posts: int
