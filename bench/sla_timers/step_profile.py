"""CPU and statements per escalation step, in-process on PostgreSQL (issue #4).

Seeds N overdue drafts exactly as ``run.py`` does (default plan, one executive), then
runs step 1 of each through the worker's own code path (``actors.run_wakeup``, which
batches wake-ups arriving together) in this process, ``--concurrency`` at a time (as
many as a worker's threads) on one event loop, and prints wall time,
CPU time (``time.process_time``) per step, steps/s and the SQL statements per step
(counted with a ``before_cursor_execute`` listener, by kind). With ``--profile FILE``
it writes a cProfile of the run. Only 127.0.0.1 is contacted; the database
(``agencyhub_bench_step_profile``) is dropped at the end.

    .venv/bin/python bench/sla_timers/step_profile.py --steps 2000
    .venv/bin/python bench/sla_timers/step_profile.py --steps 500 --profile /tmp/step.prof
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import run  # the sibling benchmark: its database and seeding helpers
from sqlalchemy import event, text

from agencyhub.escalation import actors, enforcement
from agencyhub.escalation.enforcement import WakeUp
from agencyhub.logging import configure_logging
from agencyhub.models import load_all_models

DATABASE = "agencyhub_bench_step_profile"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--admin-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=4, help="steps in flight at once")
    p.add_argument("--profile", type=Path, default=None, help="write a cProfile here")
    p.add_argument("--json", type=Path, default=None, help="write the figures here")
    p.add_argument("--show-sql", action="store_true", help="print the statements of one step")
    p.add_argument(
        "--sweep", action="store_true", help="run them through actors.sweep() (lost wake-ups)"
    )
    return p.parse_args(argv)


async def overdue(urls: run.Urls, client_id: Any) -> list[WakeUp]:
    """Every armed step 1 of the client, made due (past the sweep's grace) just now."""
    grace = getattr(actors, "SWEEP_GRACE", timedelta(0))  # absent before the sweep change
    due = datetime.now(UTC) - grace - timedelta(seconds=1)
    engine = run.create_engine(urls.owner, pool_size=1)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE drafts SET sla_due_at = :due WHERE client_id = :c"),
                {"due": due, "c": client_id},
            )
            rows = await conn.execute(
                text(
                    "UPDATE draft_escalations SET sla_due_at = :due, next_due_at = :due"
                    " WHERE client_id = :c RETURNING draft_id, token"
                ),
                {"due": due, "c": client_id},
            )
            return [WakeUp(d, 1, t, due) for d, t in rows]
    finally:
        await engine.dispose()


async def run_steps(
    wakeups: list[WakeUp], concurrency: int, show_sql: bool, sweep: bool = False
) -> dict[str, Any]:
    db = await actors.CONTEXT.database()
    statements: Counter[str] = Counter()
    shown: list[str] = []

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements[statement.split(None, 1)[0].upper()] += 1
        shown.append(" ".join(statement.split())[:160])

    # Warm up the pool and the compiled-statement cache outside the measurement.
    await actors.execute_step(wakeups[0])
    if show_sql:
        print("statements of one step:", *shown, sep="\n  ")
    statements.clear()
    queue = list(reversed(wakeups[1:]))
    skipped = 0

    async def lane() -> None:
        nonlocal skipped
        while queue:
            result = await actors.run_wakeup(queue.pop())
            skipped += result.skipped is not None

    wall, cpu = time.perf_counter(), time.process_time()
    if sweep:
        ran = await actors.sweep()
        skipped = len(queue) - ran
    else:
        await asyncio.gather(*(lane() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await actors.CONTEXT.dispose()
    n = len(wakeups) - 1
    # Transactions: BEGIN is implicit for asyncpg, so count the COMMITs instead.
    return {
        "steps": n,
        "skipped": skipped,
        "concurrency": f"{actors.SWEEP_LANES} sweep lanes" if sweep else concurrency,
        "wall_s": round(wall, 2),
        "steps_per_s": round(n / wall, 1),
        "cpu_ms_per_step": round(cpu * 1000 / n, 2),
        "statements_per_step": round(sum(statements.values()) / n, 2),
        "by_kind_per_step": {k: round(v / n, 2) for k, v in sorted(statements.items())},
    }


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    load_all_models()
    urls = run.Urls(args.admin_url, DATABASE)
    settings = urls.settings()
    configure_logging(settings)
    print(f"load average {run.load()}", flush=True)
    try:
        run.create_database(urls)
        client_id, _ = asyncio.run(run.seed(urls, args.steps + 1, "profile"))
        wakeups = asyncio.run(overdue(urls, client_id))
        actors.configure_worker(settings)
        actors.set_step_slots(args.concurrency)  # as the worker does with its threads
        enforcement.use_wakeup_sink(lambda _w: None)  # no broker: count only the database
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        figures = asyncio.run(run_steps(wakeups, args.concurrency, args.show_sql, args.sweep))
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        figures["load_average_at_end"] = run.load()
    finally:
        asyncio.run(
            run.admin_execute(args.admin_url, f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        )
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
