"""Each member's secret iCalendar feed of their own duty shifts.

``POST .../rota/feed`` gives the signed-in member a feed URL whose token is shown once
and stored only as its SHA-256 (like API tokens); posting again rotates it. The feed
itself needs no sign-in: the token is the credential. Finding a token crosses tenants,
so the lookup runs in the named system scope ``calendar.feed``; once found, the rest
runs as the feed's owner would see it (their memberships, the feed's tenant), so a
member who has left the client gets 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.config import Settings
from agencyhub.db import Scope, set_scope, utcnow
from agencyhub.errors import NotFound
from agencyhub.escalation import rules
from agencyhub.escalation.models import CalendarFeed, RotaOverride
from agencyhub.escalation.rota import load_rota, on_duty_people
from agencyhub.escalation.service import access_client, record
from agencyhub.tenancy.auth import load_actor
from agencyhub.tenancy.models import Client, User
from agencyhub.tenancy.rules import Actor
from agencyhub.tenancy.secrets import new_token, token_digest
from agencyhub.tenancy.service import get_client_for

FEED_TOKEN_PREFIX = "ahc_"
FEED_DAYS = 60
FEED_PATH = "/api/v1/calendar/{token}.ics"
PRODID = "-//AgencyHub//Coverage rota//EN"


@dataclass(frozen=True, slots=True)
class NewFeed:
    url: str  # contains the token: shown once
    feed: CalendarFeed


async def rotate_feed(
    session: AsyncSession, settings: Settings, actor: Actor, client_id: uuid.UUID
) -> NewFeed:
    """A new secret feed URL for the caller at this client; the old one stops working."""
    access = await access_client(session, actor, client_id)
    client = access.client
    feed = await session.scalar(
        select(CalendarFeed).where(
            CalendarFeed.client_id == client.id, CalendarFeed.user_id == actor.user_id
        )
    )
    token = new_token(FEED_TOKEN_PREFIX)
    if feed is None:
        feed = CalendarFeed(agency_id=client.agency_id, client_id=client.id, user_id=actor.user_id)
        session.add(feed)
    feed.token_hash = token_digest(token)
    feed.prefix = token[:10]
    feed.rotated_at = utcnow()
    await session.flush()
    await record(
        session,
        client,
        actor.user_id,
        "calendar_feed.rotated",
        ("calendar_feed", feed.id),
        {"userId": str(actor.user_id), "prefix": feed.prefix},
    )
    url = settings.base_url.rstrip("/") + FEED_PATH.format(token=token)
    return NewFeed(url=url, feed=feed)


async def render_feed(session: AsyncSession, token: str, *, now: datetime | None = None) -> bytes:
    """The owner's duty shifts of the next :data:`FEED_DAYS` days as iCalendar."""
    await set_scope(session, Scope.for_system("calendar.feed"))
    feed = await session.scalar(
        select(CalendarFeed).where(CalendarFeed.token_hash == token_digest(token))
    )
    user = await session.get(User, feed.user_id) if feed is not None else None
    if feed is None or user is None or not user.is_active:
        raise NotFound("No such calendar feed.")
    # Leave the system scope: from here on, see exactly what the owner may see.
    actor = await load_actor(session, feed.user_id)
    client = await get_client_for(session, actor, feed.client_id)
    now = now or utcnow()
    end = now + timedelta(days=FEED_DAYS)
    view = await load_rota(session, client, now - rules.SHIFT_LOOKBACK, end + rules.SHIFT_LOOKBACK)
    eligible = await on_duty_people(session, client.id)
    shifts = rules.shifts_of(view.rota, feed.user_id, now, end, eligible)
    return build_calendar(client, shifts, view.overrides, now)


def build_calendar(
    client: Client, shifts: Sequence[rules.Shift], overrides: Sequence[RotaOverride], now: datetime
) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"AgencyHub: {one_line(client.name)}")
    reasons = {str(o.id): o.reason for o in overrides}
    for shift in shifts:
        calendar.add_component(_event(client, shift, reasons, now))
    ical: bytes = calendar.to_ical()
    return ical


def one_line(text: str) -> str:
    """A name as one line: icalendar refuses a raw line break in a property it does
    not escape (``X-WR-CALNAME``), and a line break in a name is never meant."""
    return " ".join(text.split())


def _event(client: Client, shift: rules.Shift, reasons: dict[str, str], now: datetime) -> Event:
    event = Event()
    event.add("uid", rules.shift_uid(client.id, shift))
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", shift.starts_at.astimezone(UTC))
    event.add("dtend", shift.ends_at.astimezone(UTC))
    event.add("summary", f"AgencyHub: on duty for {one_line(client.name)}")
    event.add("description", _description(shift, reasons))
    event.add("transp", "TRANSPARENT")
    return event


def _description(shift: rules.Shift, reasons: dict[str, str]) -> str:
    override = shift.duty.override
    if override is None:
        return "Your turn on the coverage rota."
    reason = reasons.get(override.key, "other")
    if reason == "swap":
        return "You took over this shift from a colleague (swap request)."
    return f"You are standing in for a colleague ({reason})."
