"""Pure rules of the live feed: who receives which event, what goes on the wire,
how a resume is planned, and the close codes. No I/O here.

An event travels through Redis as a :class:`LiveEvent` (small: ids, type, the draft's
version/status/severity/SLA, and the two facts the recipient filter needs: its client
and whether it is agency-internal). Each connection runs :func:`may_receive` with the
connection's current :class:`~agencyhub.tenancy.rules.Actor` before sending anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import msgspec

from agencyhub.audit.rules import INTERNAL_FLAG, sees_internal_events
from agencyhub.errors import InvalidInput
from agencyhub.tenancy.rules import Actor, can_view_agency, can_view_client

REPLAY_LIMIT = 1000
"""At most this many missed events are replayed; beyond it the client is told to reload."""

BUFFER_LIMIT = 500
"""Unsent messages one connection may hold; more closes it with ``CLOSE_SLOW_CONSUMER``."""

HEARTBEAT_SECONDS = 25.0
RECHECK_SECONDS = 60.0
"""How often a connection re-reads its memberships (also on a membership event)."""


def first_due(period: float, draw: float) -> float:
    """Seconds from a connection's start to its first ping or re-check, for ``draw``
    uniform in [0, 1): a random part of the period, at least a tenth. Connections that
    open together (every client after a restart) would otherwise re-read their
    memberships all in the same moment, every period, and stall the fan-out; the later
    ones keep the period, so the spread lasts."""
    return period * (0.1 + 0.9 * min(max(draw, 0.0), 1.0))


PRESENCE_TTL_SECONDS = 45
"""A "viewing" mark lasts this long unless refreshed."""

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
"""No membership left (removed while connected)."""
CLOSE_SLOW_CONSUMER = 4008
"""The connection could not keep up; reconnect with ``last_event_id``."""
CLOSE_BAD_MESSAGE = 4400
CLOSE_RESTARTING = 1012
"""Service restart: this process lost its Redis subscription and may have missed events;
reconnect with ``last_event_id``."""

# Changes to what a person may see: their connection re-reads their grants at once.
MEMBERSHIP_EVENTS = frozenset(
    {
        "membership.removed",
        "membership.updated",
        "membership.created",
        "membership.confirmed",
        "assignment.created",
        "assignment.removed",
    }
)
_PAYLOAD_KEYS = ("version", "status", "severity", "decision", "visibility")
_MAX_EVENT_ID = 2**63 - 1


class LiveEvent(msgspec.Struct, frozen=True, kw_only=True):
    """What the relay publishes for one committed Event row (the outbox)."""

    id: int
    type: str
    agency_id: uuid.UUID
    client_id: uuid.UUID | None
    subject_type: str
    subject_id: uuid.UUID | None
    internal: bool
    at: datetime
    data: dict[str, Any] = {}
    user_id: uuid.UUID | None = None
    """For membership events: whose membership changed."""


class Presence(msgspec.Struct, frozen=True, kw_only=True):
    """Someone is looking at a draft of a client (best effort, not in the outbox)."""

    agency_id: uuid.UUID
    client_id: uuid.UUID
    draft_id: uuid.UUID
    user_id: uuid.UUID
    name: str
    expires_at: datetime


Published = LiveEvent | Presence


class _Envelope(msgspec.Struct, frozen=True, tag_field="kind"):
    pass


class EventEnvelope(_Envelope, frozen=True, tag="event"):
    event: LiveEvent


class PresenceEnvelope(_Envelope, frozen=True, tag="presence"):
    presence: Presence


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(EventEnvelope | PresenceEnvelope)


def encode(item: Published) -> bytes:
    envelope: _Envelope = (
        EventEnvelope(item) if isinstance(item, LiveEvent) else PresenceEnvelope(item)
    )
    return _encoder.encode(envelope)


def decode(raw: bytes) -> Published:
    envelope = _decoder.decode(raw)
    return envelope.event if isinstance(envelope, EventEnvelope) else envelope.presence


def agency_channel(agency_id: uuid.UUID) -> str:
    """One channel per agency; each connection filters with :func:`may_receive`."""
    return f"agencyhub.live.agency.{agency_id}"


def user_channel(user_id: uuid.UUID) -> str:
    """One channel per person: only the notice that their grants changed travels here,
    so a grant in an agency whose channel the connection has not joined (or a revoked
    one) reaches their open connections at once."""
    return f"agencyhub.live.user.{user_id}"


GRANTS_CHANGED = b"grants-changed"
"""The whole message on a user channel: re-read your grants now. Not an event: the
event itself travels on the agency channel, in id order with the others."""


def channels_for(actor: Actor) -> set[str]:
    return {agency_channel(agency_id) for agency_id in actor.agency_ids} | {
        user_channel(actor.user_id)
    }


def grants_notices(events: Iterable[LiveEvent]) -> list[tuple[str, bytes]]:
    """The user-channel notices a batch of events calls for, one per person."""
    users = dict.fromkeys(
        e.user_id for e in events if e.type in MEMBERSHIP_EVENTS and e.user_id is not None
    )
    return [(user_channel(user_id), GRANTS_CHANGED) for user_id in users]


def live_event(
    *,
    id: int,
    type: str,
    agency_id: uuid.UUID,
    client_id: uuid.UUID | None,
    subject_type: str,
    subject_id: uuid.UUID | None,
    payload: Mapping[str, Any],
    at: datetime,
    draft: Mapping[str, Any] | None = None,
) -> LiveEvent:
    """The small published form of an Event row: never the payload's free text.

    ``draft`` adds the draft's current severity and SLA due time to draft events.
    """
    data = {key: payload[key] for key in _PAYLOAD_KEYS if key in payload}
    if draft:
        data.update({k: v for k, v in draft.items() if v is not None})
    user_id = None
    if type in MEMBERSHIP_EVENTS and isinstance(payload.get("userId"), str):
        try:
            user_id = uuid.UUID(payload["userId"])
        except ValueError:
            user_id = None
    return LiveEvent(
        id=id,
        type=type,
        agency_id=agency_id,
        client_id=client_id,
        subject_type=subject_type,
        subject_id=subject_id,
        internal=bool(payload.get(INTERNAL_FLAG)),
        at=at,
        data=data,
        user_id=user_id,
    )


# --- who receives what ----------------------------------------------------------------


def may_receive(actor: Actor, item: Published) -> bool:
    """The recipient filter, for live delivery and for replay alike.

    * agency staff receive their agency's agency-wide events, and the events (internal
      included) of the clients they see: owners and admins every client, an editor
      the clients assigned to them;
    * client people receive the events of their own client only, never an agency-wide
      event (``client_id`` NULL) and never an agency-internal one (an internal comment);
    * presence marks go to everyone who may see the client.
    """
    if isinstance(item, Presence):
        return can_view_client(actor, item.agency_id, item.client_id)
    if item.internal and not sees_internal_events(actor, item.agency_id):
        return False
    if item.client_id is None:
        return can_view_agency(actor, item.agency_id)
    return can_view_client(actor, item.agency_id, item.client_id)


def concerns_memberships_of(user_id: uuid.UUID, item: Published) -> bool:
    """A change to this user's memberships: the connection re-reads them at once."""
    return (
        isinstance(item, LiveEvent) and item.type in MEMBERSHIP_EVENTS and item.user_id == user_id
    )


