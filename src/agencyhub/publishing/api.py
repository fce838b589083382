"""HTTP controllers of the publishing feature: the client's channels and inbox."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.publishing import service as publishing
from agencyhub.publishing.models import Channel, InboundItem
from agencyhub.publishing.schemas import (
    ChannelCreate,
    ChannelList,
    ChannelOut,
    InboundCreate,
    InboundList,
    InboundOut,
)
from agencyhub.publishing.schemas_internal import InboundData
from agencyhub.tenancy.rules import Actor


def channel_out(c: Channel) -> ChannelOut:
    return ChannelOut(
        id=c.id,
        client_id=c.client_id,
        platform=c.platform,
        handle=c.handle,
        display_name=c.display_name,
        text_limit=c.text_limit,
        created_at=c.created_at,
    )


def inbound_out(i: InboundItem) -> InboundOut:
    return InboundOut(
        id=i.id,
        client_id=i.client_id,
        channel_id=i.channel_id,
        external_id=i.external_id,
        kind=i.kind,
        body=i.body,
        author_name=i.author_name,
        author_handle=i.author_handle,
        url=i.url,
        severity=i.severity,
        received_at=i.received_at,
    )


class ChannelController(Controller):
    path = "/api/v1/clients/{client_id:uuid}"
    tags = ["channels and inbox"]

    @get("/channels")
    async def list_channels(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
    ) -> ChannelList:
        channels = await publishing.list_channels(session, actor, client_id)
        return ChannelList(items=[channel_out(c) for c in channels])

    @post("/channels", status_code=HTTP_201_CREATED)
    async def create_channel(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[ChannelCreate],
    ) -> ChannelOut:
        """Connect a social account; the text limit defaults to the platform's."""
        channel = await publishing.create_channel(
            session,
            actor,
            client_id,
            platform=data.platform,
            handle=data.handle,
            display_name=data.display_name,
            text_limit=data.text_limit,
        )
        return channel_out(channel)

    @get("/inbox")
    async def inbox(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        severity: Annotated[str | None, QueryParameter(name="severity")] = None,
        limit: Annotated[int, QueryParameter(name="limit", ge=1, le=500)] = 100,
    ) -> InboundList:
        items = await publishing.list_inbox(
            session, actor, client_id, severity=severity, limit=limit
        )
        return InboundList(items=[inbound_out(i) for i in items])

    @post("/inbound-items", status_code=HTTP_201_CREATED)
    async def record_inbound(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[InboundCreate],
    ) -> Response[InboundOut]:
        """Record a comment, mention, message or review; the same external id twice
        answers 200 with the first one."""
        item, created = await publishing.record_inbound(
            session,
            actor,
            client_id,
            InboundData(
                channel_id=data.channel_id,
                external_id=data.external_id,
                kind=data.kind,
                body=data.body,
                author_name=data.author_name,
                author_handle=data.author_handle,
                url=data.url,
                severity=data.severity,
                received_at=data.received_at,
            ),
        )
        return Response(inbound_out(item), status_code=HTTP_201_CREATED if created else HTTP_200_OK)


__all__ = ["ChannelController", "channel_out", "inbound_out"]
