"""The live feed's runtime in one web process: the channels backend, the relay, the
poke after commit, the subscription watchdog, presence, and one :class:`Feed` per
connection."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import secrets
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Collection, Coroutine
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.subscriber import Subscriber
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.audit.record import on_events_committed
from agencyhub.config import Settings
from agencyhub.db import Database, Scope, set_scope, transaction, utcnow
from agencyhub.errors import Unauthenticated
from agencyhub.live import rules, service
from agencyhub.live.backend import WatchedRedisBackend
from agencyhub.live.poke import poke_channel
from agencyhub.live.presence import MemoryPresence, PresenceStore, RedisPresence
from agencyhub.live.relay import Relay
from agencyhub.tenancy.rules import Actor

log = structlog.get_logger(__name__)

_DECODED_CACHE = 256
WATCH_SECONDS = 5.0
"""Each process publishes to a heartbeat channel of its own this often..."""
WATCH_MISSES = 3
"""... and re-subscribes when it has heard none of its own beats for this many periods
(a subscription that hangs without an error)."""
SHUTDOWN_SECONDS = 5.0
CLOCK_SECONDS = 1.0
"""How often the hub's clock looks at every feed (pings, re-checks, stalled sends)."""
SEND_STALL_SECONDS = 10.0
"""A socket that takes longer to accept one message is a slow consumer."""
CHANNEL_BACKLOG = 10_000
"""Messages the plugin may queue for one channel of a process before it drops them."""
SUBSCRIBER_NAME = "agencyhub.live.sub"
"""Redis client name of a process's subscribed connection (with its pid appended)."""


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Message:
    """One JSON text for the client; ``kind`` and ``id`` for SSE's event and id fields."""

    kind: str
    text: str
    id: int | None = None


class LiveSubscriber(Subscriber):
    """Remembers when the plugin had to drop a message for it (its backlog was full)."""

    overflowed = False

    def put_nowait(self, item: bytes | None) -> bool:
        accepted = super().put_nowait(item)
        if not accepted or self.qsize >= CHANNEL_BACKLOG:
            self.overflowed = True
        return accepted


class LocalFanout:
    """One channels-plugin subscriber per agency channel and process, not per socket.

    Each published message is decoded once and handed to every feed of the channel in
    this process by a plain function call; per socket that leaves one task wake-up
    (its sender) instead of three. Subscribing completes before :meth:`join` returns,
    so a feed reads the event log only once nothing published later can pass it by.
    """

    def __init__(self, plugin: ChannelsPlugin, on_overflow: Callable[[str], None]) -> None:
        self._plugin = plugin
        self._on_overflow = on_overflow
        self._feeds: dict[str, set[Feed]] = {}
        self._consumers: dict[str, asyncio.Task[tuple[Subscriber, asyncio.Task[None]]]] = {}

    async def join(self, feed: Feed, channels: Collection[str]) -> None:
        for channel in channels:
            self._feeds.setdefault(channel, set()).add(feed)
            if channel not in self._consumers:
                self._consumers[channel] = asyncio.create_task(self._start(channel))
        for channel in channels:
            await asyncio.shield(self._consumers[channel])

    def leave(self, feed: Feed, channels: Collection[str]) -> None:
        for channel in channels:
            feeds = self._feeds.get(channel)
            if feeds is None:
                continue
            feeds.discard(feed)
            if not feeds:
                del self._feeds[channel]
                _background(self._stop(self._consumers.pop(channel)))

    async def _start(self, channel: str) -> tuple[Subscriber, asyncio.Task[None]]:
        subscriber = await self._plugin.subscribe([channel])
        consumer = asyncio.create_task(self._consume(channel, subscriber), name="live.fanout")
        return subscriber, consumer

    async def _stop(self, started: asyncio.Task[tuple[Subscriber, asyncio.Task[None]]]) -> None:
        subscriber, consumer = await started
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        await self._plugin.unsubscribe(subscriber)

    async def _consume(self, channel: str, subscriber: Subscriber) -> None:
        async for raw in subscriber.iter_events():
            if getattr(subscriber, "overflowed", False):
                # Messages were dropped for the whole channel: its feeds resume by id.
                subscriber.overflowed = False  # type: ignore[attr-defined]
                self._on_overflow(channel)
            for feed in tuple(self._feeds.get(channel, ())):
                try:
                    feed.deliver(raw)
                except Exception:  # one bad feed must not starve the others
                    log.exception("live.delivery_failed")

    def feeds_of(self, channel: str) -> tuple[Feed, ...]:
        return tuple(self._feeds.get(channel, ()))


