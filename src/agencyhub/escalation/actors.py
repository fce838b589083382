"""Dramatiq actors of the escalation feature, and the sweep's scheduler thread.

Actors are thin: they take ids, open one short transaction in a named system scope
and call :mod:`.enforcement`. They are declared on a given broker by
:func:`declare_actors` (from :func:`agencyhub.tasks.setup_broker`), never at import
time, so an import can never bind them to a default broker.

The worker gets its own engine, created lazily on the AsyncIO middleware's event loop
(a pooled asyncpg engine must not cross event loops).

Failures: any exception rolls the step back (nothing recorded, token unchanged) and
Dramatiq retries the message with exponential backoff; the sweep is the safety net
after the retries are spent. A wake-up that finds the draft locked by another
transaction does not wait: it comes back in :data:`LOCKED_RETRY_MS`.

Wake-ups that arrive together run in one transaction (:mod:`.batching`); the sweep
runs the steps it claims together too.

Wake-ups are sent by a :class:`WakeUpSender` thread, so a step's commit (on the event
loop every async actor of the process shares) never waits for Redis; a send that
fails is logged and left to the sweep, which finds the step overdue in the database.
"""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import dramatiq
import structlog

from agencyhub.config import Settings
from agencyhub.db import Database, Scope, transaction, utcnow
from agencyhub.escalation import enforcement
from agencyhub.escalation.batching import StepBatcher
from agencyhub.escalation.enforcement import StepResult, WakeUp
from agencyhub.escalation.plan import Skip
from agencyhub.escalation.steps import Ports

log = structlog.get_logger(__name__)

QUEUE = "escalation"
STEP_ACTOR = "escalation_run_step"
SWEEP_ACTOR = "escalation_sweep"
SWEEP_INTERVAL_SECONDS = 5.0
SWEEP_GRACE = timedelta(seconds=1)
"""The sweep leaves a step to its wake-up for this long past the due time (wake-ups
run ~0.1 s late, p99 ~0.15 s): only then is the message presumed lost."""
SWEEP_LANES = 4
"""Transactions a sweep runs at once (PostgreSQL; SQLite: 1)."""
SWEEP_BATCH = 8
"""Overdue steps one sweep transaction claims and runs: one claim, one commit for all."""
SWEEP_FOLLOW_SECONDS = 0.5
"""After recovering lost steps, look again this soon: the ones falling due next were
probably lost too. A sweep follows like this until a look finds nothing."""
SWEEP_BUDGET_SECONDS = 45.0
"""A sweep stops claiming after this long (its time limit is 60 s); the next tick goes on."""
LOCKED_RETRY_MS = 250
"""A wake-up that finds its draft locked comes back this much later (a decision or a
step holds the row for milliseconds)."""
LAG_WINDOW_SECONDS = 2.0
"""How far back :class:`WakeUpLag` looks."""
STEP_OPTIONS = {
    "max_retries": 8,
    "min_backoff": 1_000,
    "max_backoff": 60_000,
    "time_limit": 30_000,
}
SWEEP_OPTIONS = {"max_retries": 0, "time_limit": 60_000}


class WakeUpLag:
    """How late this process's wake-ups ran lately: the worst of the last
    :data:`LAG_WINDOW_SECONDS`, 0 when none ran in that time.

    It tells "the workers are behind" (wake-ups run, but late: their messages are
    queued and will run the steps) from "messages were lost" (none run). The sweep
    adds it to its grace, so it does not race the queued wake-ups for the same rows
    (every row it takes makes a queued message a wasted no-op transaction), yet takes
    over within the grace when messages stop coming.
    """

    def __init__(self) -> None:
        self._seen: collections.deque[tuple[float, float]] = collections.deque()
        self._lock = threading.Lock()

    def observe(self, lateness_ms: int) -> None:
        with self._lock:
            self._seen.append((time.monotonic(), lateness_ms / 1000))
            self._forget(time.monotonic())

    def seconds(self) -> float:
        with self._lock:
            self._forget(time.monotonic())
            return max((lag for _, lag in self._seen), default=0.0)

    def _forget(self, now: float) -> None:
        while self._seen and now - self._seen[0][0] > LAG_WINDOW_SECONDS:
            self._seen.popleft()


@dataclass
class WorkerContext:
    """What the actors of this process use: settings, ports, and per-loop an engine
    and the step batcher."""

    settings: Settings | None = None
    ports: Ports = field(default_factory=Ports)
    sweeping: bool = False  # on the worker's one event loop: no lock needed
    lag: WakeUpLag = field(default_factory=WakeUpLag)
    step_slots: int = 1  # messages the worker can have in actors at once: its threads
    _db: Database | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _batcher: StepBatcher | None = None

    async def database(self) -> Database:
        loop = asyncio.get_running_loop()
        if self._db is None or self._loop is not loop:
            assert self.settings is not None, "configure_worker() first"
            self._db, self._loop = Database.from_settings(self.settings), loop
        return self._db

    def set_step_slots(self, threads: int) -> None:
        self.step_slots = threads
        self._batcher = None  # the next one is built with them

    def batcher(self) -> StepBatcher:
        if self._batcher is None or self._batcher.loop is not asyncio.get_running_loop():
            self._batcher = StepBatcher(execute_steps, slots=self.step_slots)
        return self._batcher

    async def dispose(self) -> None:
        if self._db is not None:
            await self._db.dispose()
        self._db = self._loop = self._batcher = None


