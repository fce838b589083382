"""Drafts, their immutable revisions, decisions, comments, and each client's policy."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from agencyhub.db import Base, IdMixin, TenantOwned, TimestampMixin, utcnow


class Draft(IdMixin, TimestampMixin, TenantOwned, Base):
    """A recommended post or reply; its content lives in revisions."""

    __tablename__ = "drafts"
    __table_args__ = (
        # The queue: pending drafts of a client, soonest SLA first, then severity, age.
        # The tenant key leads because every query carries it (the tenant criteria):
        # with it first, the planner reads the page in order and stops at the limit.
        Index(
            "ix_drafts_queue",
            "agency_id",
            "client_id",
            "sla_due_at",
            "severity_order",
            "submitted_at",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_drafts_client_id_status", "client_id", "status"),
    )

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    inbound_item_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("inbound_items.id", ondelete="CASCADE"), default=None, index=True
    )
    title: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(32), default="draft")
    severity: Mapped[str] = mapped_column(String(16), default="normal")
    severity_order: Mapped[int] = mapped_column(default=2)
    version: Mapped[int] = mapped_column(default=1)
    current_revision_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    revision_count: Mapped[int] = mapped_column(default=0)
    scheduled_for: Mapped[datetime | None] = mapped_column(default=None)
    paused_at: Mapped[datetime | None] = mapped_column(default=None)  # crisis mode holds it
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)
    sla_due_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    approved_wording: Mapped[int | None] = mapped_column(default=None)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class Revision(IdMixin, TenantOwned, Base):
    """Immutable content of a draft: wordings, media, and the agency's rationale."""

    __tablename__ = "revisions"
    __table_args__ = (UniqueConstraint("draft_id", "number"),)

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    draft_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"))
    number: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    alternatives: Mapped[list[str]] = mapped_column(JSON, default=list)
    media: Mapped[list[str]] = mapped_column(JSON, default=list)
    rationale: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def wordings(self) -> list[str]:
        return [self.body, *self.alternatives]


class Decision(IdMixin, TenantOwned, Base):
    """An approver's approve / reject / request changes, bound to one revision."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_draft_id_revision_id", "draft_id", "revision_id"),)

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    draft_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"))
    revision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("revisions.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    role: Mapped[str] = mapped_column(String(32))
    decision: Mapped[str] = mapped_column(String(32))
    wording: Mapped[int | None] = mapped_column(default=None)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Comment(IdMixin, TenantOwned, Base):
    """Discussion on a draft: shared with the client, or internal to the agency."""

    __tablename__ = "draft_comments"
    __table_args__ = (Index("ix_draft_comments_draft_id_created_at", "draft_id", "created_at"),)

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    draft_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    visibility: Mapped[str] = mapped_column(String(16), default="shared")
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApprovalPolicy(IdMixin, TimestampMixin, TenantOwned, Base):
    """How many approvals, from which roles, each severity needs at one client."""

    __tablename__ = "approval_policies"

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), unique=True
    )
    requirements: Mapped[dict[str, Any]] = mapped_column(JSON)
    four_eyes: Mapped[bool] = mapped_column(default=True)
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
