"""The poke: "events were committed" on a Redis channel, so the relay's leader reads
them at once instead of at its next poll. Web processes poke through their hub; a
process without the web app (``agencyhub worker``) installs :func:`install_worker_poke`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis
import structlog
from sqlalchemy.engine import make_url

from agencyhub.audit.record import on_events_committed
from agencyhub.config import Settings

log = structlog.get_logger(__name__)

POKE_CHANNEL = "agencyhub.live.poke"
"""Followed by the database name: relays of other databases on the same Redis (other
deployments, test runs) are not woken."""
POKE_SOCKET_TIMEOUT_SECONDS = 0.5
POKE_RETRY_PAUSE_SECONDS = 1.0


def poke_channel(database: str | None) -> str:
    """The poke channel of the relay of ``database`` (its name, as in the URL)."""
    return f"{POKE_CHANNEL}.{database or 'default'}"


class _Poker:
    """Publishes pokes from a thread of its own: the committing thread (a worker's event
    loop) never waits for Redis, and a burst of commits becomes one or two pokes."""

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._due = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="live-poke", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._due.set()

    def stop(self) -> None:
        self._stopped = True
        self._due.set()
        self._thread.join(timeout=2 * POKE_SOCKET_TIMEOUT_SECONDS)
        self._client.close()

    def _run(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            if self._stopped:
                return
            try:
                self._client.publish(self._channel, b"1")
            except Exception:  # the relay's poll picks the events up a moment later
                log.warning("live.worker_poke_failed", exc_info=True)
                time.sleep(POKE_RETRY_PAUSE_SECONDS)


def install_worker_poke(settings: Settings) -> Callable[[], None]:
    """After every commit that wrote events in this process, poke the relay through
    Redis. Never raises into the committing code. Returns a function that uninstalls
    it; without a Redis URL there is nobody to poke and nothing is installed."""
    if not settings.redis_url:
        return lambda: None
    poker = _Poker(
        redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=POKE_SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=POKE_SOCKET_TIMEOUT_SECONDS,
            client_name="agencyhub.live.poke",
        ),
        poke_channel(make_url(settings.database_url).database),
    )
    remove_listener = on_events_committed(poker.poke)

    def uninstall() -> None:
        remove_listener()
        poker.stop()

    log.info("live.worker_poke_installed")
    return uninstall
