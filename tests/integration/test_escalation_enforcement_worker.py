"""Enforcement end to end: PostgreSQL, a real Redis broker and a real Dramatiq worker in
this process.

Each test uses its own broker namespace on a dedicated Redis database and deletes its
keys afterwards, so it neither sees nor disturbs anybody else's messages. A "2-second
SLA" is a crisis item (15-minute target) submitted 14 min 58 s ago.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import dramatiq
import httpx
import pytest
import redis
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker
from dramatiq.middleware import AsyncIO
from sqlalchemy import event, select, text, update

from agencyhub.app import create_app
from agencyhub.approvals import service as approvals
from agencyhub.approvals.models import Decision, Draft
from agencyhub.audit.models import Event
from agencyhub.db import Scope, transaction, utcnow
from agencyhub.errors import Conflict
from agencyhub.escalation.actors import (
    CONTEXT,
    QUEUE,
    SWEEP_GRACE,
    Actors,
    SweepScheduler,
    configure_worker,
    declare_actors,
)
from agencyhub.escalation.enforcement import (
    StepResult,
    WakeUp,
    claim_overdue,
    run_step,
    run_steps,
    use_wakeup_sink,
)
from agencyhub.escalation.models import Crisis, DraftEscalation, EscalationStepRun, Notification
from agencyhub.escalation.notify import InAppNotifier, Message
from agencyhub.escalation.plan import Skip
from agencyhub.escalation.publisher import Publication
from agencyhub.escalation.steps import Ports
from agencyhub.publishing.models import InboundItem
from agencyhub.tenancy.auth import load_actor
from agencyhub.tenancy.models import User
from tests.factories import PASSWORD, World, grant, make_user, make_world

pytestmark = pytest.mark.postgres

REDIS_URL = os.environ.get("AGENCYHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
CRISIS_TARGET = timedelta(minutes=15)
HOLDING = "Wir kümmern uns darum und melden uns innerhalb einer Stunde."


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[Publication] = []
        self._lock = threading.Lock()

    def publish_reply(self, publication: Publication) -> None:
        with self._lock:
            self.published.append(publication)


@dataclass
class Enforcement:
    broker: RedisBroker
    actors: Actors
    namespace: str
    publisher: RecordingPublisher = field(default_factory=RecordingPublisher)
    worker: dramatiq.Worker | None = None
    scheduler: SweepScheduler | None = None

    def start_worker(self, *, sweep_every: float | None = None) -> None:
        self.worker = dramatiq.Worker(self.broker, worker_threads=2, worker_timeout=100)
        self.worker.start()
        if sweep_every is not None:
            self.scheduler = SweepScheduler(self.actors, rearm=False, interval=sweep_every)
            self.scheduler.start()

    def settle(self) -> None:
        self.broker.join(f"{QUEUE}.DQ", timeout=20_000)
        self.broker.join(QUEUE, timeout=20_000)
        if self.worker is not None:
            self.worker.join()

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.worker is not None:
            loop_thread = get_event_loop_thread()
            if loop_thread is not None:
                loop_thread.run_coroutine(CONTEXT.dispose())
            self.worker.stop(timeout=5_000)
        self.worker = self.scheduler = None

    def lose_all_messages(self) -> None:
        """What a Redis restart without persistence does to queued messages."""
        # Wake-ups leave from a sender thread: let the queued ones reach Redis first,
        # or one sent after the flush survives it.
        if self.actors.sender is not None:
            assert self.actors.sender.flush()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{self.namespace}:*"))
        if keys:
            client.delete(*keys)


@pytest.fixture
def enforcement(postgres_database, pg) -> Iterator[Enforcement]:
    namespace = f"agencyhub-test-{os.getpid()}-{secrets.token_hex(4)}"
    # Maintenance on every command and a 2-second heartbeat: a killed worker's unacked
    # messages come back within seconds instead of a minute.
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=REDIS_URL,
        namespace=namespace,
        heartbeat_timeout=2_000,
        maintenance_chance=MAINTENANCE_SCALE,
    )
    broker.add_middleware(AsyncIO())
    running = Enforcement(broker, declare_actors(broker), namespace)
    configure_worker(postgres_database.settings, Ports(publisher=running.publisher))
    try:
        yield running
    finally:
        running.stop()
        running.lose_all_messages()
        broker.close()
        use_wakeup_sink(None)


@pytest.fixture
async def api(
    postgres_database, pg
) -> AsyncIterator[Callable[[str], Awaitable[httpx.AsyncClient]]]:
    """Signed-in HTTP clients of the app (no lifespan: the test runs the worker)."""
    app = create_app(postgres_database.settings)
    opened: list[httpx.AsyncClient] = []

    async def signed_in(email: str) -> httpx.AsyncClient:
        caller = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        response = await caller.post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        caller.headers["x-csrf-token"] = response.json()["csrfToken"]
        opened.append(caller)
        return caller

    yield signed_in
    for caller in opened:
        await caller.aclose()
    await app.state.runtime.db.dispose()


@dataclass
class Scenario:
    world: World
    draft: dict[str, Any]
    template_id: str

    @property
    def draft_id(self) -> uuid.UUID:
        return uuid.UUID(self.draft["id"])


async def crisis_reply_with_fallback(
    api, pg, passwords, action: str = "publish_template"
) -> Scenario:
    """A crisis comment, a reply draft, an approved template, and a plan: step 1 pages
    whoever is on duty at the due time, step 2 the executives and takes the fallback
    (by default: publish the template)."""
    world = await make_world(pg, passwords)
    client_id = world.clients["a1"].id
    owner = await api(world.users["a.owner"].email)
    channel = (
        await owner.post(
            f"/api/v1/clients/{client_id}/channels", json={"platform": "x", "handle": "@b"}
        )
    ).json()
    item = await owner.post(
        f"/api/v1/clients/{client_id}/inbound-items",
        json={
            "channelId": channel["id"],
            "externalId": f"c-{secrets.token_hex(3)}",
            "kind": "comment",
            "body": "Euer Produkt hat mich krank gemacht!",
            "severity": "crisis",
        },
    )
    assert item.status_code == 201, item.text
    draft = await owner.post(
        f"/api/v1/clients/{client_id}/drafts",
        json={"kind": "reply", "inboundItemId": item.json()["id"], "body": "Das tut uns leid."},
    )
    assert draft.status_code == 201, draft.text
    template = await owner.post(
        f"/api/v1/clients/{client_id}/templates", json={"name": "Holding", "body": HOLDING}
    )
    executive = await api(world.users["a1.executive"].email)
    approved = await executive.post(f"/api/v1/templates/{template.json()['id']}/approve", json={})
    assert approved.status_code == 200, approved.text
    admin = await api(world.users["a1.client_admin"].email)
    # No wait of its own: the fallback comes with the step (see the wait test).
    fallback = {"action": action, "waitMinutes": 0}
    if action == "publish_template":
        fallback["templateId"] = template.json()["id"]
    plan = on_duty_then_executives(fallback)
    assert (
        await admin.put(f"/api/v1/clients/{client_id}/emergency-plan", json=plan)
    ).status_code == 200
    return Scenario(world, draft.json(), template.json()["id"])


def on_duty_then_executives(fallback: dict[str, Any]) -> dict[str, Any]:
    """A plan: step 1 pages whoever is on duty at due, step 2 the executives, with
    ``fallback``."""
    return {
        "steps": [
            {"afterMinutes": 0, "notify": ["on_duty"]},
            {"afterMinutes": 0, "notify": ["executives"], "fallback": fallback},
        ]
    }


async def submit_due_in(pg, scenario: Scenario, seconds: float) -> dict[str, Any]:
    """Submit as if 15 minutes minus ``seconds`` ago: the crisis SLA is due in ``seconds``."""
    entered = utcnow() - CRISIS_TARGET + timedelta(seconds=seconds)
    async with transaction(pg.sessions) as session:
        actor = await load_actor(session, scenario.world.user_id("a.owner"))
        draft = await approvals.submit(
            session, actor, scenario.draft_id, scenario.draft["version"], now=entered
        )
        scenario.draft = {"id": str(draft.id), "version": draft.version}
    return scenario.draft


async def rows(pg, model, **where: Any) -> list[Any]:
    async with transaction(pg.sessions, Scope.for_system("tests")) as session:
        query = select(model).filter_by(**where)
        return list(await session.scalars(query))


async def draft_status(pg, draft_id: uuid.UUID) -> str:
    [draft] = await rows(pg, Draft, id=draft_id)
    return str(draft.status)


async def wait_for_status(pg, draft_id: uuid.UUID, status: str, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while await draft_status(pg, draft_id) != status:
        assert time.monotonic() < deadline, f"the draft never became {status}"
        await asyncio.sleep(0.1)


async def draft_events(pg, draft_id: uuid.UUID) -> list[Event]:
    events = await rows(pg, Event, subject_id=draft_id)
    return sorted(events, key=lambda e: e.id)


async def step_runs(pg, draft_id: uuid.UUID) -> list[int]:
    return sorted(r.step for r in await rows(pg, EscalationStepRun, draft_id=draft_id))


# --- the tests -----------------------------------------------------------------------------


async def test_a_crisis_item_with_a_2_second_sla_escalates_and_the_template_is_published(
    enforcement, api, pg, passwords
):
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    enforcement.start_worker()
    await submit_due_in(pg, scenario, 2)
    [armed] = await rows(pg, DraftEscalation, draft_id=scenario.draft_id)
    due = armed.sla_due_at

    await wait_for_status(pg, scenario.draft_id, "fallback_taken")
    enforcement.settle()

    assert await step_runs(pg, scenario.draft_id) == [0, 1, 2]  # reminder, step 1, step 2
    runs = {r.step: r for r in await rows(pg, EscalationStepRun, draft_id=scenario.draft_id)}
    assert runs[1].ran_at >= due
    assert runs[2].fallback == "publish_template"
    [published] = enforcement.publisher.published
    assert published.body == HOLDING
    assert str(published.template_id) == scenario.template_id
    assert published.step == 2
    types = [e.type for e in await draft_events(pg, scenario.draft_id)]
    assert types[-5:] == [
        "draft.reminder_sent",
        "draft.escalated",
        "draft.escalated",
        "draft.fallback_published",
        "draft.fallback_taken",
    ]
    [note] = [
        e for e in await draft_events(pg, scenario.draft_id) if e.type == "draft.fallback_published"
    ]
    executive = scenario.world.users["a1.executive"]
    assert note.payload["note"] == (
        f"published by emergency plan step 2, template Holding, approved by {executive.name} "
        f"on {utcnow().date().isoformat()}"
    )
    assert note.actor_kind == "system"
    # No rota: the approvers are paged first (reminder, step 1), the executive at step 2.
    notified = await rows(pg, Notification, user_id=executive.id)
    assert {n.kind for n in notified} == {"escalation.step", "escalation.fallback_taken"}
    approver = scenario.world.users["a1.approver"]
    notified = await rows(pg, Notification, user_id=approver.id)
    assert {n.kind for n in notified} == {
        "escalation.reminder",
        "escalation.step",
        "escalation.fallback_taken",
    }
    [finished] = await rows(pg, DraftEscalation, draft_id=scenario.draft_id)
    assert finished.next_step is None


async def test_approving_before_the_due_time_means_no_step_runs(enforcement, api, pg, passwords):
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    draft = await submit_due_in(pg, scenario, 1)  # wake-up calls are on their way
    executive = await api(scenario.world.users["a1.executive"].email)
    approved = await executive.post(
        f"/api/v1/drafts/{draft['id']}/decisions",
        json={"decision": "approve", "version": draft["version"]},
    )
    assert approved.status_code == 200, approved.text

    enforcement.start_worker()
    await asyncio.sleep(1.5)  # past the due time
    enforcement.settle()

    assert await step_runs(pg, scenario.draft_id) == []
    assert enforcement.publisher.published == []
    assert await rows(pg, Notification) == []
    assert await draft_status(pg, scenario.draft_id) == "approved"


async def test_duplicate_messages_run_nothing_twice(enforcement, api, pg, passwords):
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    await submit_due_in(pg, scenario, 1)
    [armed] = await rows(pg, DraftEscalation, draft_id=scenario.draft_id)
    for _ in range(3):  # at-least-once delivery: the same wake-up, again and again
        enforcement.actors.step.send(str(scenario.draft_id), armed.next_step, armed.token)

    enforcement.start_worker()
    await wait_for_status(pg, scenario.draft_id, "fallback_taken")
    enforcement.settle()
    [done] = await rows(pg, DraftEscalation, draft_id=scenario.draft_id)
    enforcement.actors.step.send(str(scenario.draft_id), 2, done.token)  # after the end
    enforcement.settle()

    assert await step_runs(pg, scenario.draft_id) == [0, 1, 2]
    assert len(enforcement.publisher.published) == 1
    types = [e.type for e in await draft_events(pg, scenario.draft_id)]
    assert types.count("draft.reminder_sent") == 1
    assert types.count("draft.escalated") == 2
    assert types.count("draft.fallback_published") == 1


async def test_when_redis_loses_the_messages_the_sweep_still_runs_every_overdue_step(
    enforcement, api, pg, passwords
):
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    await submit_due_in(pg, scenario, 1)
    enforcement.lose_all_messages()
    await asyncio.sleep(1.2)  # every step is overdue now, and no message will wake us

    enforcement.start_worker(sweep_every=0.5)
    await wait_for_status(pg, scenario.draft_id, "fallback_taken")
    enforcement.settle()

    assert await step_runs(pg, scenario.draft_id) == [0, 1, 2]
    assert len(enforcement.publisher.published) == 1
    [reminder] = [
        e for e in await draft_events(pg, scenario.draft_id) if e.type == "draft.reminder_sent"
    ]
    assert reminder.payload["trigger"] == "sweep"  # its wake-up was lost


class FlakyInApp(InAppNotifier):
    """Fails its first delivery, like a notification channel that is briefly down."""

    def __init__(self) -> None:
        self.calls = 0

    async def notify(self, session, messages: Sequence[Message]) -> None:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("notification channel down")
        await super().notify(session, messages)


async def test_a_failed_notification_rolls_the_step_back_and_is_retried_with_backoff(
    enforcement, api, pg, passwords, postgres_database
):
    flaky = FlakyInApp()
    configure_worker(
        postgres_database.settings,
        Ports(notifiers={"in_app": flaky}, publisher=enforcement.publisher),
    )
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    enforcement.start_worker()
    await submit_due_in(pg, scenario, 1)

    await wait_for_status(pg, scenario.draft_id, "fallback_taken")
    enforcement.settle()

    # The reminder twice (failed, then retried), steps 1 and 2, the fallback's outcome notice.
    assert flaky.calls == 5
    assert await step_runs(pg, scenario.draft_id) == [0, 1, 2]
    reminders = [n for n in await rows(pg, Notification) if n.kind == "escalation.reminder"]
    assert len(reminders) == 1  # the failed attempt left nothing behind
    types = [e.type for e in await draft_events(pg, scenario.draft_id)]
    assert types.count("draft.reminder_sent") == 1


# --- the race rule: an approval and a step due at the same moment --------------------------
# Both lock the draft row; whichever commits first wins. These run the step in a
# transaction the test holds open, so the other side provably waits on the lock.


@pytest.fixture
def no_broker() -> None:
    use_wakeup_sink(None)  # wake-ups are dropped: the test runs each step itself


async def armed_wakeup(pg, draft_id: uuid.UUID) -> WakeUp:
    [row] = await rows(pg, DraftEscalation, draft_id=draft_id)
    assert row.next_step is not None
    return WakeUp(draft_id, row.next_step, row.token, row.next_due_at)


async def run_next_step_with(pg, wakeup: WakeUp, ports: Ports) -> StepResult:
    async with transaction(pg.sessions, Scope.for_system("tests.step")) as session:
        return await run_step(session, wakeup, ports=ports)


async def run_next_step(pg, draft_id: uuid.UUID, ports: Ports) -> StepResult:
    return await run_next_step_with(pg, await armed_wakeup(pg, draft_id), ports)


async def approve(pg, scenario: Scenario, version: int) -> Draft:
    async with transaction(pg.sessions) as session:
        actor = await load_actor(session, scenario.world.user_id("a1.executive"))
        return await approvals.decide(
            session,
            actor,
            scenario.draft_id,
            decision="approve",
            version=version,
            comment="",
            revision_id=None,
            wording=None,
        )


async def overdue_at_the_fallback_step(api, pg, passwords, ports: Ports) -> Scenario:
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    await submit_due_in(pg, scenario, -1)
    for _ in (0, 1):  # the reminder and step 1 ran; step 2 (the fallback) is due
        assert (await run_next_step(pg, scenario.draft_id, ports)).skipped is None
    return scenario


async def test_race_approval_commits_first_so_no_fallback_follows(no_broker, api, pg, passwords):
    ports = Ports(publisher=RecordingPublisher())
    scenario = await overdue_at_the_fallback_step(api, pg, passwords, ports)
    wakeup = await armed_wakeup(pg, scenario.draft_id)
    assert wakeup.step == 2

    async with transaction(pg.sessions) as session:
        actor = await load_actor(session, scenario.world.user_id("a1.executive"))
        await approvals.decide(
            session,
            actor,
            scenario.draft_id,
            decision="approve",
            version=scenario.draft["version"],
            comment="",
            revision_id=None,
            wording=None,
        )
        # The step does not wait for the draft row lock: it skips, to be retried.
        locked = await asyncio.wait_for(run_next_step_with(pg, wakeup, ports), timeout=5)
        assert locked.skipped is Skip.LOCKED
    result = await run_next_step_with(pg, wakeup, ports)  # the retry, after the commit

    assert result.skipped is Skip.NOT_PENDING
    assert await draft_status(pg, scenario.draft_id) == "approved"
    assert await step_runs(pg, scenario.draft_id) == [0, 1]
    assert ports.publisher.published == []  # type: ignore[attr-defined]
    types = [e.type for e in await draft_events(pg, scenario.draft_id)]
    assert "draft.fallback_taken" not in types
    assert types[-1] == "draft.approved"


async def test_race_fallback_commits_first_so_the_approval_is_refused(
    no_broker, api, pg, passwords
):
    ports = Ports(publisher=RecordingPublisher())
    scenario = await overdue_at_the_fallback_step(api, pg, passwords, ports)
    wakeup = await armed_wakeup(pg, scenario.draft_id)

    async with transaction(pg.sessions, Scope.for_system("tests.step")) as session:
        result = await run_step(session, wakeup, ports=ports)
        approval = asyncio.create_task(approve(pg, scenario, scenario.draft["version"]))
        await asyncio.sleep(0.5)
        assert not approval.done()  # waiting for the draft row lock
    with pytest.raises(Conflict):
        await approval

    assert result.fallback == "publish_template"
    assert await draft_status(pg, scenario.draft_id) == "fallback_taken"
    assert len(ports.publisher.published) == 1  # type: ignore[attr-defined]
    assert await rows(pg, Decision, draft_id=scenario.draft_id) == []
    types = [e.type for e in await draft_events(pg, scenario.draft_id)]
    assert types[-2:] == ["draft.fallback_published", "draft.fallback_taken"]
    assert "draft.approved" not in types


async def test_race_a_notify_step_first_and_the_approval_still_applies(
    no_broker, api, pg, passwords
):
    ports = Ports(publisher=RecordingPublisher())
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    await submit_due_in(pg, scenario, -1)
    assert (await run_next_step(pg, scenario.draft_id, ports)).skipped is None  # reminder
    wakeup = await armed_wakeup(pg, scenario.draft_id)
    assert wakeup.step == 1  # notify only

    async with transaction(pg.sessions, Scope.for_system("tests.step")) as session:
        result = await run_step(session, wakeup, ports=ports)
        approval = asyncio.create_task(approve(pg, scenario, scenario.draft["version"]))
        await asyncio.sleep(0.5)
        assert not approval.done()
    approved = await approval

    assert result.skipped is None
    assert approved.status == "approved"
    later = await run_next_step(pg, scenario.draft_id, ports)  # step 2 was armed meanwhile
    assert later.skipped is Skip.NOT_PENDING
    assert await step_runs(pg, scenario.draft_id) == [0, 1]
    assert ports.publisher.published == []  # type: ignore[attr-defined]
    types = [e.type for e in await draft_events(pg, scenario.draft_id)]
    assert types[-2:] == ["draft.escalated", "draft.approved"]


# --- the other fallbacks -------------------------------------------------------------------


async def test_the_hide_item_fallback_hides_the_inbound_item(no_broker, api, pg, passwords):
    ports = Ports(publisher=RecordingPublisher())
    scenario = await crisis_reply_with_fallback(api, pg, passwords, action="hide_item")
    await submit_due_in(pg, scenario, -1)
    for _ in (0, 1, 2):
        assert (await run_next_step(pg, scenario.draft_id, ports)).skipped is None

    [draft] = await rows(pg, Draft, id=scenario.draft_id)
    assert draft.status == "fallback_taken"
    [item] = await rows(pg, InboundItem, id=draft.inbound_item_id)
    assert item.hidden_at is not None
    assert [e.type for e in await rows(pg, Event, subject_id=item.id)][-1] == "inbound.hidden"
    assert ports.publisher.published == []  # type: ignore[attr-defined]


async def test_the_crisis_mode_fallback_declares_a_crisis_for_the_client(
    no_broker, api, pg, passwords
):
    ports = Ports()
    scenario = await crisis_reply_with_fallback(api, pg, passwords, action="crisis_mode")
    await submit_due_in(pg, scenario, -1)
    for _ in (0, 1, 2):
        assert (await run_next_step(pg, scenario.draft_id, ports)).skipped is None

    [crisis] = await rows(pg, Crisis, client_id=scenario.world.clients["a1"].id)
    assert crisis.ended_at is None
    assert crisis.started_by_draft_id == scenario.draft_id
    assert crisis.started_by_id is None  # the system, by the client's plan
    assert await draft_status(pg, scenario.draft_id) == "fallback_taken"


async def test_a_template_retired_after_arming_is_not_published(no_broker, api, pg, passwords):
    ports = Ports(publisher=RecordingPublisher())
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    await submit_due_in(pg, scenario, -1)
    executive = await api(scenario.world.users["a1.executive"].email)
    retired = await executive.post(f"/api/v1/templates/{scenario.template_id}/retire")
    assert retired.status_code == 200, retired.text
    for _ in (0, 1, 2):
        assert (await run_next_step(pg, scenario.draft_id, ports)).skipped is None

    assert ports.publisher.published == []  # type: ignore[attr-defined]
    assert await draft_status(pg, scenario.draft_id) == "pending"  # still the client's call
    [skipped] = [
        e for e in await draft_events(pg, scenario.draft_id) if e.type == "draft.fallback_skipped"
    ]
    assert skipped.payload["reason"] == "the template is no longer approved by the client"


# --- a worker process killed in the middle of a step ---------------------------------------

WORKER_SCRIPT = """
import sys, time
import dramatiq
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker
from dramatiq.middleware import AsyncIO
from agencyhub.config import Settings
from agencyhub.escalation.actors import configure_worker, declare_actors
from agencyhub.models import load_all_models