_BACKGROUND: set[asyncio.Task[Any]] = set()


def _background(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(work)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


class LiveHub:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.redis: Redis | None = (
            Redis.from_url(settings.redis_url) if settings.redis_url else None
        )
        self.backend: ChannelsBackend = (
            WatchedRedisBackend(
                self.redis,
                Redis.from_url(settings.redis_url, client_name=f"{SUBSCRIBER_NAME}.{os.getpid()}"),
                on_gap=self._on_gap,
            )
            if self.redis is not None
            else MemoryChannelsBackend()
        )
        self.channels = ChannelsPlugin(
            backend=self.backend,
            arbitrary_channels_allowed=True,
            # The plugin queues at most this much per connection; more means the
            # connection is too slow and is closed (it resumes by id).
            subscriber_max_backlog=CHANNEL_BACKLOG,
            subscriber_backlog_strategy="backoff",
            subscriber_class=LiveSubscriber,
        )
        self.presence: PresenceStore = (
            RedisPresence(self.redis) if self.redis is not None else MemoryPresence()
        )
        self.relay = Relay(db, self.backend, self.redis, poll_seconds=settings.live_poll_ms / 1000)
        self._decoded: OrderedDict[bytes, tuple[rules.Published, str]] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poke_pending = False
        self._publishing_poke = False
        self._poke_again = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.epoch = 0
        """Bumped whenever this process may have missed published messages."""
        self._feeds: set[Feed] = set()
        self.fanout = LocalFanout(self.channels, self._on_channel_overflow)
        self._poke_channel = poke_channel(db.engine.url.database)
        self._beat_channel = f"agencyhub.live.beat.{secrets.token_hex(8)}"
        self._beat_heard = 0.0

    # --- lifecycle --------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Entered after the channels plugin has started, left before it stops."""
        self._loop = asyncio.get_running_loop()
        relay_task = asyncio.create_task(self.relay.run(), name="live.relay")
        clock_task = asyncio.create_task(self._clock(), name="live.clock")
        remove_listener = on_events_committed(self.poke)
        watch_task: asyncio.Task[None] | None = None
        try:
            async with (
                self.channels.start_subscription([self._poke_channel]) as pokes,
                pokes.run_in_background(self._on_poke),
                self.channels.start_subscription([self._beat_channel]) as beats,
                beats.run_in_background(self._on_beat),
            ):
                if isinstance(self.backend, WatchedRedisBackend):
                    watch_task = asyncio.create_task(self._watch(self.backend), name="live.watch")
                yield
        finally:
            remove_listener()
            for task in (relay_task, watch_task, clock_task):
                if task is not None:
                    task.cancel()
                    # Bounded: a task stuck in a network call must not hold up shutdown.
                    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                        await asyncio.wait_for(task, SHUTDOWN_SECONDS)
            if self.redis is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.redis.aclose(), SHUTDOWN_SECONDS)

    # --- poke after commit ------------------------------------------------------------

    def poke(self) -> None:
        """After a commit that wrote events, from any thread: wake the relay."""
        loop = self._loop
        if loop is None or self._poke_pending:
            return
        self._poke_pending = True
        try:
            loop.call_soon_threadsafe(self._deliver_poke)
        except RuntimeError:  # the loop has closed (shutting down)
            self._poke_pending = False

    def _deliver_poke(self) -> None:
        self._poke_pending = False
        if self.relay.leading or self.redis is None:
            self.relay.wake()
            return
        if self._publishing_poke:
            # One publish at a time: commits during it make one more, not one each (at
            # hundreds of commits a second they would pile up as tasks and connections).
            self._poke_again = True
            return
        self._publishing_poke = True
        task = asyncio.create_task(self._publish_pokes())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish_pokes(self) -> None:
        """Publish until no commit came in meanwhile: the last publish always follows
        the last commit it announces."""
        try:
            while True:
                self._poke_again = False
                try:
                    await self.backend.publish(b"1", [self._poke_channel])
                except Exception:  # the relay's poll picks the events up a moment later
                    log.warning("live.poke_failed", exc_info=True)
                    return
                if not self._poke_again:
                    return
        finally:
            self._publishing_poke = False

    async def _on_poke(self, _data: bytes) -> None:
        if self.relay.leading:
            self.relay.wake()

    async def _clock(self) -> None:
        """One timer for all feeds of the process instead of one per message."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(CLOCK_SECONDS)
            now = loop.time()
            for feed in tuple(self._feeds):
                feed.tick(now)

    # --- the subscription watchdog ------------------------------------------------------

    @property
    def available(self) -> bool:
        """False while this process has lost its Redis subscription."""
        return not isinstance(self.backend, WatchedRedisBackend) or self.backend.connected

    def _on_gap(self, what: str) -> None:
        """Published messages may have been missed: every open feed closes, so its
        client reconnects and replays from the event log."""
        self.epoch += 1
        log.warning("live.feeds_interrupted", because=what, feeds=len(self._feeds))
        for feed in list(self._feeds):
            feed.interrupt()
        if what == "restored":
            self._beat_heard = asyncio.get_running_loop().time()

    def _on_channel_overflow(self, channel: str) -> None:
        log.warning("live.channel_overflow", channel=channel)
        for feed in self.fanout.feeds_of(channel):
            feed.interrupt(restart=True)

    async def _on_beat(self, _data: bytes) -> None:
        self._beat_heard = asyncio.get_running_loop().time()

    async def _watch(self, backend: WatchedRedisBackend) -> None:
        """Hear our own heartbeat, or re-subscribe: a subscription can also hang silently."""
        loop = asyncio.get_running_loop()
        self._beat_heard = loop.time()
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            if not backend.connected:
                continue
            try:
                await backend.publish(b"1", [self._beat_channel])
            except Exception:  # Redis is down; the subscription notices on its own
                log.warning("live.heartbeat_publish_failed", exc_info=True)
                continue
            if loop.time() - self._beat_heard > WATCH_MISSES * WATCH_SECONDS:
                backend.reconnect("no heartbeat heard")

    # --- database, each in a short transaction of its own -----------------------------

    async def authenticate(self, credential: service.Credential) -> Actor:
        async with transaction(self.db.sessions) as session:
            return await service.authenticate(session, credential)

    async def catch_up(
        self, actor: Actor, last_event_id: int | None
    ) -> tuple[int, list[rules.LiveEvent]]:
        """The newest id, and (when resuming) up to REPLAY_LIMIT + 1 missed events."""
        reading = transaction(self.db.sessions, Scope(user_id=actor.user_id), writes=False)
        async with reading as session:
            await _user_scope(session, actor)
            head = await service.head(session)
            if last_event_id is None or last_event_id >= head:
                return head, []
            missed = await service.missed_events(
                session, actor, last_event_id, head, rules.REPLAY_LIMIT + 1
            )
            return head, missed

    async def mark_viewing(self, actor: Actor, draft_id: uuid.UUID) -> rules.Presence:
        """A "viewing" message on a socket (the HTTP endpoint has its request session)."""
        async with transaction(self.db.sessions) as session:
            await _user_scope(session, actor)
            mark = await service.viewing_mark(session, actor, draft_id, utcnow())
        await self.broadcast_presence(mark)
        return mark

    async def broadcast_presence(self, mark: rules.Presence) -> None:
        """Store the mark and tell everyone who may see the client (best effort)."""
        await self.presence.mark(mark)
        try:
            await self.backend.publish(rules.encode(mark), [rules.agency_channel(mark.agency_id)])
        except Exception:  # best effort: the mark is stored, the broadcast is not vital
            log.warning("live.presence_publish_failed", exc_info=True)

    def decoded(self, raw: bytes) -> tuple[rules.Published, str]:
        """Decode a published message once per process, not once per connection."""
        hit = self._decoded.get(raw)
        if hit is None:
            item = rules.decode(raw)
            hit = (item, msgspec.json.encode(rules.wire(item)).decode())
            self._decoded[raw] = hit
            if len(self._decoded) > _DECODED_CACHE:
                self._decoded.popitem(last=False)
        return hit


async def _user_scope(session: AsyncSession, actor: Actor) -> None:
    await set_scope(session, Scope(user_id=actor.user_id, member_agency_ids=actor.agency_ids))


# --- one connection ---------------------------------------------------------------------

Outgoing = Message | Close
"""A message to send, or the reason to close."""


class Feed:
    """One subscriber: subscribe, ``ready``, replay or ``reload``, then live events —
    each id once and in order, filtered by :func:`rules.may_receive` with the
    connection's current memberships, plus heartbeats. Ends with a :class:`Close`.

    Timers live in the hub's clock (:meth:`tick`), not in the feed: a timeout per
    message and socket was a fifth of the fan-out's CPU.
    """

    def __init__(
        self,
        hub: LiveHub,
        credential: service.Credential,
        actor: Actor,
        last_event_id: int | None,
    ) -> None:
        self.hub = hub
        self.credential = credential
        self.actor = actor
        self.last_event_id = last_event_id
        self._queue: asyncio.Queue[tuple[rules.Published, str] | None] = asyncio.Queue()
        self._overflowed = False
        self._recheck_now = False
        self._rechecking = False
        self._epoch = hub.epoch
        self._restart = False
        self._next_ping = self._next_check = math.inf
        self._clock_woke = False
        self._sending_since: float | None = None
        self._sender: asyncio.Task[Any] | None = None
        self._channels: set[str] = set()
        self.stalled = False
        """Set by the clock when one send took longer than ``SEND_STALL_SECONDS``."""

    def deliver(self, raw: bytes) -> None:
        """A message published on one of this feed's channels (see :class:`LocalFanout`)."""
        if raw == rules.GRANTS_CHANGED:  # on this person's own channel
            self._recheck_now = True
            self._queue.put_nowait(_WAKE)
            return
        item, text = self.hub.decoded(raw)
        if rules.concerns_memberships_of(self.actor.user_id, item):
            self._recheck_now = True
            self._queue.put_nowait(_WAKE)
        if self._overflowed:
            return
        # While grants are being re-read, keep everything: the new grants decide.
        deciding_later = self._recheck_now or self._rechecking
        if not deciding_later and not rules.may_receive(self.actor, item):
            return
        if self._queue.qsize() >= rules.BUFFER_LIMIT:
            self._overflowed = True
            return
        self._queue.put_nowait((item, text))

    def interrupt(self, *, restart: bool = False) -> None:
        """The process may have missed messages (see :meth:`LiveHub._on_gap`)."""
        self._restart = self._restart or restart
        self._queue.put_nowait(_WAKE)

    # --- the hub's clock and the sender's watch ---------------------------------------

    def tick(self, now: float) -> None:
        """The hub's clock, every ``CLOCK_SECONDS``: end a stalled send, or wake the
        feed when a ping or a membership re-check is due."""
        if self._sending_since is not None and now - self._sending_since > SEND_STALL_SECONDS:
            self._stall()
        elif not self._clock_woke and now >= min(self._next_ping, self._next_check):
            self._clock_woke = True
            self._queue.put_nowait(_WAKE)

    def sending(self, sender: asyncio.Task[Any], now: float) -> None:
        """``sender`` starts writing one message to the client."""
        self._sender = sender
        self._sending_since = now

    def sent(self) -> None:
        self._sending_since = None

    def _stall(self) -> None:
        if self.stalled or self._sender is None:
            return
        self.stalled = True
        log.info("live.send_stalled", user_id=str(self.actor.user_id))
        self._sender.cancel()

    # --- the messages -----------------------------------------------------------------

    def _interrupted(self) -> bool:
        return self._restart or self._epoch != self.hub.epoch or not self.hub.available

    async def messages(self) -> AsyncIterator[Outgoing]:
        if not self.actor.grants:
            yield Close(rules.CLOSE_FORBIDDEN, "no membership")
            return
        if self._interrupted():
            yield _RESTARTING
            return
        channels = self._channels = rules.channels_for(self.actor)
        self.hub._feeds.add(self)
        try:
            await self.hub.fanout.join(self, channels)
            dedupe = rules.Deduplicator(self.last_event_id or 0)
            for opening in await self._opening(dedupe):
                yield opening
            self._schedule(asyncio.get_running_loop().time())
            # One flat loop: every message passes through this generator only.
            while True:
                if self._needs_attention():
                    for due in await self._attend():
                        yield due
                        if isinstance(due, Close):
                            return
                queued = await self._queue.get()
                if queued is None:
                    continue  # a wake-up: pings, re-checks, interruptions first
                item, text = queued
                if rules.may_receive(self.actor, item) and dedupe.admit(item):
                    yield _message(item, text)
        finally:
            self.hub.fanout.leave(self, channels)
            self.hub._feeds.discard(self)

    async def _opening(self, dedupe: rules.Deduplicator) -> list[Message]:
        """``ready``, then ``reload`` or the replay of what the client missed."""
        head, missed = await self.hub.catch_up(self.actor, self.last_event_id)
        plan = rules.plan_replay(self.actor, self.last_event_id, missed, head)
        opening = [_control("ready", {"type": "ready", "lastEventId": head})]
        if plan.reload:
            opening.append(_control("reload", {"type": "reload", "lastEventId": head}))
        for event in plan.events:
            if dedupe.admit(event):
                opening.append(_message(event, self.hub.decoded(rules.encode(event))[1]))
        dedupe.last_sent = max(dedupe.last_sent, plan.resume_after)
        return opening

    def _schedule(self, now: float) -> None:
        self._next_ping = now + rules.first_due(rules.HEARTBEAT_SECONDS, random.random())  # noqa: S311 - timing spread, not a secret
        self._next_check = now + rules.first_due(rules.RECHECK_SECONDS, random.random())  # noqa: S311

    def _needs_attention(self) -> bool:
        return (
            self._clock_woke
            or self._recheck_now
            or self._overflowed
            or self._restart
            or self._epoch != self.hub.epoch
            or not self.hub.available
        )

    async def _attend(self) -> list[Outgoing]:
        """What is due besides events: a close, a membership re-check, a ping."""
        self._clock_woke = False
        if self._interrupted():
            return [_RESTARTING]
        if self._overflowed:
            return [Close(rules.CLOSE_SLOW_CONSUMER, "too slow; reconnect with last_event_id")]
        now = asyncio.get_running_loop().time()
        if self._recheck_now or now >= self._next_check:
            self._recheck_now = False
            self._next_check = now + rules.RECHECK_SECONDS
            self._rechecking = True
            try:
                closing = await self._reauthorize()
            finally:
                self._rechecking = False
            if closing is not None:
                return [closing]
        if now >= self._next_ping:
            self._next_ping = now + rules.HEARTBEAT_SECONDS
            return [_control("ping", {"type": "ping"})]
        return []

    async def _reauthorize(self) -> Close | None:
        """Sign-in still valid and memberships re-read; None to carry on."""
        try:
            actor = await self.hub.authenticate(self.credential)
        except Unauthenticated as exc:
            return Close(rules.CLOSE_UNAUTHENTICATED, exc.detail[:120])
        if not actor.grants:
            log.info("live.access_ended", user_id=str(actor.user_id))
            return Close(rules.CLOSE_FORBIDDEN, "no membership left")
        if not rules.channels_for(actor) <= self._channels:
            # A new agency: its events flow on a channel this feed has not joined, and
            # joining now could miss some. The client resumes by id on a fresh feed.
            log.info("live.access_widened", user_id=str(actor.user_id))
            return Close(rules.CLOSE_RESTARTING, "new memberships; reconnect with last_event_id")
        self.actor = actor
        return None


_WAKE = None
_RESTARTING = Close(rules.CLOSE_RESTARTING, "live feed restarting; reconnect with last_event_id")


def _control(kind: str, message: dict[str, Any]) -> Message:
    return Message(kind, msgspec.json.encode(message).decode())


def _message(item: rules.Published, text: str) -> Message:
    if isinstance(item, rules.LiveEvent):
        return Message("event", text, item.id)
    return Message("presence", text)
