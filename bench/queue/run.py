"""Queue benchmark (issue #3, "Performance"): build, measure, report, clean up.

    .venv/bin/python bench/queue/run.py [--drafts 1000000 --clients 1000] [--keep]

1. creates ``agencyhub_bench_queue``, migrates it like production (owner ``postgres``,
   application role ``agencyhub_app`` under row-level security) and bulk-loads it
   with ``INSERT … SELECT generate_series`` (timed per table), then VACUUM ANALYZE;
2. service layer: ``approvals.queue.list_queue`` for a first and a deep page (and a
   filtered page, and the same for a hot client), p50/p95/p99, plus EXPLAIN ANALYZE of
   the page query (custom and generic plan) asserting an index scan of ix_drafts_queue;
3. HTTP: ``agencyhub serve --workers 2``; approvers sign in, then approve distinct
   pending drafts: open loop at the target rate, then closed loop for capacity;
4. pgbench select-only and simple-update on the same machine, in the same run;
5. writes bench/results/queue.json and queue_latency.png, prints a summary table, and
   drops the database unless ``--keep``.

All traffic stays on 127.0.0.1; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import http_approve
import pgbench
import report
import service_latency
from dataset import (
    PASSWORD,
    PROPOSED,
    Shape,
    Urls,
    apply_proposed,
    drop_database,
    load,
    migrate,
    recreate_database,
    table_sizes,
    vacuum_analyze,
)
from service_latency import bench_id

from agencyhub.config import Settings
from agencyhub.models import load_all_models
from agencyhub.tenancy.secrets import Passwords

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DATABASE = "agencyhub_bench_queue"
WARMUP_SECONDS = 5.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--drafts", type=int, default=1_000_000)
    p.add_argument("--clients", type=int, default=1_000)
    p.add_argument("--hot-drafts", type=int, default=50_000, help="drafts of client 0; 0: none")
    p.add_argument("--approver-clients", type=int, default=100, help="clients with an approver")
    p.add_argument("--samples", type=int, default=1_000, help="per service scenario")
    p.add_argument("--warmup", type=int, default=50, help="unmeasured rounds first")
    p.add_argument("--approve-rate", type=float, default=300.0, help="open loop, per second")
    p.add_argument("--approve-seconds", type=float, default=30.0)
    p.add_argument("--capacity-concurrency", type=int, default=16)
    p.add_argument("--capacity-seconds", type=float, default=20.0)
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    p.add_argument("--pool-size", type=int, default=10, help="database pool per worker")
    p.add_argument("--pgbench-seconds", type=int, default=15)
    p.add_argument(
        "--proposed",
        action="append",
        choices=sorted(PROPOSED),
        default=[],
        help="apply a schema change that is not in the migrations yet, to measure it",
    )
    p.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    p.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/13",
        help="the server's broker (a database number of its own)",
    )
    p.add_argument("--reuse", action="store_true", help="measure an existing bench database")
    p.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    p.add_argument("--skip-service", action="store_true")
    p.add_argument("--skip-http", action="store_true")
    p.add_argument("--skip-pgbench", action="store_true")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    p.add_argument("--label", default="queue", help="names the output files: LABEL.json ...")
    args = p.parse_args(argv)
    if args.clients < 2 or args.approver_clients + 1 > args.clients:
        p.error("need at least 2 clients and more clients than approver clients")
    return args


# --- phases ------------------------------------------------------------------------------


def build(urls: Urls, shape: Shape, args: argparse.Namespace) -> dict[str, Any]:
    print(f"building {DATABASE}: {shape}")
    started = time.perf_counter()
    asyncio.run(recreate_database(urls))
    migrate(urls)
    migrated = time.perf_counter()
    # One production-cost argon2 hash, shared by every bench user.
    password_hash = Passwords(Settings()).hash(PASSWORD)
    t0_ms = int(datetime.now(UTC).timestamp() * 1000)
    loaded = asyncio.run(load(urls, shape, password_hash, t0_ms))
    vacuum = asyncio.run(vacuum_analyze(urls))
    total = round(time.perf_counter() - started, 1)
    print(f"  vacuum analyze {vacuum} s; build total {total} s")
    return {
        "migrate_seconds": round(migrated - started, 1),
        "load_seconds": loaded.seconds,
        "rows": loaded.rows,
        "vacuum_analyze_seconds": vacuum,
        "total_seconds": total,
    }


def service_phase(urls: Urls, shape: Shape, args: argparse.Namespace) -> dict[str, Any]:
    scenarios = service_latency.default_scenarios(hot=shape.hot_drafts > 0)
    print("service layer: EXPLAIN ANALYZE of a deep page")
    plans = asyncio.run(service_latency.explain(urls.app, scenarios[1]))
    print(plans.page_custom, "\n--- generic plan ---\n", plans.page_generic, sep="")
    print("--- count ---\n" + plans.count_custom)
    if not plans.ok:
        # Measured all the same: the figures show what the plan costs.
        print("ASSERTION FAILED: the page is not an ordered index scan of ix_drafts_queue")
    print(f"service layer: {len(scenarios)} scenarios x {args.samples} samples")
    results = asyncio.run(service_latency.measure(urls.app, scenarios, args.samples, args.warmup))
    return {
        "page_size": service_latency.PAGE_SIZE,
        "scenarios": [
            {
                "name": r.name,
                "client": r.client,
                "position": r.position,
                "total": r.total,
                "items": r.items,
                "latency": report.summary(r.samples_ms),
                "samples_ms": [round(v, 3) for v in r.samples_ms],
            }
            for r in results
        ],
        "plan_ok": plans.ok,
        "explain": asdict(plans),
    }


async def _http_runs(urls: Urls, server: http_approve.Server, args: argparse.Namespace) -> Any:
    clients = list(range(2, args.approver_clients + 1))

    def meter() -> http_approve.CpuMeter:
        return http_approve.CpuMeter(server.process.pid, DATABASE)

    async with http_approve.http_client(server.base_url, 4) as signing:
        started = time.perf_counter()
        approvers = {
            bench_id("client", c): await http_approve.sign_in(
                signing, f"approver{c}@bench.example", PASSWORD
            )
            for c in clients
        }
        sign_in_seconds = time.perf_counter() - started
    async with http_approve.load_client(server.base_url, 64) as http:
        # Enough distinct drafts for every run even at twice the planned pace.
        needed = 2 * (
            args.approve_rate * (args.approve_seconds + WARMUP_SECONDS)
            + 800 * args.capacity_seconds
        )
        per_client = math.ceil(needed / len(clients))
        drafts = await http_approve.pending_drafts(urls.owner, list(approvers), per_client)
        jobs = http_approve.interleave(approvers, drafts)
        print(f"  {len(approvers)} approvers in {sign_in_seconds:.1f} s, {len(jobs)} drafts")
        # The warm-up is the measured load itself: at a lower concurrency the open
        # loop's first seconds would open the rest of the HTTP and pool connections
        # (cold PostgreSQL backends, statements not yet prepared) and measure that.
        warmup = await http_approve.open_loop(
            http, jobs, rate=args.approve_rate, seconds=WARMUP_SECONDS, meter=meter
        )
        jobs = jobs[warmup.requested :]
        opened = await http_approve.open_loop(
            http, jobs, rate=args.approve_rate, seconds=args.approve_seconds, meter=meter
        )
        jobs = jobs[opened.requested :]
        closed = await http_approve.closed_loop(
            http,
            jobs,
            concurrency=args.capacity_concurrency,
            seconds=args.capacity_seconds,
            meter=meter,
        )
    return sign_in_seconds, [
        (f"open loop {args.approve_rate:.0f}/s", opened),
        (f"closed loop c={args.capacity_concurrency}", closed),
    ]


def http_phase(urls: Urls, args: argparse.Namespace) -> dict[str, Any]:
    log_path = args.results / f"{args.label}_server.log.tmp"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"http: agencyhub serve --workers {args.workers} (pool {args.pool_size} per worker)")
    server = http_approve.start_server(
        urls.app,
        workers=args.workers,
        pool_size=args.pool_size,
        log_path=log_path,
        redis_url=args.redis_url,
    )
    try:
        sign_in_seconds, runs = asyncio.run(_http_runs(urls, server, args))
    finally:
        http_approve.stop_server(server)
    return {
        "redis_url": args.redis_url,
        "workers": args.workers,
        "pool_size_per_worker": args.pool_size,
        "sign_in_seconds": round(sign_in_seconds, 2),
        "runs": [
            {
                "label": label,
                "mode": run.mode,
                "setting": run.setting,
                "requests": run.requested,
                "seconds": round(run.seconds, 2),
                "rate_per_s": round(run.rate, 1),
                "statuses": dict(run.statuses),
                "errors": sum(n for s, n in run.statuses.items() if s != "200"),
                "cpu_busy_percent": run.cpu_busy_percent,
                # CPU milliseconds per approved draft, by who spent them.
                "cpu_ms_per_approve": {
                    role: round(ms / max(run.ok, 1), 2) for role, ms in run.cpu_ms.items()
                },
                "latency": report.summary(run.latencies_ms),
                **({"slow_moments": http_approve.slow_moments(run)} if run.offsets_s else {}),
                "samples_ms": [round(v, 3) for v in run.latencies_ms],
            }
            for label, run in runs
        ],
    }


def pgbench_phase(args: argparse.Namespace) -> list[dict[str, Any]]:
    print(f"pgbench: scale {pgbench.SCALE}, -c {pgbench.CLIENTS} -j {pgbench.THREADS}")
    return [asdict(r) for r in pgbench.run(args.admin_url, args.pgbench_seconds)]


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    load_all_models()
    urls = Urls(args.admin_url, DATABASE)
    shape = Shape(args.drafts, args.clients, args.hot_drafts, args.approver_clients)
    results: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": report.machine_info(),
        "shape": asdict(shape),
        "targets": {
            "queue_p99_ms": report.QUEUE_P99_TARGET_MS,
            "approve_rate_per_s": report.APPROVE_RATE_TARGET,
            "approve_p99_ms": report.APPROVE_P99_TARGET_MS,
        },
        "proposed_schema_changes": {name: PROPOSED[name] for name in args.proposed},
    }
    try:
        if not args.reuse:
            results["build"] = build(urls, shape, args)
        if args.proposed:
            asyncio.run(apply_proposed(urls, args.proposed))
        results["sizes_mb"] = asyncio.run(table_sizes(urls))
        if not args.skip_service:
            results["service"] = service_phase(urls, shape, args)
        if not args.skip_http:
            results["http"] = http_phase(urls, args)
        if not args.skip_pgbench:
            results["pgbench"] = pgbench_phase(args)
    finally:
        if not args.keep:
            asyncio.run(drop_database(args.admin_url, DATABASE))
            print(f"dropped {DATABASE}")
    finish(results, args.results, args.label)
    if not results.get("service", {}).get("plan_ok", True):
        raise SystemExit(1)


def finish(results: dict[str, Any], folder: Path, label: str) -> None:
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    series = {
        f"service: {row['name']}": row.pop("samples_ms")
        for row in results.get("service", {}).get("scenarios", [])
    }
    for run in results.get("http", {}).get("runs", []):
        series[f"http approve: {run['label']}"] = run.pop("samples_ms")
    report.write_json(folder / f"{label}.json", results)
    report.plot(folder / f"{label}_latency.png", series)
    report.print_table(results)
    print(f"wrote {folder / f'{label}.json'} and {folder / f'{label}_latency.png'}")


if __name__ == "__main__":
    main(sys.argv[1:])
