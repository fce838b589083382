"""Redis pub/sub for the channels plugin, with a subscription that survives Redis.

Litestar's ``RedisChannelsPubSubBackend`` lets the first connection error end the
plugin's receiving task: after a Redis restart the process keeps its sockets open and
they never receive anything again. This backend re-subscribes (with backoff) instead,
and calls ``on_gap`` when the subscription is lost and again when it is back, because
whatever was published in between never reaches this process: the hub then closes its
sockets, and clients resume from the event log by id.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable, Iterable
from typing import Any

import structlog
from litestar.channels.backends.base import ChannelsBackend
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

log = structlog.get_logger(__name__)

RECEIVE_TIMEOUT_SECONDS = 1.0
CONNECTING_PAUSE_SECONDS = 0.01
RECONNECT_FIRST_PAUSE_SECONDS = 0.2
RECONNECT_MAX_PAUSE_SECONDS = 5.0


class WatchedRedisBackend(ChannelsBackend):
    def __init__(
        self,
        publisher: Redis,
        subscriber: Redis,
        on_gap: Callable[[str], None],
    ) -> None:
        """``publisher`` is a shared client; ``subscriber`` holds the one subscribed
        connection (give it a ``client_name`` so operators can find it)."""
        self._publisher = publisher
        self._subscriber = subscriber
        self._on_gap = on_gap
        self._wanted: set[str] = set()
        self._has_channels: asyncio.Event | None = None
        self._pubsub: PubSub | None = None
        self._lost_because: str | None = None
        self._pause = RECONNECT_FIRST_PAUSE_SECONDS

    @property
    def connected(self) -> bool:
        return self._lost_because is None

    def reconnect(self, reason: str) -> None:
        """Drop the subscription and subscribe again (a missed heartbeat)."""
        self._lose(reason)

    async def on_startup(self) -> None:
        # The plugin subscribes to the channels it already knows right after this.
        self._pubsub = self._subscriber.pubsub()

    async def on_shutdown(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        with contextlib.suppress(Exception):
            await self._subscriber.aclose()

    async def subscribe(self, channels: Iterable[str]) -> None:
        # The plugin asks only for channels it does not listen to yet (and again for
        # all of them at start-up): subscribe to each requested one.
        requested = set(channels)
        self._wanted |= requested
        self._channels_event().set()
        if requested and self._pubsub is not None and self.connected:
            try:
                await self._pubsub.subscribe(*requested)
            except Exception as exc:  # the receiving loop subscribes again
                self._lose(_describe(exc))

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        gone = set(channels) & self._wanted
        self._wanted -= gone
        if not self._wanted:
            self._channels_event().clear()
        if gone and self._pubsub is not None and self.connected:
            try:
                await self._pubsub.unsubscribe(*gone)
            except Exception as exc:
                self._lose(_describe(exc))

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        for channel in channels:
            await self._publisher.publish(channel, data)

    async def publish_many(self, messages: Iterable[tuple[str, bytes]]) -> None:
        """Each ``(channel, data)`` in order, in one round trip (a pipeline without
        MULTI: Redis still runs them in the order sent)."""
        async with self._publisher.pipeline(transaction=False) as pipe:
            for channel, data in messages:
                pipe.publish(channel, data)
            await pipe.execute()

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        while True:
            await self._channels_event().wait()
            if not self.connected and not await self._resubscribe():
                continue
            if self._pubsub is None or self._pubsub.connection is None:
                await asyncio.sleep(CONNECTING_PAUSE_SECONDS)  # the first SUBSCRIBE is on its way
                continue
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=RECEIVE_TIMEOUT_SECONDS
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._lose(_describe(exc))
                continue
            if message is None:
                continue
            channel = message["channel"].decode()
            if channel in self._wanted:  # an unsubscribe may still be on its way
                yield channel, message["data"]

    async def get_history(self, channel: str, limit: int | None = None) -> list[bytes]:
        raise NotImplementedError("Redis pub/sub keeps no history; replay from the event log")

    # --- losing and regaining the subscription ------------------------------------------

    def _lose(self, reason: str) -> None:
        if not self.connected:
            return
        self._lost_because = reason
        log.warning("live.subscription_lost", reason=reason[:200])
        self._on_gap("lost")

    async def _resubscribe(self) -> bool:
        """A fresh connection subscribed to every wanted channel; False after a pause."""
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        self._pubsub = self._subscriber.pubsub()
        try:
            done: set[str] = set()
            while missing := self._wanted - done:  # channels added while we subscribed
                await self._pubsub.subscribe(*missing)
                done |= missing
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("live.resubscribe_failed", error=_describe(exc)[:200], pause=self._pause)
            await asyncio.sleep(self._pause)
            self._pause = min(RECONNECT_MAX_PAUSE_SECONDS, self._pause * 2)
            return False
        log.warning("live.subscription_restored", was_lost_because=self._lost_because)
        self._lost_because = None
        self._pause = RECONNECT_FIRST_PAUSE_SECONDS
        self._on_gap("restored")
        return True

    def _channels_event(self) -> asyncio.Event:
        if self._has_channels is None:  # created on the running loop, not at import
            self._has_channels = asyncio.Event()
        return self._has_channels


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
