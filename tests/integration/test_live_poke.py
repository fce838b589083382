"""The poke after commit, on real Redis: a burst of commits makes a few publishes, not
one each, and the last publish always follows the last commit."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from agencyhub.config import Settings
from agencyhub.db import Database
from agencyhub.live.hub import LiveHub
from agencyhub.live.poke import poke_channel
from tests.live_helpers import REDIS_URL

pytestmark = pytest.mark.postgres

COMMITS = 200


async def _pokes_until_quiet(pubsub: object, quiet: float = 0.3) -> list[float]:
    """Receive times of the pokes until none came for ``quiet`` seconds."""
    loop = asyncio.get_running_loop()
    times: list[float] = []
    while True:
        message = await pubsub.get_message(  # type: ignore[attr-defined]
            ignore_subscribe_messages=True, timeout=quiet
        )
        if message is None:
            return times
        times.append(loop.time())


async def test_a_burst_of_commits_makes_few_pokes_and_the_last_follows_the_last_commit(
    pg: Database,
) -> None:
    # Given a web process's hub on Redis whose relay does not lead (pokes go to Redis)
    hub = LiveHub(Settings(environment="test", redis_url=REDIS_URL), pg)
    hub._loop = asyncio.get_running_loop()
    listener = Redis.from_url(REDIS_URL)
    pubsub = listener.pubsub()
    await pubsub.subscribe(poke_channel(pg.engine.url.database))
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    try:
        # When 200 commits poke, one per turn of the event loop, as a busy process's do
        last_commit = 0.0
        for _ in range(COMMITS):
            hub.poke()
            await asyncio.sleep(0)
            last_commit = asyncio.get_running_loop().time()
        received = await _pokes_until_quiet(pubsub)
        # Then far fewer publishes went out than commits, and the last one after them all
        assert 1 <= len(received) < COMMITS / 2
        assert received[-1] >= last_commit
    finally:
        await pubsub.aclose()
        await listener.aclose()
        for task in list(hub._tasks):
            await task
        assert hub.redis is not None
        await hub.redis.aclose()