# --- resume ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """What to send after ``ready``: the missed events, or "reload" if too many."""

    events: tuple[LiveEvent, ...]
    reload: bool
    resume_after: int
    """Live events with an id at or below this are duplicates of what was sent."""


def plan_replay(
    actor: Actor,
    last_event_id: int | None,
    missed: Sequence[LiveEvent],
    head: int,
    limit: int = REPLAY_LIMIT,
) -> ReplayPlan:
    """``missed``: events with ``last_event_id < id <= head`` in id order, at most
    ``limit + 1`` of them (one more tells that the bound was passed)."""
    if last_event_id is None or last_event_id >= head:
        return ReplayPlan((), reload=False, resume_after=max(head, last_event_id or 0))
    if len(missed) > limit:
        return ReplayPlan((), reload=True, resume_after=head)
    visible = tuple(e for e in missed if may_receive(actor, e))
    return ReplayPlan(visible, reload=False, resume_after=head)


class Deduplicator:
    """Passes each event id once, in increasing order; presence always passes."""

    __slots__ = ("last_sent",)

    def __init__(self, last_sent: int) -> None:
        self.last_sent = last_sent

    def admit(self, item: Published) -> bool:
        if isinstance(item, Presence):
            return True
        if item.id <= self.last_sent:
            return False
        self.last_sent = item.id
        return True


