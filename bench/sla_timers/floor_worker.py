"""The floor: a bare Dramatiq worker process with a no-op actor on Redis.

Started twice by ``run.py``. The actor takes ``(n, due_ms)`` and appends
``"n:lateness_ms"`` (wall clock now − due) to a Redis list; nothing else. Same broker
class, thread count and ``worker_timeout`` as ``agencyhub worker``. Stops on SIGTERM.

    python bench/sla_timers/floor_worker.py REDIS_URL THREADS
"""

from __future__ import annotations

import signal
import sys
import threading
import time

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from agencyhub.tasks import WORKER_TIMEOUT_MS

NAMESPACE = "bench-floor"
QUEUE = "floor"
ACTOR = "floor_noop"
RESULTS_KEY = "bench-floor:lateness"


def declare(
    broker: dramatiq.Broker, recorder: redis.Redis | None
) -> dramatiq.Actor[[int, int], None]:
    def noop(n: int, due_ms: int) -> None:
        lateness = time.time() * 1000 - due_ms
        if recorder is not None:
            recorder.rpush(RESULTS_KEY, f"{n}:{lateness:.3f}")

    return dramatiq.Actor(
        noop, broker=broker, actor_name=ACTOR, queue_name=QUEUE, priority=0, options={}
    )


def main(url: str, threads: int) -> None:
    broker = RedisBroker(url=url, namespace=NAMESPACE)  # type: ignore[no-untyped-call]
    dramatiq.set_broker(broker)
    declare(broker, redis.Redis.from_url(url))
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=WORKER_TIMEOUT_MS)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    worker.start()
    try:
        stop.wait()
    finally:
        worker.stop(timeout=5_000)
        broker.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
