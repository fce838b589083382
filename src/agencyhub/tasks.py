"""Dramatiq broker setup and the worker loop.

The broker must be set before any module that declares an actor is imported (an
actor decorated earlier binds to a default broker for good), so features register
their actors through :func:`import_actors`, called after :func:`setup_broker`.
Production: Redis (``AGENCYHUB_REDIS_URL``). Embedded demo and tests: the in-memory
StubBroker with worker threads inside the web process.
"""

from __future__ import annotations

import importlib
import threading

import dramatiq
import structlog
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

from agencyhub.config import Settings

log = structlog.get_logger(__name__)

# Feature modules with actors; the escalation, notifications and publishing
# features add theirs here.
ACTOR_MODULES: tuple[str, ...] = ()

# Delayed messages wake up within this many milliseconds of their due time.
WORKER_TIMEOUT_MS = 100


def setup_broker(settings: Settings) -> dramatiq.Broker:
    broker: dramatiq.Broker
    if settings.redis_url:
        broker = RedisBroker(url=settings.redis_url)  # type: ignore[no-untyped-call]
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    broker.add_middleware(AsyncIO())
    dramatiq.set_broker(broker)
    import_actors()
    log.info("broker.ready", kind=type(broker).__name__, actors=len(broker.actors))
    return broker


def import_actors() -> None:
    for module in ACTOR_MODULES:
        importlib.import_module(module)


def run_worker(settings: Settings, *, threads: int, stop: threading.Event) -> None:
    """Consume until ``stop`` is set, then finish running messages and exit."""
    broker = setup_broker(settings)
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=WORKER_TIMEOUT_MS)
    worker.start()
    log.info("worker.started", threads=threads, queues=sorted(broker.get_declared_queues()))
    try:
        stop.wait()
    finally:
        worker.stop(timeout=10_000)
        broker.close()
        log.info("worker.stopped")
