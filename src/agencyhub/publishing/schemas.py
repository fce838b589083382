"""Request and response structures of the publishing API: channels and inbound items
(camelCase on the wire). The text types are shared with the approvals API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from agencyhub.tenancy.schemas import Camel, Out

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=100_000)]
Short = Annotated[str, msgspec.Meta(max_length=200)]
Url = Annotated[str, msgspec.Meta(max_length=2000)]
SeverityName = Literal["normal", "high", "crisis"]


# --- channels and inbound items -----------------------------------------------------


class ChannelCreate(Camel):
    platform: Literal[
        "facebook", "instagram", "linkedin", "x", "mastodon", "tiktok", "website", "other"
    ]
    handle: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    display_name: Short = ""
    text_limit: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None = None


class ChannelOut(Out):
    id: uuid.UUID
    client_id: uuid.UUID
    platform: str
    handle: str
    display_name: str
    text_limit: int
    created_at: datetime


class ChannelList(Out):
    items: list[ChannelOut]


class InboundCreate(Camel):
    channel_id: uuid.UUID
    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    kind: Literal["comment", "mention", "direct_message", "review"]
    body: Text
    author_name: Short = ""
    author_handle: Short = ""
    url: Url = ""
    severity: SeverityName = "normal"
    received_at: datetime | None = None


class InboundUpdate(Camel):
    severity: SeverityName


class InboundOut(Out):
    id: uuid.UUID
    client_id: uuid.UUID
    channel_id: uuid.UUID
    external_id: str
    kind: str
    body: str
    author_name: str
    author_handle: str
    url: str
    severity: str
    received_at: datetime


class InboundList(Out):
    items: list[InboundOut]
