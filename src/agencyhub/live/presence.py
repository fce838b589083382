"""Presence marks ("who is looking at this draft"): best effort, expiring.

Redis in production (one hash per client, field per draft and person, the whole key
expiring when nobody refreshes), a dict in the embedded demo. Nothing here is the
source of truth for anything: a lost mark only hides a face for a few seconds.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

import msgspec
from redis.asyncio import Redis

from agencyhub.live import rules

KEY_PREFIX = "agencyhub:presence:"


class PresenceStore(Protocol):
    async def mark(self, presence: rules.Presence) -> None: ...

    async def of_client(self, client_id: uuid.UUID, now: datetime) -> list[rules.Presence]: ...


class MemoryPresence:
    def __init__(self) -> None:
        self._marks: dict[uuid.UUID, dict[tuple[uuid.UUID, uuid.UUID], rules.Presence]] = {}

    async def mark(self, presence: rules.Presence) -> None:
        marks = self._marks.setdefault(presence.client_id, {})
        marks[(presence.draft_id, presence.user_id)] = presence

    async def of_client(self, client_id: uuid.UUID, now: datetime) -> list[rules.Presence]:
        marks = self._marks.get(client_id, {})
        current = rules.live_presence(marks.values(), now)
        self._marks[client_id] = {(p.draft_id, p.user_id): p for p in current}
        if not current:
            self._marks.pop(client_id, None)
        return current


class RedisPresence:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def mark(self, presence: rules.Presence) -> None:
        key = KEY_PREFIX + str(presence.client_id)
        field = f"{presence.draft_id}:{presence.user_id}"
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, field, msgspec.json.encode(presence))
            pipe.expire(key, rules.PRESENCE_TTL_SECONDS * 2)
            await pipe.execute()

    async def of_client(self, client_id: uuid.UUID, now: datetime) -> list[rules.Presence]:
        key = KEY_PREFIX + str(client_id)
        raw: dict[bytes | str, bytes | str] = await self._redis.hgetall(key)
        marks = {
            field: msgspec.json.decode(value, type=rules.Presence) for field, value in raw.items()
        }
        current = rules.live_presence(marks.values(), now)
        stale = [field for field, mark in marks.items() if mark not in current]
        if stale:
            await self._redis.hdel(key, *stale)
        return current
