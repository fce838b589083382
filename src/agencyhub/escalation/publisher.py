"""Where a fallback reply goes out: the publishing feature's adapters, once they exist.

Until then :class:`LoggingPublisher` records the publication in the log. A publisher
is called only after the step's transaction committed (``db.after_commit``), so
nothing is published for a step that rolled back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Publication:
    agency_id: uuid.UUID
    client_id: uuid.UUID
    draft_id: uuid.UUID
    channel_id: uuid.UUID
    inbound_item_id: uuid.UUID
    body: str
    template_id: uuid.UUID
    step: int


class Publisher(Protocol):
    def publish_reply(self, publication: Publication) -> None: ...


class LoggingPublisher:
    def publish_reply(self, publication: Publication) -> None:
        log.info(
            "publishing.fallback_reply",
            draft_id=str(publication.draft_id),
            channel_id=str(publication.channel_id),
            inbound_item_id=str(publication.inbound_item_id),
            template_id=str(publication.template_id),
            step=publication.step,
            characters=len(publication.body),
        )
