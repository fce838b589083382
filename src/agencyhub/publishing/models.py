"""Channels (a client's social accounts) and inbound items received on them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agencyhub.db import Base, IdMixin, TenantOwned, TimestampMixin, utcnow


class Channel(IdMixin, TimestampMixin, TenantOwned, Base):
    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("client_id", "platform", "handle"),)

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(32))
    handle: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    text_limit: Mapped[int]
    archived_at: Mapped[datetime | None] = mapped_column(default=None)


class InboundItem(IdMixin, TenantOwned, Base):
    """A comment, mention, message or review; idempotent on (channel, external id)."""

    __tablename__ = "inbound_items"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_id"),
        Index("ix_inbound_items_client_id_received_at", "client_id", "received_at"),
    )

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    author_name: Mapped[str] = mapped_column(String(200), default="")
    author_handle: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(String(2000), default="")
    severity: Mapped[str] = mapped_column(String(16), default="normal")
    hidden_at: Mapped[datetime | None] = mapped_column(default=None)  # by an emergency plan
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
