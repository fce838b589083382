"""The outbox relay: committed Event rows → the channels backend, in id order.

Exactly one process relays at a time. On PostgreSQL the leader holds a session-level
advisory lock on a connection of its own; when that process dies its connection
closes, the lock is free, and another process takes over within
``LEADER_RETRY_SECONDS``, resuming from the last relayed id kept in Redis (a few events
may go out twice; every connection drops ids it has already sent). SQLite (the
embedded demo, one process) always leads.

The relay reads only committed rows, after a poke from the committing process (or a
short poll, the safety net for a lost poke). Because
event ids are handed out in commit order (see :mod:`agencyhub.audit.record`), reading
``id > last`` never skips an event that commits later. A failed publish is logged and
retried; it never stops the relay (litestar#5008 is why we do not publish through the
plugin's own publisher task).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import structlog
from litestar.channels.backends.base import ChannelsBackend
from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from agencyhub.approvals.models import Draft
from agencyhub.audit.models import Event
from agencyhub.db import Database, Scope
from agencyhub.live import rules, service

log = structlog.get_logger(__name__)

LEADER_LOCK = 0x41484C52  # "AHLR"
LEADER_RETRY_SECONDS = 2.0
POLL_SECONDS = 0.5
"""Safety net: new events are looked for this often even without a poke (default)."""
LEADER_CHECK_SECONDS = 5.0
BATCH = 500
PUBLISH_RETRY_SECONDS = 0.5
LAST_RELAYED_KEY = "agencyhub:live:last_relayed"
RELAY_SCOPE = Scope.for_system("live.relay")


class Relay:
    def __init__(
        self,
        db: Database,
        backend: ChannelsBackend,
        redis: Redis | None,
        *,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._db = db
        self._poll_seconds = poll_seconds
        self._backend = backend
        self._redis = redis
        self._wake = asyncio.Event()
        self.leading = False
        self.last_relayed = 0
        # Advisory locks are per database; the resume point must be too.
        self._last_key = f"{LAST_RELAYED_KEY}:{db.engine.url.database or 'default'}"

    def wake(self) -> None:
        """A commit wrote events (call on the relay's event loop)."""
        self._wake.set()

    async def run(self) -> None:
        """Compete for leadership forever; relay while leading."""
        while True:
            try:
                async with self._leadership() as leading:
                    if leading:
                        await self._lead()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live.relay_failed")
            self.leading = False
            await asyncio.sleep(LEADER_RETRY_SECONDS)

    @contextlib.asynccontextmanager
    async def _leadership(self) -> AsyncIterator[bool]:
        if self._db.engine.dialect.name != "postgresql":
            yield True
            return
        async with self._db.engine.connect() as connection:
            got = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": LEADER_LOCK}
            )
            await connection.commit()
            if not got:
                yield False
                return
            self._leader_connection: AsyncConnection | None = connection
            try:
                yield True
            finally:
                self._leader_connection = None
                with contextlib.suppress(Exception):
                    await connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": LEADER_LOCK}
                    )
                    await connection.commit()

    async def _lead(self) -> None:
        self.last_relayed = await self._start_position()
        self.leading = True
        log.info("live.relay_leading", reason=RELAY_SCOPE.system, after_id=self.last_relayed)
        loop = asyncio.get_running_loop()
        checked = loop.time()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
            self._wake.clear()
            while await self.relay_once() == BATCH:
                pass
            if loop.time() - checked > LEADER_CHECK_SECONDS:
                await self._still_leader()
                await self._follow_reset()
                checked = loop.time()

    async def _still_leader(self) -> None:
        connection = getattr(self, "_leader_connection", None)
        if connection is not None:  # raises if the connection (and the lock) is gone
            await connection.execute(text("SELECT 1"))
            await connection.commit()

    async def _follow_reset(self) -> None:
        """Ids below the last relayed one mean the table was emptied (tests, restores)."""
        head = await self.head()
        if head < self.last_relayed:
            log.warning("live.relay_reset", last_relayed=self.last_relayed, head=head)
            self.last_relayed = head

    async def _start_position(self) -> int:
        head = await self.head()
        if self._redis is not None:
            stored = await self._redis.get(self._last_key)
            if stored is not None and int(stored) <= head:
                return int(stored)
        return head

    async def head(self) -> int:
        async with self._db.sessions() as session, session.begin():
            # Before the first statement: the after_begin hook writes it for RLS too.
            session.info["scope"] = RELAY_SCOPE
            return int(await session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0)

    async def relay_once(self) -> int:
        """Publish the next batch of committed events; the number published."""
        events = await self._read_after(self.last_relayed)
        for event in events:
            await self._publish(event)
            self.last_relayed = event.id
        if events and self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.set(self._last_key, self.last_relayed)
        return len(events)

    async def _publish(self, event: rules.LiveEvent) -> None:
        data = rules.encode(event)
        channel = rules.agency_channel(event.agency_id)
        while True:
            try:
                await self._backend.publish(data, [channel])
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live.publish_failed", event_id=event.id)
                await asyncio.sleep(PUBLISH_RETRY_SECONDS)

    async def _read_after(self, last: int) -> list[rules.LiveEvent]:
        async with self._db.sessions() as session, session.begin():
            # Before the first statement: the after_begin hook writes it for RLS too.
            session.info["scope"] = RELAY_SCOPE
            rows = (
                await session.execute(
                    select(*service.EVENT_COLUMNS)
                    .where(Event.id > last)
                    .order_by(Event.id)
                    .limit(BATCH)
                )
            ).all()
            drafts = await _draft_facts(
                session, [r.subject_id for r in rows if r.subject_type == "draft"]
            )
        return [
            rules.live_event(
                id=r.id,
                type=r.type,
                agency_id=r.agency_id,
                client_id=r.client_id,
                subject_type=r.subject_type,
                subject_id=r.subject_id,
                payload=r.payload or {},
                at=r.created_at,
                draft=drafts.get(r.subject_id) if r.subject_id else None,
            )
            for r in rows
        ]


async def _draft_facts(
    session: Any, draft_ids: Sequence[uuid.UUID | None]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The current severity and SLA due time of the drafts the events are about."""
    ids = sorted({d for d in draft_ids if d is not None})
    if not ids:
        return {}
    rows = await session.execute(
        select(Draft.id, Draft.severity, Draft.sla_due_at).where(Draft.id.in_(ids))
    )
    return {
        row.id: {
            "severity": row.severity,
            "slaDueAt": row.sla_due_at.isoformat().replace("+00:00", "Z")
            if row.sla_due_at
            else None,
        }
        for row in rows
    }
