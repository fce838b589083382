"""Use cases of channels and inbound items (ingestion by webhook comes later)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.audit.record import record_event
from agencyhub.db import utcnow
from agencyhub.errors import Conflict, Forbidden, InvalidInput, NotFound
from agencyhub.escalation.crisis import severity_for_new_item
from agencyhub.publishing.models import Channel, InboundItem
from agencyhub.publishing.rules import text_limit_for
from agencyhub.publishing.schemas_internal import InboundData
from agencyhub.tenancy import rules as tenancy_rules
from agencyhub.tenancy.models import Client
from agencyhub.tenancy.rules import Actor, Role
from agencyhub.tenancy.service import get_client_for

log = structlog.get_logger(__name__)

# Who may record an inbound item or change its severity: everyone but read-only viewers.
TRIAGE_ROLES = frozenset(
    {Role.OWNER, Role.ADMIN, Role.EDITOR, Role.CLIENT_ADMIN, Role.APPROVER, Role.EXECUTIVE}
)


def _role(actor: Actor, client: Client) -> str | None:
    return tenancy_rules.role_at_client(actor, client.agency_id, client.id)


async def list_channels(session: AsyncSession, actor: Actor, client_id: uuid.UUID) -> list[Channel]:
    client = await get_client_for(session, actor, client_id)
    rows = await session.scalars(
        select(Channel)
        .where(Channel.client_id == client.id, Channel.archived_at.is_(None))
        .order_by(Channel.platform, Channel.handle)
    )
    return list(rows)


async def create_channel(
    session: AsyncSession,
    actor: Actor,
    client_id: uuid.UUID,
    *,
    platform: str,
    handle: str,
    display_name: str,
    text_limit: int | None,
) -> Channel:
    client = await get_client_for(session, actor, client_id)
    if not tenancy_rules.can_manage_agency(actor, client.agency_id):
        raise Forbidden("Only the agency's owner or admins can connect channels.")
    handle = handle.strip()
    if not handle:
        raise InvalidInput("must not be blank", field="handle")
    exists = await session.scalar(
        select(Channel.id).where(
            Channel.client_id == client.id, Channel.platform == platform, Channel.handle == handle
        )
    )
    if exists is not None:
        raise Conflict(f"{platform} {handle} is already connected to this client.")
    channel = Channel(
        agency_id=client.agency_id,
        client_id=client.id,
        platform=platform,
        handle=handle,
        display_name=display_name.strip(),
        text_limit=text_limit_for(platform, text_limit),
    )
    session.add(channel)
    await session.flush()
    await record_event(
        session,
        type="channel.created",
        agency_id=client.agency_id,
        client_id=client.id,
        subject_type="channel",
        subject_id=channel.id,
        actor_user_id=actor.user_id,
        payload={"platform": platform, "handle": handle, "textLimit": channel.text_limit},
    )
    return channel


async def get_channel_of(session: AsyncSession, client: Client, channel_id: uuid.UUID) -> Channel:
    """A live channel of this client, else 422 naming ``channelId`` (it is input)."""
    channel = await session.scalar(
        select(Channel).where(Channel.id == channel_id, Channel.client_id == client.id)
    )
    if channel is None or channel.archived_at is not None:
        raise InvalidInput("is not a channel of this client", field="channelId")
    return channel


async def record_inbound(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, data: InboundData
) -> tuple[InboundItem, bool]:
    """Record an item; the same (channel, external id) again returns the first one."""
    client = await get_client_for(session, actor, client_id)
    if _role(actor, client) not in TRIAGE_ROLES:
        raise Forbidden("Viewers cannot record inbound items.")
    channel = await get_channel_of(session, client, data.channel_id)
    existing = await session.scalar(
        select(InboundItem).where(
            InboundItem.channel_id == channel.id, InboundItem.external_id == data.external_id
        )
    )
    if existing is not None:
        return existing, False
    item = InboundItem(
        agency_id=client.agency_id,
        client_id=client.id,
        channel_id=channel.id,
        external_id=data.external_id,
        kind=data.kind,
        author_name=data.author_name,
        author_handle=data.author_handle,
        body=data.body,
        url=data.url,
        # A client in crisis mode gets every new item as a crisis item.
        severity=await severity_for_new_item(session, client.id, data.severity),
        received_at=data.received_at or utcnow(),
    )
    session.add(item)
    await session.flush()
    await record_event(
        session,
        type="inbound.received",
        agency_id=client.agency_id,
        client_id=client.id,
        subject_type="inbound_item",
        subject_id=item.id,
        actor_user_id=actor.user_id,
        payload={"kind": item.kind, "severity": item.severity, "channelId": str(channel.id)},
    )
    return item, True


async def list_inbox(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, *, severity: str | None, limit: int
) -> Sequence[InboundItem]:
    client = await get_client_for(session, actor, client_id)
    query = select(InboundItem).where(InboundItem.client_id == client.id)
    if severity:
        query = query.where(InboundItem.severity == severity)
    query = query.order_by(InboundItem.received_at.desc(), InboundItem.id.desc()).limit(limit)
    return (await session.scalars(query)).all()


async def get_inbound_for(
    session: AsyncSession, actor: Actor, item_id: uuid.UUID
) -> tuple[InboundItem, Client]:
    item = await session.scalar(select(InboundItem).where(InboundItem.id == item_id))
    if item is None:
        raise NotFound("No such inbound item.")
    client = await get_client_for(session, actor, item.client_id)
    return item, client


async def change_inbound_severity(
    session: AsyncSession, actor: Actor, item_id: uuid.UUID, severity: str
) -> InboundItem:
    item, client = await get_inbound_for(session, actor, item_id)
    if _role(actor, client) not in TRIAGE_ROLES:
        raise Forbidden("Viewers cannot change severity.")
    if item.severity == severity:
        return item
    previous, item.severity = item.severity, severity
    await record_event(
        session,
        type="inbound.severity_changed",
        agency_id=client.agency_id,
        client_id=client.id,
        subject_type="inbound_item",
        subject_id=item.id,
        actor_user_id=actor.user_id,
        payload={"from": previous, "to": severity},
    )
    log.info("inbound.severity_changed", inbound_item_id=str(item.id), severity=severity)
    return item
