"""Per-client SLA policy, coverage rota (overrides, swap requests, calendar feeds) and
statement templates. Every row belongs to one agency (``agency_id``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from agencyhub.db import Base, IdMixin, TenantOwned, TimestampMixin, utcnow


class SlaPolicyRecord(IdMixin, TimestampMixin, TenantOwned, Base):
    """A client's response targets and business calendar; absent means the default."""

    __tablename__ = "sla_policies"

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), unique=True
    )
    # {"normal": {"minutes": 240, "businessHoursOnly": true}, ...}
    targets: Mapped[dict[str, Any]] = mapped_column(JSON)
    timezone: Mapped[str] = mapped_column(String(64))
    # [{"weekday": 0, "opens": "08:00", "closes": "18:00"}, ...]
    hours: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    holidays: Mapped[list[str]] = mapped_column(JSON, default=list)
    reminder_at: Mapped[float] = mapped_column(default=0.75)
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class RotaRecord(IdMixin, TimestampMixin, TenantOwned, Base):
    """A client's rotation layers (replaced as a whole) and whom to page in a gap."""

    __tablename__ = "rotas"

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), unique=True
    )
    # [{"participants": [uuid, ...], "startsAt": iso, "rotation": "weekly",
    #   "handoff": "09:00", "timezone": "Europe/Berlin", "endsAt": iso | null}, ...]
    layers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # None: page all of the client's executives in a gap.
    gap_contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class RotaOverride(IdMixin, TenantOwned, Base):
    """``substitute`` stands in for ``replaces`` (or whoever is on duty) for a while."""

    __tablename__ = "rota_overrides"
    __table_args__ = (Index("ix_rota_overrides_client_id_ends_at", "client_id", "ends_at"),)

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    substitute_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # CASCADE, not SET NULL: an empty ``replaces`` means "whoever is on duty".
    replaces_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None
    )
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(16))  # illness | holiday | other | swap
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RotaSwap(IdMixin, TenantOwned, Base):
    """A participant asks a colleague to take their duty for a while."""

    __tablename__ = "rota_swaps"
    __table_args__ = (Index("ix_rota_swaps_client_id_created_at", "client_id", "created_at"),)

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    requester_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    colleague_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    note: Mapped[str] = mapped_column(String(500), default="")
    override_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("rota_overrides.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)


class CalendarFeed(IdMixin, TenantOwned, Base):
    """A member's secret iCalendar feed of their own duty; only the token's SHA-256."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (UniqueConstraint("client_id", "user_id"),)

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    rotated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StatementTemplate(IdMixin, TimestampMixin, TenantOwned, Base):
    """A reusable statement: the agency proposes, the client approves; only approved
    templates may be published by an emergency plan's fallback."""

    __tablename__ = "statement_templates"
    __table_args__ = (
        UniqueConstraint("client_id", "name"),
        Index("ix_statement_templates_client_id_status", "client_id", "status"),
    )

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    version: Mapped[int] = mapped_column(default=1)  # bumped on every body change
    proposed_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    approved_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    retired_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    retired_at: Mapped[datetime | None] = mapped_column(default=None)


class EmergencyPlanRecord(IdMixin, TimestampMixin, TenantOwned, Base):
    """A client's emergency plan (replaced as a whole); absent means the default plan."""

    __tablename__ = "emergency_plans"

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), unique=True
    )
    # [{"afterMinutes": 0, "notify": ["on_duty"], "users": [], "channels": ["in_app"],
    #   "fallback": {"action": "publish_template", "templateId": uuid} | null}, ...]
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class DraftEscalation(IdMixin, TimestampMixin, TenantOwned, Base):
    """The plan frozen into a pending draft, and where its escalation stands.

    ``token`` is rotated whenever a step runs or the schedule changes: a wake-up
    message carrying another token is stale. ``round`` counts the draft's entries
    into the queue; each round runs its own steps.
    """

    __tablename__ = "draft_escalations"
    __table_args__ = (Index("ix_draft_escalations_next_due_at", "next_due_at"),)

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    draft_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("drafts.id", ondelete="CASCADE"), unique=True
    )
    revision_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    round: Mapped[int] = mapped_column(default=1)
    plan: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    sla_due_at: Mapped[datetime]
    # The severity whose SLA target set ``sla_due_at``: a fallback applies only while
    # the draft still has it (a kept earlier deadline is the higher severity's).
    deadline_severity: Mapped[str | None] = mapped_column(String(16), default=None)
    reminder_at: Mapped[datetime | None] = mapped_column(default=None)
    token: Mapped[str] = mapped_column(String(32))
    next_step: Mapped[int | None] = mapped_column(default=None)
    next_due_at: Mapped[datetime | None] = mapped_column(default=None)


class EscalationStepRun(IdMixin, TenantOwned, Base):
    """A step that ran: at most one per (draft, round, step)."""

    __tablename__ = "escalation_step_runs"
    __table_args__ = (UniqueConstraint("draft_id", "round", "step"),)

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    draft_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"))
    round: Mapped[int]
    step: Mapped[int]
    due_at: Mapped[datetime]
    ran_at: Mapped[datetime] = mapped_column(default=utcnow)
    notified: Mapped[list[str]] = mapped_column(JSON, default=list)
    fallback: Mapped[str | None] = mapped_column(String(32), default=None)


class Notification(IdMixin, TenantOwned, Base):
    """An in-app notification for one person."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_id_created_at", "user_id", "created_at"),)

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(default=None)


class Crisis(IdMixin, TenantOwned, Base):
    """A client's crisis mode, from declaration to its end; at most one open per client."""

    __tablename__ = "crises"
    __table_args__ = (
        Index(
            "ix_crises_open_client_id",
            "client_id",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
    )

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # Set when an emergency plan's fallback declared it.
    started_by_draft_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    reason: Mapped[str] = mapped_column(String(500), default="")
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