CONTEXT = WorkerContext()


def configure_worker(settings: Settings, ports: Ports | None = None) -> None:
    CONTEXT.settings = settings
    CONTEXT.ports = ports or Ports()


def set_step_slots(threads: int) -> None:
    """How many wake-ups the worker can run at once (its threads): a batch holding that
    many runs without lingering for more (see :class:`.batching.StepBatcher`)."""
    CONTEXT.set_step_slots(threads)


async def execute_steps(wakeups: Sequence[WakeUp], trigger: str = "wakeup") -> list[StepResult]:
    """Run the wake-ups' steps in one transaction (see :func:`enforcement.run_steps`)."""
    db = await CONTEXT.database()
    async with transaction(db.sessions, Scope.for_system("escalation.step")) as session:
        return await enforcement.run_steps(session, wakeups, ports=CONTEXT.ports, trigger=trigger)


async def execute_step(wakeup: WakeUp) -> StepResult:
    [result] = await execute_steps([wakeup])
    return result


async def run_wakeup(wakeup: WakeUp) -> StepResult:
    """A wake-up's step, run together with those arriving at the same time."""
    result = await CONTEXT.batcher().run(wakeup)
    if result.lateness_ms is not None:
        CONTEXT.lag.observe(result.lateness_ms)
    return result


async def run_escalation_step(draft_id: str, step: int, token: str) -> None:
    structlog.contextvars.bind_contextvars(draft_id=draft_id, step=step)
    result = await run_wakeup(WakeUp(uuid.UUID(draft_id), step, token, utcnow()))
    if result.skipped is Skip.LOCKED:
        # Another transaction holds the draft (a decision, a sweep or a duplicate running
        # this step): come back shortly rather than hold a thread waiting for the lock.
        # Counted against max_retries; once they are spent, the sweep has it.
        raise dramatiq.Retry(delay=LOCKED_RETRY_MS)


async def sweep(*, rearm_future: bool = False) -> int:
    """Run every step overdue by more than :data:`SWEEP_GRACE` plus the lag of this
    process's wake-ups (the same code path as a wake-up); answers how many ran.

    Up to :data:`SWEEP_LANES` transactions at once each claim a few overdue rows
    (``FOR UPDATE SKIP LOCKED``) and run them, until none is left, so sweeps of several
    processes share the work instead of repeating it. After finding lost steps it looks
    again every :data:`SWEEP_FOLLOW_SECONDS` until a look finds nothing. One sweep at a
    time per process: a tick arriving while one runs returns at once.

    With ``rearm_future`` (a worker starting on an in-memory broker) it also re-sends
    the wake-ups of steps not yet due, whose messages died with the last process.
    """
    if CONTEXT.sweeping:
        return 0
    CONTEXT.sweeping = True
    try:
        db = await CONTEXT.database()
        if rearm_future:
            async with transaction(db.sessions, Scope.for_system("escalation.rearm")) as session:
                future = await enforcement.future_wakeups(session, utcnow())
            for wakeup in future:
                enforcement.send_wakeup(wakeup)
            log.info("escalation.rearmed", rearmed=len(future))
        lanes = SWEEP_LANES if db.engine.dialect.name == "postgresql" else 1
        return await _sweep_lanes(lanes, time.monotonic() + SWEEP_BUDGET_SECONDS)
    finally:
        CONTEXT.sweeping = False


async def _sweep_lanes(lanes: int, deadline: float) -> int:
    failed: set[uuid.UUID] = set()
    ran = 0
    while time.monotonic() < deadline:
        counts = await asyncio.gather(*(_sweep_lane(failed, deadline) for _ in range(lanes)))
        if not sum(counts):
            break  # nothing (more) was lost: the regular tick takes over
        ran += sum(counts)
        log.info("escalation.swept", ran=sum(counts), failed=len(failed))
        await asyncio.sleep(SWEEP_FOLLOW_SECONDS)
    return ran