def parse_last_event_id(value: str | None, field: str = "last_event_id") -> int | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    if not text.isdigit() or len(text) > 19 or int(text) > _MAX_EVENT_ID:
        raise InvalidInput("must be an event id (a whole number ≥ 0)", field=field)
    return int(text)


# --- the wire -------------------------------------------------------------------------


def wire(item: Published) -> dict[str, Any]:
    """The JSON a browser receives (camelCase); agency and internal flags stay home."""
    if isinstance(item, Presence):
        return {
            "type": "presence",
            "clientId": str(item.client_id),
            "draftId": str(item.draft_id),
            "userId": str(item.user_id),
            "name": item.name,
            "expiresAt": _iso(item.expires_at),
        }
    message: dict[str, Any] = {
        "type": "event",
        "id": item.id,
        "event": item.type,
        "clientId": str(item.client_id) if item.client_id else None,
        "subjectType": item.subject_type,
        "subjectId": str(item.subject_id) if item.subject_id else None,
        "at": _iso(item.at),
    }
    message.update(item.data)
    return message


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def draft_facts(severity: str, sla_due_at: datetime | None) -> dict[str, Any]:
    """A draft event's ``draft`` for :func:`live_event`: its current severity and SLA
    due time."""
    return {"severity": severity, "slaDueAt": _iso(sla_due_at) if sla_due_at else None}


# --- handshake ------------------------------------------------------------------------


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    """A cookie-authenticated socket must come from our own pages (no CSRF on sockets)."""
    if not origin:
        return False
    return origin.strip().lower().rstrip("/") in {origin_of(a) for a in allowed}


# --- presence -------------------------------------------------------------------------


class ViewingMessage(msgspec.Struct, frozen=True, rename="camel"):
    type: str
    draft_id: uuid.UUID | None = None


def parse_client_message(raw: str) -> ViewingMessage:
    """``{"type": "viewing", "draftId": …}`` or ``{"type": "pong"}``."""
    try:
        message = msgspec.json.decode(raw, type=ViewingMessage)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc), field="message") from None
    except msgspec.DecodeError:
        raise InvalidInput("is not JSON", field="message") from None
    if message.type == "viewing" and message.draft_id is None:
        raise InvalidInput("a viewing message needs draftId", field="draftId")
    if message.type not in ("viewing", "pong"):
        raise InvalidInput("type must be viewing or pong", field="type")
    return message


def live_presence(
    entries: Iterable[Presence], now: datetime, *, exclude_user: uuid.UUID | None = None
) -> list[Presence]:
    """Unexpired marks, one per (draft, person) — the latest — newest expiry first."""
    latest: dict[tuple[uuid.UUID, uuid.UUID], Presence] = {}
    for entry in entries:
        if entry.expires_at <= now or entry.user_id == exclude_user:
            continue
        key = (entry.draft_id, entry.user_id)
        if key not in latest or latest[key].expires_at < entry.expires_at:
            latest[key] = entry
    return sorted(latest.values(), key=lambda p: (p.expires_at, str(p.user_id)), reverse=True)
