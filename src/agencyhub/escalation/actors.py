"""Dramatiq actors of the escalation feature, and the sweep's scheduler thread.

Actors are thin: they take ids, open one short transaction in a named system scope
and call :mod:`.enforcement`. They are declared on a given broker by
:func:`declare_actors` (from :func:`agencyhub.tasks.setup_broker`), never at import
time, so an import can never bind them to a default broker.

The worker gets its own engine, created lazily on the AsyncIO middleware's event loop
(a pooled asyncpg engine must not cross event loops).

Failures: any exception rolls the step back (nothing recorded, token unchanged) and
Dramatiq retries the message with exponential backoff; the sweep is the safety net
after the retries are spent.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass, field

import dramatiq
import structlog

from agencyhub.config import Settings
from agencyhub.db import Database, Scope, transaction, utcnow
from agencyhub.escalation import enforcement
from agencyhub.escalation.enforcement import StepResult, WakeUp
from agencyhub.escalation.steps import Ports

log = structlog.get_logger(__name__)

QUEUE = "escalation"
STEP_ACTOR = "escalation_run_step"
SWEEP_ACTOR = "escalation_sweep"
SWEEP_INTERVAL_SECONDS = 5.0
STEP_OPTIONS = {
    "max_retries": 8,
    "min_backoff": 1_000,
    "max_backoff": 60_000,
    "time_limit": 30_000,
}
SWEEP_OPTIONS = {"max_retries": 0, "time_limit": 60_000}


@dataclass
class WorkerContext:
    """What the actors of this process use: settings, ports, and a per-loop engine."""

    settings: Settings | None = None
    ports: Ports = field(default_factory=Ports)
    _db: Database | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def database(self) -> Database:
        loop = asyncio.get_running_loop()
        if self._db is None or self._loop is not loop:
            assert self.settings is not None, "configure_worker() first"
            self._db, self._loop = Database.from_settings(self.settings), loop
        return self._db

    async def dispose(self) -> None:
        if self._db is not None:
            await self._db.dispose()
        self._db = self._loop = None


CONTEXT = WorkerContext()


def configure_worker(settings: Settings, ports: Ports | None = None) -> None:
    CONTEXT.settings = settings
    CONTEXT.ports = ports or Ports()


async def execute_step(wakeup: WakeUp) -> StepResult:
    db = await CONTEXT.database()
    async with transaction(db.sessions, Scope.for_system("escalation.step")) as session:
        return await enforcement.run_step(session, wakeup, ports=CONTEXT.ports)


async def run_escalation_step(draft_id: str, step: int, token: str) -> None:
    structlog.contextvars.bind_contextvars(draft_id=draft_id, step=step)
    wakeup = WakeUp(uuid.UUID(draft_id), step, token, utcnow())
    await execute_step(wakeup)


async def sweep(*, rearm_future: bool = False) -> int:
    """Run every overdue step (same code path as a wake-up); answers how many ran.

    With ``rearm_future`` (a worker starting on an in-memory broker) it also re-sends
    the wake-ups of steps not yet due, whose messages died with the last process.
    """
    db = await CONTEXT.database()
    ran = 0
    async with transaction(db.sessions, Scope.for_system("escalation.sweep")) as session:
        overdue = await enforcement.overdue_wakeups(session, utcnow())
        future = await enforcement.future_wakeups(session, utcnow()) if rearm_future else []
    for wakeup in overdue:
        try:
            result = await execute_step(wakeup)
        except Exception:  # one broken draft must not hold up the others; next sweep retries
            log.exception("escalation.sweep_step_failed", draft_id=str(wakeup.draft_id))
            continue
        ran += result.skipped is None
    for wakeup in future:
        enforcement.send_wakeup(wakeup)
    if overdue or future:
        log.info("escalation.swept", overdue=len(overdue), ran=ran, rearmed=len(future))
    return ran


async def sweep_overdue_escalations(rearm_future: bool = False) -> None:
    await sweep(rearm_future=rearm_future)


@dataclass(frozen=True, slots=True)
class Actors:
    step: dramatiq.Actor[[str, int, str], None]
    sweep: dramatiq.Actor[[bool], None]


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

    enforcement.use_wakeup_sink(send)
    return Actors(step, sweeper)


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
