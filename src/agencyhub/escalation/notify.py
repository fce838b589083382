"""Notification channels behind one interface, and a person's in-app notifications.

In-app notifications are rows written in the escalation step's transaction, so they
exist exactly when the step does. Channels that leave the database (e-mail, webhooks,
when the notifications feature lands) implement :class:`Notifier` by enqueueing their
own retried delivery after commit; a failure then never undoes the step.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.errors import NotFound
from agencyhub.escalation.models import Notification
from agencyhub.tenancy.models import Client
from agencyhub.tenancy.rules import Actor

NOTIFICATION_PAGE = 100


@dataclass(frozen=True, slots=True)
class Message:
    client: Client
    recipients: tuple[uuid.UUID, ...]
    kind: str  # "escalation.reminder", "escalation.step", ...
    title: str
    body: str
    subject: tuple[str, uuid.UUID]


class Notifier(Protocol):
    """Delivers messages; several steps run together hand theirs over in one call."""

    async def notify(self, session: AsyncSession, messages: Sequence[Message]) -> None: ...


class InAppNotifier:
    """One Notification row per recipient, in the caller's transaction: one Core
    insert for all of them (nobody reads them back in that transaction)."""

    async def notify(self, session: AsyncSession, messages: Sequence[Message]) -> None:
        rows = [
            {
                "agency_id": message.client.agency_id,
                "client_id": message.client.id,
                "user_id": user_id,
                "kind": message.kind,
                "subject_type": message.subject[0],
                "subject_id": message.subject[1],
                "title": message.title[:200],
                "body": message.body,
            }
            for message in messages
            for user_id in message.recipients
        ]
        if rows:
            await session.execute(insert(Notification), rows)


def default_notifiers() -> dict[str, Notifier]:
    return {"in_app": InAppNotifier()}


async def list_my_notifications(
    session: AsyncSession, actor: Actor, *, unread_only: bool = False
) -> Sequence[Notification]:
    """The caller's own notifications, newest first, in the agencies they belong to."""
    query = select(Notification).where(Notification.user_id == actor.user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc())
    return (await session.scalars(query.limit(NOTIFICATION_PAGE))).all()


async def mark_read(
    session: AsyncSession, actor: Actor, notification_id: uuid.UUID, now: datetime
) -> Notification:
    """One of the caller's notifications, read (idempotent: the first time stays);
    anyone else's answers 404 like a missing one."""
    notification = await session.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.user_id == actor.user_id
        )
    )
    if notification is None:
        raise NotFound("No such notification.")
    if notification.read_at is None:
        notification.read_at = now
    return notification


async def mark_all_read(session: AsyncSession, actor: Actor, now: datetime) -> int:
    """Every unread notification of the caller, read; how many there were."""
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == actor.user_id, Notification.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
