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
from collections.abc import AsyncIterator

import structlog
from litestar.channels.backends.base import ChannelsBackend
from redis.asyncio import Redis
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from agencyhub.audit.models import Event
from agencyhub.db import Database, Scope, write_connection_scope
from agencyhub.live import rules, service
from agencyhub.live.backend import WatchedRedisBackend

log = structlog.get_logger(__name__)

LEADER_LOCK = 0x41484C52  # "AHLR"
LEADER_RETRY_SECONDS = 2.0
POLL_SECONDS = 0.5
"""Safety net: new events are looked for this often even without a poke (default)."""
LEADER_CHECK_SECONDS = 5.0
MIN_READ_INTERVAL_SECONDS = 0.01
"""Reads at most this often: under load many commits share one read (and publish)."""
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
        self._leader_connection: AsyncConnection | None = None

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
            try:
                # The leader's own connection also reads: one statement per wake-up, no
                # transaction and no scope round trips around it. Its system scope is
                # session-wide, so it is never handed back to the pool: closing it on
                # the way out also frees the lock.
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await write_connection_scope(connection, RELAY_SCOPE, whole_session=True)
                self._leader_connection = connection
                yield True
            finally:
                self._leader_connection = None
                with contextlib.suppress(Exception):
                    await connection.invalidate()

    async def _lead(self) -> None:
        self.last_relayed = await self._start_position()
        self.leading = True
        log.info("live.relay_leading", reason=RELAY_SCOPE.system, after_id=self.last_relayed)
        loop = asyncio.get_running_loop()
        checked = read = loop.time()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
            # A wake-up right after a read waits out the rest of the interval, so a
            # burst of commits is read together; a quiet feed's first event goes at once.
            if (since := loop.time() - read) < MIN_READ_INTERVAL_SECONDS:
                await asyncio.sleep(MIN_READ_INTERVAL_SECONDS - since)
            self._wake.clear()
            read = loop.time()
            while await self.relay_once() == BATCH:
                pass
            if loop.time() - checked > LEADER_CHECK_SECONDS:
                await self._still_leader()
                await self._follow_reset()
                checked = loop.time()

    async def _still_leader(self) -> None:
        connection = self._leader_connection
        if connection is not None:  # raises if the connection (and the lock) is gone
            await connection.execute(text("SELECT 1"))

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
        if not events:
            return 0
        messages = [(rules.agency_channel(e.agency_id), rules.encode(e)) for e in events]
        await self._publish(messages + rules.grants_notices(events))
        self.last_relayed = events[-1].id
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.set(self._last_key, self.last_relayed)
        return len(events)

    async def _publish(self, messages: list[tuple[str, bytes]]) -> None:
        """All of a batch in order, in one round trip where the backend can; after a
        failure the whole batch again (connections drop the ids they have sent)."""
        while True:
            try:
                if isinstance(self._backend, WatchedRedisBackend):
                    await self._backend.publish_many(messages)
                else:
                    for channel, data in messages:
                        await self._backend.publish(data, [channel])
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live.publish_failed", events=len(messages))
                await asyncio.sleep(PUBLISH_RETRY_SECONDS)

    async def _read_after(self, last: int) -> list[rules.LiveEvent]:
        params = {"last": last, "batch": BATCH}
        if self._leader_connection is not None:
            rows = (await self._leader_connection.execute(_READ_AFTER, params)).all()
        else:  # not leading (tests call relay_once directly) or SQLite
            async with self._db.engine.connect() as connection:
                await write_connection_scope(connection, RELAY_SCOPE)
                rows = (await connection.execute(_READ_AFTER, params)).all()
        return [service.live_event_of(row) for row in rows]


# The next events after :last, built as a replay builds them: one statement, no ORM,
# every tenant (the relay's system scope).
_READ_AFTER = service.select_events().where(Event.id > bindparam("last")).limit(bindparam("batch"))