load_all_models()
redis_url, database_url, namespace = sys.argv[1:4]
broker = RedisBroker(url=redis_url, namespace=namespace)
broker.add_middleware(AsyncIO())
declare_actors(broker)
configure_worker(Settings(environment="test", database_url=database_url, database_pool_size=2))
dramatiq.Worker(broker, worker_threads=1, worker_timeout=100).start()
print("ready", flush=True)
time.sleep(600)
"""


async def backends_waiting_for_a_lock(pg) -> int:
    async with pg.engine.connect() as conn:
        found = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return int(found or 0)


class RollBack(Exception):
    """Ends a test's transaction with a rollback."""


def fake_run(draft: Draft, wakeup: WakeUp) -> EscalationStepRun:
    return EscalationStepRun(
        agency_id=draft.agency_id,
        draft_id=draft.id,
        round=1,
        step=wakeup.step,
        due_at=wakeup.due_at,
        ran_at=utcnow(),
        notified=[],
    )


async def test_a_worker_killed_mid_step_leaves_the_step_to_run_exactly_once(
    enforcement, api, pg, passwords, postgres_database
):
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    await submit_due_in(pg, scenario, -1)  # every step is overdue
    wakeup = await armed_wakeup(pg, scenario.draft_id)
    [draft] = await rows(pg, Draft, id=scenario.draft_id)
    enforcement.lose_all_messages()
    process = subprocess.Popen(  # noqa: ASYNC220 - a child we kill on purpose
        [
            sys.executable,
            "-c",
            WORKER_SCRIPT,
            REDIS_URL,
            postgres_database.settings.database_url,
            enforcement.namespace,
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready"
        with contextlib.suppress(RollBack):
            async with transaction(pg.sessions, Scope.for_system("tests.hold")) as holding:
                # An uncommitted run of the same step: the worker locks the draft, does
                # the step's work and then waits on the unique key as it commits.
                holding.add(fake_run(draft, wakeup))
                await holding.flush()
                enforcement.actors.step.send(str(wakeup.draft_id), wakeup.step, wakeup.token)
                for _ in range(100):
                    if await backends_waiting_for_a_lock(pg):
                        break
                    await asyncio.sleep(0.1)
                assert await backends_waiting_for_a_lock(pg) == 1  # mid-step
                process.kill()
                process.wait(timeout=10)
                raise RollBack  # our fake run goes, as the dead worker's transaction did
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert await step_runs(pg, scenario.draft_id) == []  # nothing of the dead step stayed

    enforcement.start_worker(sweep_every=0.5)  # "after restart": the sweep finds it
    await wait_for_status(pg, scenario.draft_id, "fallback_taken")
    await asyncio.sleep(3)  # past the heartbeat timeout: the dead worker's message returns
    enforcement.settle()  # ... and has been delivered again, as a stale no-op

    assert await step_runs(pg, scenario.draft_id) == [0, 1, 2]
    assert len(enforcement.publisher.published) == 1
    types = [e.type for e in await draft_events(pg, scenario.draft_id)]
    assert types.count("draft.reminder_sent") == 1


# --- whom a step pages ---------------------------------------------------------------------


def rota_of(world: World, person: str) -> dict[str, Any]:
    starts = (utcnow() - timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "layers": [
            {
                "participants": [str(world.user_id(person))],
                "startsAt": starts.isoformat(),
                "rotation": "daily",
                "handoff": "00:00",
                "timezone": "UTC",
            }
        ]
    }


async def notified_by_step(pg, draft_id: uuid.UUID) -> dict[int, list[str]]:
    runs = await rows(pg, EscalationStepRun, draft_id=draft_id)
    return {r.step: r.notified for r in runs}


async def test_on_duty_is_whoever_the_rota_names_when_the_step_runs(no_broker, api, pg, passwords):
    ports = Ports(publisher=RecordingPublisher())
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    world, client_id = scenario.world, scenario.world.clients["a1"].id
    admin = await api(world.users["a1.client_admin"].email)
    rota_path = f"/api/v1/clients/{client_id}/rota"
    assert (await admin.put(rota_path, json=rota_of(world, "a1.approver"))).status_code == 200
    await submit_due_in(pg, scenario, -1)
    assert (await run_next_step(pg, scenario.draft_id, ports)).skipped is None  # reminder

    # The approver falls ill after the draft was armed: the executive takes the rota.
    assert (await admin.put(rota_path, json=rota_of(world, "a1.executive"))).status_code == 200
    assert (await run_next_step(pg, scenario.draft_id, ports)).skipped is None  # step 1

    assert await notified_by_step(pg, scenario.draft_id) == {
        0: [str(world.user_id("a1.approver"))],
        1: [str(world.user_id("a1.executive"))],
    }
    [approver_note] = await rows(pg, Notification, user_id=world.user_id("a1.approver"))
    assert approver_note.kind == "escalation.reminder"


# --- not waiting for locks, and the sweep's claims -----------------------------------------


async def test_a_wakeup_finding_the_draft_locked_does_not_wait_and_runs_after(
    enforcement, api, pg, passwords
):
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    await submit_due_in(pg, scenario, -1)
    wakeup = await armed_wakeup(pg, scenario.draft_id)
    enforcement.lose_all_messages()  # only the wake-up sent below
    enforcement.start_worker()  # no sweep: the retry alone must run it

    async with transaction(pg.sessions, Scope.for_system("tests.hold")) as holding:
        await holding.execute(select(Draft).where(Draft.id == scenario.draft_id).with_for_update())
        enforcement.actors.step.send(str(wakeup.draft_id), wakeup.step, wakeup.token)
        await asyncio.sleep(1.0)  # the wake-up came, found the row held, came back ...
        assert await backends_waiting_for_a_lock(pg) == 0  # ... and never waited for it
        assert await step_runs(pg, scenario.draft_id) == []

    await wait_for_status(pg, scenario.draft_id, "fallback_taken")  # released: it runs
    enforcement.settle()
    assert await step_runs(pg, scenario.draft_id) == [0, 1, 2]
    types = [e.type for e in await draft_events(pg, scenario.draft_id)]
    assert types.count("draft.reminder_sent") == 1


async def more_overdue_drafts(api, pg, scenario: Scenario, n: int) -> list[uuid.UUID]:
    """``n`` more crisis replies of the same client, submitted so that they are overdue."""
    owner = await api(scenario.world.users["a.owner"].email)
    client_id = scenario.world.clients["a1"].id
    channel = (
        await owner.post(
            f"/api/v1/clients/{client_id}/channels",
            json={"platform": "x", "handle": f"@c{secrets.token_hex(2)}"},
        )
    ).json()
    ids = []
    for _ in range(n):
        item = await owner.post(
            f"/api/v1/clients/{client_id}/inbound-items",
            json={
                "channelId": channel["id"],
                "externalId": f"c-{secrets.token_hex(4)}",
                "kind": "comment",
                "body": "Skandal!",
                "severity": "crisis",
            },
        )
        draft = await owner.post(
            f"/api/v1/clients/{client_id}/drafts",
            json={"kind": "reply", "inboundItemId": item.json()["id"], "body": "Wir prüfen das."},
        )
        extra = Scenario(scenario.world, draft.json(), scenario.template_id)
        await submit_due_in(pg, extra, -2)
        ids.append(extra.draft_id)
    return ids


async def test_two_concurrent_sweeps_claim_disjoint_rows_and_leave_fresh_ones(
    no_broker, api, pg, passwords
):
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    await submit_due_in(pg, scenario, -2)
    overdue = {scenario.draft_id, *await more_overdue_drafts(api, pg, scenario, 4)}
    fresh, *_ = sorted(overdue)
    async with transaction(pg.sessions, Scope.for_system("tests")) as session:
        # Its wake-up is about to run it (due 0.3 s ago, inside the grace): not the sweep's.
        await session.execute(
            update(DraftEscalation)
            .where(DraftEscalation.draft_id == fresh)
            .values(next_due_at=utcnow() - timedelta(seconds=0.3))
        )
    overdue.discard(fresh)

    async with transaction(pg.sessions, Scope.for_system("tests.sweep1")) as first:
        claimed_first = await claim_overdue(first, utcnow(), grace=SWEEP_GRACE, limit=2)
        async with transaction(pg.sessions, Scope.for_system("tests.sweep2")) as second:
            claimed_second = await asyncio.wait_for(  # skips the first's rows, no waiting
                claim_overdue(second, utcnow(), grace=SWEEP_GRACE, limit=10), timeout=5
            )

    first_ids = {w.draft_id for w in claimed_first}
    second_ids = {w.draft_id for w in claimed_second}
    assert len(first_ids) == 2
    assert first_ids.isdisjoint(second_ids)
    assert first_ids | second_ids == overdue


async def test_the_clock_is_read_after_the_row_locks(no_broker, api, pg, passwords):
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    await submit_due_in(pg, scenario, -1)
    wakeup = await armed_wakeup(pg, scenario.draft_id)
    happened: list[str] = []

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if "SKIP LOCKED" in sql:  # the draft and escalation row locks
            happened.append("lock")

    def clock() -> Any:
        happened.append("clock")
        return utcnow()

    event.listen(pg.engine.sync_engine, "before_cursor_execute", statement)
    try:
        async with transaction(pg.sessions, Scope.for_system("tests.step")) as session:
            result = await run_step(session, wakeup, clock=clock, ports=Ports())
    finally:
        event.remove(pg.engine.sync_engine, "before_cursor_execute", statement)

    assert result.skipped is None
    assert happened == ["lock", "clock"]
    [run] = await rows(pg, EscalationStepRun, draft_id=scenario.draft_id)
    assert run.step == wakeup.step


async def test_steps_due_together_run_in_one_transaction_each_exactly_once(
    no_broker, api, pg, passwords
):
    ports = Ports(publisher=RecordingPublisher())
    first = await crisis_reply_with_fallback(api, pg, passwords)
    second = await crisis_reply_with_fallback(api, pg, passwords)  # another agency's client
    for scenario in (first, second):
        await submit_due_in(pg, scenario, -1)
    one, two = [await armed_wakeup(pg, s.draft_id) for s in (first, second)]
    stale = WakeUp(two.draft_id, two.step, "not-the-token", two.due_at)

    async with transaction(pg.sessions, Scope.for_system("tests.steps")) as session:
        results = await run_steps(session, [one, two, one, stale], ports=ports)

    assert [r.skipped for r in results] == [None, None, Skip.LOCKED, Skip.STALE_TOKEN]
    for scenario in (first, second):
        assert await step_runs(pg, scenario.draft_id) == [0]  # the reminder, once
        types = [e.type for e in await draft_events(pg, scenario.draft_id)]
        assert types.count("draft.reminder_sent") == 1
    reminders = [n for n in await rows(pg, Notification) if n.kind == "escalation.reminder"]
    assert {n.subject_id for n in reminders} == {first.draft_id, second.draft_id}

    # Step 1 (notify) of one draft and, once it is due, step 2 (the fallback) of the other.
    async with transaction(pg.sessions, Scope.for_system("tests.steps")) as session:
        await run_steps(session, [await armed_wakeup(pg, second.draft_id)], ports=ports)
    together = [await armed_wakeup(pg, s.draft_id) for s in (first, second)]
    assert [w.step for w in together] == [1, 2]
    async with transaction(pg.sessions, Scope.for_system("tests.steps")) as session:
        results = await run_steps(session, together, ports=ports)

    assert [r.skipped for r in results] == [None, None]
    assert [r.fallback for r in results] == [None, "publish_template"]
    assert await step_runs(pg, first.draft_id) == [0, 1]
    assert await step_runs(pg, second.draft_id) == [0, 1, 2]
    assert await draft_status(pg, second.draft_id) == "fallback_taken"
    assert [p.draft_id for p in ports.publisher.published] == [second.draft_id]  # type: ignore[attr-defined]
    [armed] = await rows(pg, DraftEscalation, draft_id=first.draft_id)
    assert armed.next_step == 2  # armed for the next step, with a fresh token
    assert armed.token != together[0].token


async def add_second_approver(pg, passwords, world: World) -> None:
    second = await make_user(pg, passwords, "a1.approver2@example.com")
    world.users["a1.approver2"] = second
    await grant(pg, second, world.agencies["a"], "approver", world.clients["a1"])


async def step_event(pg, draft_id: uuid.UUID, step: int) -> Event:
    [found] = [
        e
        for e in await draft_events(pg, draft_id)
        if e.type in ("draft.reminder_sent", "draft.escalated") and e.payload["step"] == step
    ]
    return found


async def test_a_step_pages_who_can_still_decide_not_who_already_approved(
    no_broker, api, pg, passwords
):
    """Issue #14, item 2: the approver on duty approved (1 of the 2 a crisis needs); the
    reminder goes to the approver who can complete it, and the event says why."""
    ports = Ports(publisher=RecordingPublisher())
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    world, client_id = scenario.world, scenario.world.clients["a1"].id
    await add_second_approver(pg, passwords, world)
    admin = await api(world.users["a1.client_admin"].email)
    rota_path = f"/api/v1/clients/{client_id}/rota"
    assert (await admin.put(rota_path, json=rota_of(world, "a1.approver"))).status_code == 200
    draft = await submit_due_in(pg, scenario, -1)
    on_duty = await api(world.users["a1.approver"].email)
    approved = await on_duty.post(
        f"/api/v1/drafts/{draft['id']}/decisions",
        json={"decision": "approve", "version": draft["version"]},
    )
    assert approved.json()["status"] == "pending", approved.text

    assert (await run_next_step(pg, scenario.draft_id, ports)).skipped is None  # reminder

    approver, second = str(world.user_id("a1.approver")), str(world.user_id("a1.approver2"))
    assert (await notified_by_step(pg, scenario.draft_id))[0] == [second]
    event = await step_event(pg, scenario.draft_id, 0)
    assert event.payload["reasons"] == {
        second: "approver: the person on duty has already approved this revision"
    }
    assert event.payload["passedOver"] == {approver: "has already approved this revision"}


async def test_without_a_rota_every_approver_is_paged_first_and_the_gap_contact_after(
    no_broker, api, pg, passwords
):
    """Issue #14, item 5: no rota used to page the executive (the gap contact) first
    while the approvers got nothing."""
    ports = Ports(publisher=RecordingPublisher())
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    world = scenario.world
    await add_second_approver(pg, passwords, world)
    admin = await api(world.users["a1.client_admin"].email)
    plan = {
        "steps": [
            {"afterMinutes": 0, "notify": ["on_duty"]},
            {"afterMinutes": 0, "notify": ["deputies"]},
        ]
    }
    plan_path = f"/api/v1/clients/{world.clients['a1'].id}/emergency-plan"
    assert (await admin.put(plan_path, json=plan)).status_code == 200
    await submit_due_in(pg, scenario, -1)

    for _ in range(3):  # the reminder, step 1 (on duty), step 2 (deputies)
        assert (await run_next_step(pg, scenario.draft_id, ports)).skipped is None

    approvers = sorted(
        [str(world.user_id("a1.approver")), str(world.user_id("a1.approver2"))],
        key=lambda u: u,
    )
    paged = await notified_by_step(pg, scenario.draft_id)
    assert sorted(paged[0]) == approvers
    assert sorted(paged[1]) == approvers
    assert paged[2] == [str(world.user_id("a1.executive"))]  # the gap contact
    first = await step_event(pg, scenario.draft_id, 1)
    assert set(first.payload["reasons"].values()) == {"approver: nobody is on duty"}
    after = await step_event(pg, scenario.draft_id, 2)
    assert after.payload["reasons"] == {
        str(world.user_id("a1.executive")): "gap contact: nobody is on duty"
    }


# --- a severity change and the fallback (issue #14, item 1) ---------------------------------


async def lower_to_normal(api, scenario: Scenario, draft: dict[str, Any], who: str) -> dict:
    caller = await api(scenario.world.users[who].email)
    response = await caller.patch(
        f"/api/v1/drafts/{draft['id']}", json={"version": draft["version"], "severity": "normal"}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_an_agency_downgrade_keeps_the_crisis_deadline_but_never_its_fallback(
    no_broker, api, pg, passwords
):
    """A crisis reply lowered to normal by agency staff: the humans are still paged at the
    crisis deadline, but the holding statement does not go out under an ordinary item."""
    ports = Ports(publisher=RecordingPublisher())
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    draft = await submit_due_in(pg, scenario, -1)
    [armed] = await rows(pg, DraftEscalation, draft_id=scenario.draft_id)

    lowered = await lower_to_normal(api, scenario, draft, "a.owner")

    assert lowered["severity"] == "normal"
    assert datetime.fromisoformat(lowered["slaDueAt"]) == armed.sla_due_at
    for _ in range(3):  # the reminder, step 1, step 2 with the fallback
        assert (await run_next_step(pg, scenario.draft_id, ports)).skipped is None
    assert ports.publisher.published == []
    assert await draft_status(pg, scenario.draft_id) == "pending"
    [skipped] = [
        e for e in await draft_events(pg, scenario.draft_id) if e.type == "draft.fallback_skipped"
    ]
    assert skipped.payload["reason"] == (
        "the item was lowered from crisis to normal and kept the crisis deadline; a fallback"
        " applies only at its own severity"
    )
    [changed] = [
        e for e in await draft_events(pg, scenario.draft_id) if e.type == "draft.severity_changed"
    ]
    assert changed.payload["deadlineKept"] is True


async def test_a_client_downgrade_recomputes_the_deadline_and_the_plan_follows(
    no_broker, api, pg, passwords
):
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    draft = await submit_due_in(pg, scenario, -1)
    [armed] = await rows(pg, DraftEscalation, draft_id=scenario.draft_id)

    lowered = await lower_to_normal(api, scenario, draft, "a1.approver")

    due = datetime.fromisoformat(lowered["slaDueAt"])
    assert due > armed.sla_due_at + timedelta(minutes=30)  # the normal target, from submission
    [moved] = await rows(pg, DraftEscalation, draft_id=scenario.draft_id)
    assert moved.sla_due_at == due
    assert moved.deadline_severity == "normal"
    assert moved.next_due_at is not None
    assert moved.next_due_at > utcnow() + timedelta(minutes=30)  # its own reminder, or due
    assert (await run_next_step(pg, scenario.draft_id, Ports())).skipped is Skip.NOT_DUE


# --- telling everyone the outcome (issue #14, item 4) ----------------------------------------


async def notes_of(pg, draft_id: uuid.UUID, kind: str) -> dict[uuid.UUID, Notification]:
    found = await rows(pg, Notification, subject_id=draft_id, kind=kind)
    return {n.user_id: n for n in found}


async def test_when_the_fallback_is_taken_everyone_with_a_stake_hears_what_went_out(
    no_broker, api, pg, passwords
):
    ports = Ports(publisher=RecordingPublisher())
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    world = scenario.world
    english = world.users["a.owner"]
    async with transaction(pg.sessions, Scope.for_system("tests")) as session:
        await session.execute(update(User).where(User.id == english.id).values(locale="en"))
    await submit_due_in(pg, scenario, -1)
    for _ in range(3):  # the reminder, step 1, step 2 with the fallback
        await run_next_step(pg, scenario.draft_id, ports)
    assert await draft_status(pg, scenario.draft_id) == "fallback_taken"

    told = await notes_of(pg, scenario.draft_id, "escalation.fallback_taken")
    wanted = {"a1.approver", "a1.executive", "a.owner", "a.admin", "a.editor"}
    assert set(told) == {world.user_id(key) for key in wanted}
    german = told[world.user_id("a1.approver")]
    assert german.title.startswith(
        "Notfallplan für " + world.clients["a1"].name + ": Haltestatement veröffentlicht ("
    )
    assert german.title.endswith(" CET)")  # the client's clock (Europe/Berlin)
    assert f"Veröffentlicht: {HOLDING}" in german.body
    assert "Wo: x @b" in german.body
    assert told[english.id].title.startswith("Emergency plan for ")

    reader = await api(world.users["a1.viewer"].email)
    detail = (await reader.get(f"/api/v1/drafts/{scenario.draft_id}")).json()
    assert detail["fallback"]["action"] == "publish_template"
    assert detail["fallback"]["body"] == HOLDING
    assert detail["fallback"]["templateName"] == "Holding"
    assert detail["fallback"]["templateId"] == scenario.template_id
    assert detail["fallback"]["step"] == 2


async def test_a_skipped_fallback_is_not_silent(no_broker, api, pg, passwords):
    """A crisis *post* cannot get the reply template: the plan says so to everyone, and
    the item stays pending and overdue in their queue."""
    ports = Ports(publisher=RecordingPublisher())
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    draft = await submit_due_in(pg, scenario, -1)
    await lower_to_normal(api, scenario, draft, "a.owner")  # keeps the crisis deadline
    for _ in range(3):
        await run_next_step(pg, scenario.draft_id, ports)

    told = await notes_of(pg, scenario.draft_id, "escalation.fallback_skipped")
    assert world_keys(scenario.world, told) == {
        "a1.approver",
        "a1.executive",
        "a.owner",
        "a.admin",
        "a.editor",
    }
    note = told[scenario.world.user_id("a1.executive")]
    assert "Rückfallmaßnahme nicht ausgeführt, weiter offen" in note.title
    assert "Grund: the item was lowered from crisis to normal" in note.body
    reader = await api(scenario.world.users["a1.viewer"].email)
    detail = (await reader.get(f"/api/v1/drafts/{scenario.draft_id}")).json()
    assert detail["fallback"] is None
    assert detail["draft"]["status"] == "pending"


def world_keys(world: World, by_user: dict[uuid.UUID, Any]) -> set[str]:
    return {key for key, user in world.users.items() if user.id in by_user}


# --- the last human step's own wait (issue #14, item 3) -------------------------------------


async def test_the_last_human_step_gets_its_own_wait_before_the_fallback(
    no_broker, api, pg, passwords
):
    """The executive used to be paged in the same transaction that took the fallback:
    now she has ``waitMinutes`` to act before the holding statement goes out."""
    ports = Ports(publisher=RecordingPublisher())
    scenario = await crisis_reply_with_fallback(api, pg, passwords)
    admin = await api(scenario.world.users["a1.client_admin"].email)
    plan = on_duty_then_executives(
        {"action": "publish_template", "templateId": scenario.template_id, "waitMinutes": 3}
    )
    client_id = scenario.world.clients["a1"].id
    saved = await admin.put(f"/api/v1/clients/{client_id}/emergency-plan", json=plan)
    assert saved.json()["steps"][1]["fallback"]["waitMinutes"] == 3
    await submit_due_in(pg, scenario, -1)

    for _ in range(3):  # the reminder, step 1, step 2 (the executive is paged)
        assert (await run_next_step(pg, scenario.draft_id, ports)).fallback is None
    assert await draft_status(pg, scenario.draft_id) == "pending"
    assert ports.publisher.published == []
    [armed] = await rows(pg, DraftEscalation, draft_id=scenario.draft_id)
    assert armed.next_step == 3
    assert armed.next_due_at == armed.sla_due_at + timedelta(minutes=3)
    assert (await run_next_step(pg, scenario.draft_id, ports)).skipped is Skip.NOT_DUE

    wakeup = await armed_wakeup(pg, scenario.draft_id)
    async with transaction(pg.sessions, Scope.for_system("tests.step")) as session:
        taken = await run_step(session, wakeup, now=armed.next_due_at, ports=ports)

    assert taken.fallback == "publish_template"
    assert await draft_status(pg, scenario.draft_id) == "fallback_taken"
    events = await draft_events(pg, scenario.draft_id)
    assert [e.payload["step"] for e in events if e.type == "draft.escalated"] == [1, 2]
    [note] = [e for e in events if e.type == "draft.fallback_published"]
    assert note.payload["note"].startswith("published by emergency plan step 2, template Holding")
