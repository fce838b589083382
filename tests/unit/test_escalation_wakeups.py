"""Sending wake-ups off the event loop, and the wake-up lag the sweep adds to its grace."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest

from agencyhub.escalation import actors
from agencyhub.escalation.actors import WakeUpLag, WakeUpSender
from agencyhub.escalation.enforcement import WakeUp

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
