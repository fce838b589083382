"""Where an approve request spends its CPU: the app in-process, profiled.

Runs N approve requests through the whole ASGI app (auth, CSRF, service, commit) on a
bench database kept by ``run.py --keep``, one at a time, and prints the CPU time per
request, the SQL statements per request and (with ``--profile``) a pyinstrument tree.
The load generator is an in-process ASGI call, so the figures are the server's alone.

    .venv/bin/python bench/queue/run.py --drafts 50000 --clients 100 --hot-drafts 2000 \
        --approver-clients 20 --keep --skip-service --skip-pgbench --results /tmp/bench
    .venv/bin/python bench/queue/profile_approve.py --requests 500 [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))

import http_approve
from dataset import PASSWORD, Urls
from service_latency import bench_id

from agencyhub.app import create_app
from agencyhub.web import runtime_of

DATABASE = "agencyhub_bench_queue"
DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def _approve(http: httpx.AsyncClient, job: http_approve.Job) -> str:
    response = await http.post(
        f"/api/v1/drafts/{job.draft_id}/decisions",
        json={"decision": "approve", "version": job.version, "wording": 0},
        headers=job.headers,
    )
    return str(response.status_code)


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=500)
    p.add_argument("--approvers", type=int, default=19)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--show-sql", action="store_true", help="print the last approve's SQL")
    p.add_argument(
        "--rounds", type=int, default=5, help="CPU per round too; the least is the steadiest"
    )
    args = p.parse_args()
    urls = Urls(DEFAULT_ADMIN_URL, DATABASE)
    app = create_app(urls.settings(environment="test", log_level="WARNING"))
    statements = 0
    last_request: list[str] = []

    def count(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        nonlocal statements
        statements += 1
        last_request.append(" ".join(sql.split())[:240])

    engine = runtime_of(app.state).db.engine
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://bench") as http,
    ):
        clients = list(range(2, 2 + args.approvers))
        approvers = {
            bench_id("client", c): await http_approve.sign_in(
                http, f"approver{c}@bench.example", PASSWORD
            )
            for c in clients
        }
        per_client = -(-(args.requests + 50) // len(clients))
        drafts = await http_approve.pending_drafts(urls.owner, list(approvers), per_client)
        jobs = http_approve.interleave(approvers, drafts)
        if len(jobs) < args.requests + 50:
            raise SystemExit(f"only {len(jobs)} undecided drafts left; rebuild the database")
        for job in jobs[:50]:  # warm caches and the pool
            await _approve(http, job)
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0005, async_mode="enabled")
            profiler.start()
        statements = 0
        cpu = time.process_time()
        wall = time.perf_counter()
        statuses: dict[str, int] = {}
        rounds: list[float] = []
        per_round = max(args.requests // args.rounds, 1)
        measured = jobs[50 : 50 + args.requests]
        for start in range(0, len(measured), per_round):
            round_cpu = time.process_time()
            for job in measured[start : start + per_round]:
                last_request.clear()
                status = await _approve(http, job)
                statuses[status] = statuses.get(status, 0) + 1
            round_ms = 1000 * (time.process_time() - round_cpu)
            rounds.append(round_ms / len(measured[start : start + per_round]))
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        if profiler is not None:
            profiler.stop()
            print(profiler.output_text(unicode=True, color=False, show_all=False))
        n = args.requests
        if args.show_sql:
            print("\n".join(f"  {i + 1:>2}. {sql}" for i, sql in enumerate(last_request)))
        print(f"statuses {statuses}")
        print(
            f"per approve: CPU {1000 * cpu / n:.2f} ms (client included), "
            f"wall {1000 * wall / n:.2f} ms, SQL statements {statements / n:.1f}"
        )
        ordered = sorted(rounds)
        print(
            f"CPU ms per approve by round: least {ordered[0]:.2f}, "
            f"median {ordered[len(ordered) // 2]:.2f} ({len(rounds)} rounds)"
        )


if __name__ == "__main__":
    asyncio.run(main())
