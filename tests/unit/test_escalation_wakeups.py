"""Sending wake-ups off the event loop, and the wake-up lag the sweep adds to its grace."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from agencyhub.escalation import actors
from agencyhub.escalation.actors import WakeUpLag, WakeUpSender
from agencyhub.escalation.batching import StepBatcher
from agencyhub.escalation.enforcement import StepResult, WakeUp

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def wakeups(n: int) -> list[WakeUp]:
    return [WakeUp(uuid.uuid4(), 1, f"t{i}", NOW) for i in range(n)]


def test_the_sender_sends_in_order_from_another_thread_and_flushes():
    sent: list[tuple[WakeUp, str]] = []
    sender = WakeUpSender(lambda w: sent.append((w, threading.current_thread().name)))
    queued = wakeups(50)
    for wakeup in queued:
        sender(wakeup)

    assert sender.flush(timeout=5)
    assert [w for w, _ in sent] == queued
    assert {name for _, name in sent} == {"escalation-wakeups"}


def test_a_failed_send_is_dropped_and_the_next_ones_still_go():
    sent: list[WakeUp] = []
    first, second = wakeups(2)

    def send(wakeup: WakeUp) -> None:
        if wakeup is first:
            raise ConnectionError("redis is down")  # the sweep will find the step overdue
        sent.append(wakeup)

    sender = WakeUpSender(send)
    sender(first)
    sender(second)

    assert sender.flush(timeout=5)
    assert sent == [second]


def test_the_lag_is_the_worst_recent_lateness_and_is_forgotten(monkeypatch: pytest.MonkeyPatch):
    clock = [100.0]
    monkeypatch.setattr(actors.time, "monotonic", lambda: clock[0])
    lag = WakeUpLag()
    assert lag.seconds() == 0.0

    lag.observe(3_000)
    lag.observe(200)
    assert lag.seconds() == 3.0  # the workers are behind: the sweep holds back

    clock[0] += actors.LAG_WINDOW_SECONDS + 0.1
    assert lag.seconds() == 0.0  # no wake-up ran lately: lost, the sweep takes over


# --- wake-ups arriving together run in one transaction -----------------------------------


class RecordingRun:
    """Stands in for one step transaction: records each batch, answers "ran"."""

    def __init__(self, broken: set[uuid.UUID] | None = None) -> None:
        self.batches: list[list[WakeUp]] = []
        self.broken = broken or set()
        self.release = asyncio.Event()

    async def __call__(self, batch: Sequence[WakeUp]) -> list[StepResult]:
        self.batches.append(list(batch))
        await self.release.wait()  # a transaction takes a while: others arrive meanwhile
        if self.broken & {w.draft_id for w in batch}:
            raise RuntimeError("a broken draft")
        return [StepResult(None, lateness_ms=int(w.token[1:])) for w in batch]


async def test_a_lone_wake_up_runs_at_once_and_those_arriving_meanwhile_run_together():
    run = RecordingRun()
    batcher = StepBatcher(run, batch=16, lanes=1)
    first, *later = wakeups(5)

    pending = [asyncio.create_task(batcher.run(first))]
    await asyncio.sleep(0)
    pending += [asyncio.create_task(batcher.run(w)) for w in later]
    await asyncio.sleep(0)
    run.release.set()
    results = await asyncio.gather(*pending)

    assert run.batches == [[first], later]  # nobody waited for company
    assert [r.lateness_ms for r in results] == [0, 1, 2, 3, 4]  # each caller its own result


async def test_a_batch_is_capped_and_every_lane_takes_its_own_wake_ups():
    run = RecordingRun()
    run.release.set()
    batcher = StepBatcher(run, batch=3, lanes=2)

    results = await asyncio.gather(*(batcher.run(w) for w in wakeups(8)))

    assert len(results) == 8
    assert max(len(b) for b in run.batches) <= 3
    ran = [w.token for b in run.batches for w in b]
    assert sorted(ran) == sorted(f"t{i}" for i in range(8))  # each exactly once


async def test_a_failed_batch_runs_again_one_by_one_so_only_the_broken_draft_fails():
    queued = wakeups(4)
    run = RecordingRun(broken={queued[2].draft_id})
    batcher = StepBatcher(run, batch=16, lanes=1)
    first = asyncio.create_task(batcher.run(queued[0]))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(batcher.run(w)) for w in queued[1:]]
    await asyncio.sleep(0)
    run.release.set()

    assert (await first).skipped is None
    outcomes = await asyncio.gather(*rest, return_exceptions=True)

    assert [type(o).__name__ for o in outcomes] == ["StepResult", "RuntimeError", "StepResult"]
    assert run.batches[1] == queued[1:]  # together first, then each on its own
    assert run.batches[2:] == [[w] for w in queued[1:]]


async def test_a_batch_lingers_for_company_until_every_slot_is_in_it():
    run = RecordingRun()
    run.release.set()
    batcher = StepBatcher(run, slots=3, linger=5.0, lanes=1)
    queued = wakeups(3)

    started = time.monotonic()
    first = asyncio.create_task(batcher.run(queued[0]))
    await asyncio.sleep(0.05)
    assert run.batches == []  # waiting for the others the worker's threads may bring
    await asyncio.gather(first, *(batcher.run(w) for w in queued[1:]))

    assert run.batches == [queued]  # all three slots taken: ran at once, not after 5 s
    assert time.monotonic() - started < 1


async def test_a_lone_wake_up_runs_after_the_linger():
    run = RecordingRun()
    run.release.set()
    batcher = StepBatcher(run, slots=4, linger=0.05, lanes=1)
    [wakeup] = wakeups(1)

    started = time.monotonic()
    result = await batcher.run(wakeup)

    assert result.skipped is None
    assert 0.04 < time.monotonic() - started < 1
    assert run.batches == [[wakeup]]


async def test_a_wake_up_arriving_just_as_the_lane_ends_still_runs():
    # The caller resumes and brings its next wake-up before the finished lane's task
    # has been cleaned up: that wake-up must start a lane, not wait forever.
    run = RecordingRun()
    run.release.set()
    batcher = StepBatcher(run, lanes=1)

    async def one_after_another() -> list[StepResult]:
        return [await batcher.run(wakeup) for wakeup in wakeups(3)]

    results = await asyncio.wait_for(one_after_another(), timeout=2)
    assert [r.skipped for r in results] == [None, None, None]