async def _sweep_lane(failed: set[uuid.UUID], deadline: float) -> int:
    """Claim and run overdue steps, :data:`SWEEP_BATCH` per transaction, until none is
    left. A batch that fails is run again one step per transaction; a step that fails
    then is left out for the rest of this sweep."""
    db = await CONTEXT.database()
    ran = 0
    while time.monotonic() < deadline:
        wakeups: list[WakeUp] = []
        try:
            async with transaction(db.sessions, Scope.for_system("escalation.sweep")) as session:
                grace = SWEEP_GRACE + timedelta(seconds=CONTEXT.lag.seconds())
                wakeups = await enforcement.claim_overdue(
                    session, utcnow(), grace=grace, limit=SWEEP_BATCH, exclude=failed
                )
                if not wakeups:
                    return ran
                results = await enforcement.run_steps(
                    session, wakeups, ports=CONTEXT.ports, trigger="sweep"
                )
        except Exception:  # one broken draft must not hold up the others; next sweep retries
            log.exception("escalation.sweep_batch_failed", wakeups=len(wakeups))
            if not wakeups:
                return ran
            ran += await _sweep_one_by_one(wakeups, failed)
            continue
        ran += sum(result.skipped is None for result in results)
    return ran


async def _sweep_one_by_one(wakeups: Sequence[WakeUp], failed: set[uuid.UUID]) -> int:
    ran = 0
    for wakeup in wakeups:
        try:
            [result] = await execute_steps([wakeup], trigger="sweep")
        except Exception:
            log.exception("escalation.sweep_step_failed", draft_id=str(wakeup.draft_id))
            failed.add(wakeup.draft_id)
            continue
        ran += result.skipped is None
    return ran


async def sweep_overdue_escalations(rearm_future: bool = False) -> None:
    await sweep(rearm_future=rearm_future)


class WakeUpSender:
    """Sends wake-ups from its own thread, in the order they were committed.

    The caller (an after-commit hook, on the event loop every async actor of the
    process shares) only queues; a slow or hung Redis then delays wake-ups, not steps.
    A send that fails is logged and dropped: the step stays armed in the database and
    the sweep runs it. The thread ends when idle and starts again on demand.
    """

    IDLE_SECONDS = 2.0

    def __init__(self, send: Callable[[WakeUp], None]) -> None:
        self._send = send
        self._queue: queue.Queue[WakeUp] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def __call__(self, wakeup: WakeUp) -> None:
        self._queue.put(wakeup)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="escalation-wakeups", daemon=True
                )
                self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait (bounded) until every queued wake-up was sent or given up; True if so."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def _run(self) -> None:
        while True:
            try:
                wakeup = self._queue.get(timeout=self.IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            try:
                self._send(wakeup)
            except Exception:  # the step stays armed in the database: the sweep recovers it
                log.exception(
                    "escalation.wakeup_send_failed", draft_id=str(wakeup.draft_id), step=wakeup.step
                )
            finally:
                self._queue.task_done()


@dataclass(frozen=True, slots=True)
class Actors:
    step: dramatiq.Actor[[str, int, str], None]
    sweep: dramatiq.Actor[[bool], None]
    sender: WakeUpSender | None = None


def flush_wakeups(timeout: float = 10.0) -> bool:
    """Wait (bounded) until the wake-ups queued so far have gone to the broker."""
    sink = enforcement.current_sink()
    return sink.flush(timeout) if isinstance(sink, WakeUpSender) else True


def declare_actors(broker: dramatiq.Broker) -> Actors:
    """Declare the actors on ``broker`` and send wake-ups through it."""
    step: dramatiq.Actor[[str, int, str], None] = dramatiq.Actor(
        run_escalation_step,
        broker=broker,
        actor_name=STEP_ACTOR,
        queue_name=QUEUE,
        priority=0,
        options=dict(STEP_OPTIONS),
    )
    sweeper: dramatiq.Actor[[bool], None] = dramatiq.Actor(
        sweep_overdue_escalations,
        broker=broker,
        actor_name=SWEEP_ACTOR,
        queue_name=QUEUE,
        priority=10,
        options=dict(SWEEP_OPTIONS),
    )

    def send(wakeup: WakeUp) -> None:
        delay = enforcement.delay_ms(wakeup.due_at, utcnow())
        step.send_with_options(
            args=(str(wakeup.draft_id), wakeup.step, wakeup.token), delay=delay or None
        )

    sender = WakeUpSender(send)
    enforcement.use_wakeup_sink(sender)
    return Actors(step, sweeper, sender)


class SweepScheduler:
    """Sends a sweep message every ``interval`` seconds. With ``rearm`` (an in-memory
    broker, whose delayed messages die with the process) the first one also re-sends
    the wake-ups of every armed step."""

    def __init__(
        self, actors: Actors, *, rearm: bool, interval: float = SWEEP_INTERVAL_SECONDS
    ) -> None:
        self.actors = actors
        self.interval = interval
        self.rearm = rearm
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="escalation-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                self.actors.sweep.send(first and self.rearm)
                first = False
            except Exception:  # a broker hiccup must not end the schedule
                log.exception("escalation.sweep_not_sent")
            self._stop.wait(self.interval)
