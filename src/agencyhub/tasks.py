"""Dramatiq broker setup and the worker loop.

Features declare their actors on the broker through a ``declare_actors(broker)``
function in each module of :data:`ACTOR_MODULES`, called by :func:`setup_broker`;
nothing binds to a broker at import time. Production: Redis (``AGENCYHUB_REDIS_URL``).
Embedded demo: the in-memory StubBroker with worker threads inside the web process
(:func:`start_worker` from the app's lifespan).
"""

from __future__ import annotations

import gc
import importlib
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import dramatiq
import redis
import structlog
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

from agencyhub.config import Settings
from agencyhub.escalation.actors import (
    CONTEXT,
    STEP_ACTOR,
    SWEEP_ACTOR,
    Actors,
    SweepScheduler,
    configure_worker,
    flush_wakeups,
    set_step_slots,
)
from agencyhub.escalation.enforcement import use_wakeup_sink
from agencyhub.live.poke import install_worker_poke

log = structlog.get_logger(__name__)

# Feature modules with actors (each has ``declare_actors(broker)``); the
# notifications and publishing features add theirs here.
ACTOR_MODULES: tuple[str, ...] = ("agencyhub.escalation.actors",)

# Delayed messages wake up within this many milliseconds of their due time.
WORKER_TIMEOUT_MS = 100
# A hung Redis must not stall a worker: every broker call gives up after this long
# (the consumer reconnects; a lost wake-up is the sweep's). No Dramatiq Redis call
# blocks server-side, so a short read timeout is safe.
REDIS_SOCKET_TIMEOUT_S = 5.0
REDIS_CONNECT_TIMEOUT_S = 2.0


def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=REDIS_SOCKET_TIMEOUT_S,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
        health_check_interval=30,
    )


def setup_broker(settings: Settings) -> dramatiq.Broker:
    broker: dramatiq.Broker
    if settings.redis_url:
        broker = RedisBroker(  # type: ignore[no-untyped-call]
            client=redis_client(settings.redis_url), namespace=settings.broker_namespace
        )
    else:
        broker = StubBroker()
        broker.emit_after("process_boot")
    broker.add_middleware(AsyncIO())
    dramatiq.set_broker(broker)
    declare_actors(broker)
    configure_worker(settings)
    log.info("broker.ready", kind=type(broker).__name__, actors=len(broker.actors))
    return broker


def declare_actors(broker: dramatiq.Broker) -> None:
    for module in ACTOR_MODULES:
        importlib.import_module(module).declare_actors(broker)


@dataclass
class RunningWorker:
    """A Dramatiq worker with the escalation sweep's scheduler."""

    broker: dramatiq.Broker
    worker: dramatiq.Worker
    scheduler: SweepScheduler

    def stop(self, timeout_ms: int = 10_000) -> None:
        self.scheduler.stop()
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:  # the worker's engine lives on the worker's loop
            loop_thread.run_coroutine(CONTEXT.dispose())
        self.worker.stop(timeout=timeout_ms)
        flush_wakeups(timeout=5.0)  # what is still queued after this is the sweep's
        use_wakeup_sink(None)
        log.info("worker.stopped")


def start_worker(broker: dramatiq.Broker, *, threads: int) -> RunningWorker:
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=WORKER_TIMEOUT_MS)
    set_step_slots(threads)  # a step batch holding that many wake-ups need not wait for more
    worker.start()
    escalation = Actors(broker.get_actor(STEP_ACTOR), broker.get_actor(SWEEP_ACTOR))
    # An in-memory broker loses delayed messages with the process: re-arm from the DB.
    scheduler = SweepScheduler(escalation, rearm=isinstance(broker, StubBroker))
    scheduler.start()
    log.info("worker.started", threads=threads, queues=sorted(broker.get_declared_queues()))
    return RunningWorker(broker, worker, scheduler)


# A worker says it is alive this often; readiness counts the beats younger than the TTL.
HEARTBEAT_INTERVAL_S = 10
HEARTBEAT_TTL_S = 30


def heartbeat_key_prefix(settings: Settings) -> str:
    return f"{settings.broker_namespace}:workers:"


def beat_once(settings: Settings, client: redis.Redis, worker_id: str) -> None:
    client.set(
        heartbeat_key_prefix(settings) + worker_id,
        datetime.now(UTC).isoformat(timespec="seconds"),
        ex=HEARTBEAT_TTL_S,
    )


def start_heartbeat(settings: Settings, stop: threading.Event) -> threading.Thread:
    """Beat until ``stop`` is set; the beat's key goes when the worker stops, so
    readiness sees a stopped worker at once (and a killed one within the TTL)."""
    client = redis_client(settings.redis_url)
    worker_id = f"{socket.gethostname()}:{os.getpid()}"

    def beat() -> None:
        while True:
            try:
                beat_once(settings, client, worker_id)
            except redis.RedisError:
                log.warning("worker.heartbeat_failed", exc_info=True)
            if stop.wait(HEARTBEAT_INTERVAL_S):
                break
        try:
            client.delete(heartbeat_key_prefix(settings) + worker_id)
        except redis.RedisError:
            log.warning("worker.heartbeat_clear_failed", exc_info=True)

    thread = threading.Thread(target=beat, name="worker-heartbeat", daemon=True)
    thread.start()
    return thread


def run_worker(settings: Settings, *, threads: int, stop: threading.Event) -> None:
    """Consume until ``stop`` is set, then finish running messages and exit."""
    broker = setup_broker(settings)
    install_worker_poke(settings)  # its events reach live sockets without the poll
    running = start_worker(broker, threads=threads)
    heartbeat = start_heartbeat(settings, stop)
    # Start-up objects out of the collector's reach: shorter pauses in every step
    # (the web processes do the same, see app.freeze_startup_objects).
    gc.collect()
    gc.freeze()
    try:
        stop.wait()
    finally:
        running.stop()
        heartbeat.join(timeout=5)
        broker.close()
