"""Queue reads at the service layer: ``agencyhub.approvals.queue.list_queue`` as an approver.

Each sample is one fresh transaction, as one request has: the actor is loaded (not
timed), then ``list_queue`` is timed — the client lookup, the page query and the count,
under row-level security as the application role.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dataset import BENCH_SECRET_KEY
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from agencyhub.app import freeze_startup_objects
from agencyhub.approvals import queue
from agencyhub.approvals.rules import Kind
from agencyhub.db import Database, create_engine, create_sessionmaker, transaction
from agencyhub.tenancy.auth import load_actor

PAGE_SIZE = 50
MAX_PAGES = 5_000  # bounds the walk to a deep cursor


def bench_id(kind: str, n: int) -> uuid.UUID:
    """The same id as SQL ``bench_id(kind, n)`` in dataset.py."""
    return uuid.UUID(hashlib.md5(f"bench-{kind}-{n}".encode(), usedforsecurity=False).hexdigest())


@dataclass(frozen=True)
class Scenario:
    name: str
    client: int
    deep: bool
    filters: queue.QueueFilters = field(default_factory=queue.QueueFilters)


@dataclass
class ScenarioResult:
    name: str
    client: int
    position: int  # how many items precede the page
    total: int
    items: int
    samples_ms: list[float] = field(default_factory=list)


@dataclass
class QueueTarget:
    """Where a scenario reads: the client, the actor, the cursor, what the page holds."""

    client_id: uuid.UUID
    user_id: uuid.UUID
    cursor: str | None
    position: int
    total: int
    items: int


async def _call(
    db: Database, target: QueueTarget, scenario: Scenario
) -> tuple[float, queue.QueuePage]:
    async with transaction(db.sessions) as session:
        actor = await load_actor(session, target.user_id)
        started = time.perf_counter()
        page = await queue.list_queue(
            session,
            actor,
            target.client_id,
            filters=scenario.filters,
            limit=PAGE_SIZE,
            cursor=target.cursor,
        )
        return (time.perf_counter() - started) * 1000, page


async def locate(db: Database, scenario: Scenario) -> QueueTarget:
    """The first page, or a cursor 90 % of the way through the client's queue."""
    client_id, user_id = bench_id("client", scenario.client), bench_id("approver", scenario.client)
    target = QueueTarget(client_id, user_id, None, 0, 0, 0)
    _, page = await _call(db, target, scenario)
    target.total, target.items = page.total, len(page.entries)
    if not scenario.deep:
        return target
    cursors: list[tuple[str, int]] = []
    position = 0
    for _ in range(MAX_PAGES):
        if page.next_cursor is None:
            break
        position += len(page.entries)
        cursors.append((page.next_cursor, position))
        probe = QueueTarget(client_id, user_id, page.next_cursor, position, 0, 0)
        _, page = await _call(db, probe, scenario)
    if not cursors:
        raise SystemExit(f"client {scenario.client} has a single page; load more drafts")
    target.cursor, target.position = cursors[int(len(cursors) * 0.9)]
    _, page = await _call(db, target, scenario)
    target.items = len(page.entries)
    return target


async def measure(
    app_url: str, scenarios: list[Scenario], samples: int, warmup: int
) -> list[ScenarioResult]:
    """Round-robin over the scenarios, so background noise hits them all alike."""
    engine = create_engine(app_url, pool_size=2, secret_key=BENCH_SECRET_KEY)
    db = Database(engine=engine, sessions=create_sessionmaker(engine))
    try:
        targets = [await locate(db, s) for s in scenarios]
        # As `agencyhub serve` does once started: without it, each full collection
        # walks every module and mapper (~40 ms here) and lands on whichever call
        # happens to be running, which is the process, not the query.
        freeze_startup_objects()
        results = [
            ScenarioResult(s.name, s.client, t.position, t.total, t.items)
            for s, t in zip(scenarios, targets, strict=True)
        ]
        for round_number in range(warmup + samples):
            for scenario, target, result in zip(scenarios, targets, results, strict=True):
                elapsed, _ = await _call(db, target, scenario)
                if round_number >= warmup:
                    result.samples_ms.append(elapsed)
        return results
    finally:
        await engine.dispose()


# --- EXPLAIN ---------------------------------------------------------------------------


@dataclass
class Plans:
    page_custom: str
    page_generic: str
    count_custom: str
    uses_queue_index: bool
    sorts: bool

    @property
    def ok(self) -> bool:
        """An index scan of ix_drafts_queue that already yields queue order."""
        return self.uses_queue_index and not self.sorts


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime | uuid.UUID):
        return f"'{value.isoformat() if isinstance(value, datetime) else value}'"
    return "'" + str(value).replace("'", "''") + "'"


async def _explain(conn: AsyncConnection, sql: str, params: Any, mode: str) -> str:
    """EXPLAIN ANALYZE the statement as the server runs a prepared one, in ``mode``."""
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    await raw.execute(f"SET LOCAL plan_cache_mode = {mode}")
    await raw.execute(f"PREPARE bench_explain AS {sql}")
    try:
        arguments = ", ".join(_literal(p) for p in params)
        execute = f"EXECUTE bench_explain({arguments})" if params else "EXECUTE bench_explain"
        rows = await raw.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {execute}")
        return "\n".join(row[0] for row in rows)
    finally:
        await raw.execute("DEALLOCATE bench_explain")


async def explain(app_url: str, scenario: Scenario) -> Plans:
    """Capture the exact SQL of one queue call (ORM criteria included) and explain it
    in the same transaction, so row-level security is in force as for the app."""
    engine = create_engine(app_url, pool_size=1, secret_key=BENCH_SECRET_KEY)
    db = Database(engine=engine, sessions=create_sessionmaker(engine))
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM drafts" in statement and "JOIN" not in statement:
            captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        target = await locate(db, scenario)
        captured.clear()
        async with transaction(db.sessions) as session:
            actor = await load_actor(session, target.user_id)
            await queue.list_queue(
                session, actor, target.client_id, limit=PAGE_SIZE, cursor=target.cursor
            )
            return await _plans(session, captured)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
        await engine.dispose()


async def _plans(session: AsyncSession, captured: list[tuple[str, Any]]) -> Plans:
    page_sql, page_params = next((s, p) for s, p in captured if "ORDER BY" in s)
    count_sql, count_params = next((s, p) for s, p in captured if "count(" in s)
    conn = await session.connection()
    page_custom = await _explain(conn, page_sql, page_params, "force_custom_plan")
    page_generic = await _explain(conn, page_sql, page_params, "force_generic_plan")
    count_custom = await _explain(conn, count_sql, count_params, "force_custom_plan")
    # A plain (not bitmap) index scan returns rows in index order, so no Sort is needed.
    index_scan = re.compile(r"(?<!Bitmap )Index (Only )?Scan using ix_drafts_queue on drafts")
    return Plans(
        page_custom=page_custom,
        page_generic=page_generic,
        count_custom=count_custom,
        uses_queue_index=all(index_scan.search(p) for p in (page_custom, page_generic)),
        sorts=any(re.search(r"(^|->\s+)Sort\b", p, re.M) for p in (page_custom, page_generic)),
    )


def default_scenarios(hot: bool) -> list[Scenario]:
    scenarios = [
        Scenario("first page", client=1, deep=False),
        Scenario("deep page", client=1, deep=True),
        Scenario("first page, replies", 1, deep=False, filters=queue.QueueFilters(Kind.REPLY)),
    ]
    if hot:
        scenarios += [
            Scenario("hot client, first page", client=0, deep=False),
            Scenario("hot client, deep page", client=0, deep=True),
        ]
    return scenarios
