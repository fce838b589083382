"""Live feed benchmark: N WebSocket subscribers over 2 `agencyhub serve` processes
(PostgreSQL + Redis), D comment events per second through the real API for S seconds.

Measures, per delivered event and subscriber, commit → delivery latency (the event's
``at`` is its INSERT time, right before COMMIT), lost and duplicated events, raw Redis
pub/sub round trip in the same run, and the servers' RSS growth. Writes
``bench/results/live.json`` and a latency CDF PNG.

    .venv/bin/python bench/live/run.py --subscribers 1000 --seconds 60 --rate 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "bench" / "queue")]

import http_approve  # noqa: E402

from agencyhub import dbadmin  # noqa: E402
from agencyhub.config import Settings  # noqa: E402
from agencyhub.db import Database, create_engine  # noqa: E402
from agencyhub.models import load_all_models  # noqa: E402
from agencyhub.tenancy.secrets import Passwords  # noqa: E402
from tests.factories import PASSWORD, grant, make_user, make_world  # noqa: E402

ADMIN_URL = os.environ.get(
    "BENCH_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
RESULTS = ROOT / "bench" / "results"


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def admin(statement: str) -> None:
    engine = create_engine(ADMIN_URL, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def raw_redis_rtt(samples: list[float], stop: asyncio.Event, rate: float) -> None:
    """Publish timestamps and receive them on another connection, at the event rate."""
    pub = aioredis.Redis.from_url(REDIS_URL)
    sub = aioredis.Redis.from_url(REDIS_URL).pubsub()
    channel = f"bench.live.raw.{secrets.token_hex(4)}"
    await sub.subscribe(channel)
    await sub.get_message(timeout=1)

    async def receive() -> None:
        while not stop.is_set():
            message = await sub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message:
                samples.append((time.time() - float(message["data"])) * 1000)

    receiver = asyncio.create_task(receive())
    while not stop.is_set():
        await pub.publish(channel, repr(time.time()))
        await asyncio.sleep(1 / rate)
    await receiver
    await sub.aclose()
    await pub.aclose()


async def subscriber(
    url: str,
    headers: dict[str, str],
    got: list[tuple[int, float]],
    ready: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    async with connect(url, additional_headers=headers, max_queue=None, open_timeout=60) as ws:
        first = json.loads(await ws.recv())
        assert first["type"] == "ready", first
        ready.set()
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            now = time.time()
            message = json.loads(raw)
            if message["type"] == "event":
                at = datetime.fromisoformat(message["at"].replace("Z", "+00:00")).timestamp()
                got.append((message["id"], (now - at) * 1000))


async def main(args: argparse.Namespace) -> dict[str, Any]:
    load_all_models()
    name = f"agencyhub_bench_live_{secrets.token_hex(3)}"
    await admin(f'CREATE DATABASE "{name}"')
    owner_url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    app_url = make_url(ADMIN_URL).set(database=name, username="agencyhub_app", password=None)
    settings = Settings(
        environment="test",
        database_url=app_url.render_as_string(hide_password=False),
        migration_database_url=owner_url,
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
    )
    await dbadmin.create_app_role(settings)
    await asyncio.to_thread(dbadmin.upgrade, settings)
    db = Database.from_settings(settings)
    world = await make_world(db, Passwords(settings))
    agency = world.agencies["a"]
    people = []
    for _ in range(args.people):  # subscribers sign in as these (agency editors)
        user = await make_user(db, Passwords(settings))
        await grant(db, user, agency, "editor")
        people.append(user.email)
    await db.dispose()

    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "agencyhub_bench_live_logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    servers = [
        http_approve.start_server(
            settings.database_url,
            workers=1,
            pool_size=10,
            log_path=log_dir / f"server-{i}.log",
            redis_url=REDIS_URL,
        )
        for i in range(2)
    ]
    try:
        async with httpx.AsyncClient(base_url=servers[0].base_url, timeout=30) as http:
            owner = await http_approve.sign_in(http, world.users["a.owner"].email, PASSWORD)
            client_id = world.clients["a1"].id
            channel = (
                await http.post(
                    f"/api/v1/clients/{client_id}/channels",
                    headers=owner,
                    json={"platform": "instagram", "handle": "@b"},
                )
            ).json()
            draft = (
                await http.post(
                    f"/api/v1/clients/{client_id}/drafts",
                    headers=owner,
                    json={"kind": "post", "channelId": channel["id"], "body": "x"},
                )
            ).json()
        logins = []
        for i, email in enumerate(people):
            server = servers[i % 2]
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
                logins.append((server, await http_approve.sign_in(http, email, PASSWORD)))
        stop = asyncio.Event()
        received: list[list[tuple[int, float]]] = [[] for _ in range(args.subscribers)]
        readies = [asyncio.Event() for _ in range(args.subscribers)]
        tasks = []
        for i in range(args.subscribers):
            server, headers = logins[i % len(logins)]
            url = server.base_url.replace("http://", "ws://") + "/api/v1/live"
            tasks.append(
                asyncio.create_task(
                    subscriber(
                        url,
                        {"cookie": headers["cookie"], "origin": server.base_url},
                        received[i],
                        readies[i],
                        stop,
                    )
                )
            )
            if i % 50 == 49:
                await asyncio.sleep(0.05)
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
        await asyncio.sleep(1)
        rss_before = [rss_mb(s.process.pid) for s in servers]
        raw: list[float] = []
        raw_stop = asyncio.Event()
        raw_task = asyncio.create_task(raw_redis_rtt(raw, raw_stop, args.rate))
        sent_ids: list[int] = []
        statuses: dict[int, int] = {}
        async with httpx.AsyncClient(base_url=servers[1].base_url, timeout=30) as http:
            start = time.monotonic()
            n = 0
            pending = set()

            async def comment(k: int) -> None:
                r = await http.post(
                    f"/api/v1/drafts/{draft['id']}/comments",
                    headers=owner,
                    json={"body": f"decision {k}", "visibility": "shared"},
                )
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

            owner2 = await http_approve.sign_in(http, world.users["a.owner"].email, PASSWORD)
            owner = owner2
            while time.monotonic() - start < args.seconds:
                due = start + n / args.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                pending.add(asyncio.create_task(comment(n)))
                n += 1
            await asyncio.gather(*pending)
        await asyncio.sleep(3)
        raw_stop.set()
        await raw_task
        rss_after = [rss_mb(s.process.pid) for s in servers]
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for server in servers:
            http_approve.stop_server(server)
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    expected = {i for got in received for i, _ in got}
    expected_count = statuses.get(201, 0) + statuses.get(200, 0)
    latencies = [ms for got in received for _, ms in got]
    lost = sum(max(0, expected_count - len({i for i, _ in got})) for got in received)
    duplicated = sum(len(got) - len({i for i, _ in got}) for got in received)
    p99 = pct(latencies, 99)
    raw_p99 = pct(raw, 99)
    result = {
        "measured_at": datetime.now(UTC).isoformat(),
        "subscribers": args.subscribers,
        "servers": 2,
        "rate_per_second": args.rate,
        "seconds": args.seconds,
        "decisions_sent": n,
        "decision_statuses": statuses,
        "distinct_event_ids_delivered": len(expected),
        "deliveries": len(latencies),
        "latency_ms": {"p50": pct(latencies, 50), "p99": p99, "max": pct(latencies, 100)},
        "raw_redis_rtt_ms": {"p50": pct(raw, 50), "p99": raw_p99, "samples": len(raw)},
        "p99_ratio_to_raw_redis": round(p99 / raw_p99, 2) if p99 and raw_p99 else None,
        "lost": lost,
        "duplicated": duplicated,
        "rss_mb_before": [round(v, 1) for v in rss_before],
        "rss_mb_after": [round(v, 1) for v in rss_after],
        "rss_growth_mb": round(max(a - b for a, b in zip(rss_after, rss_before)), 1),
    }
    plot(latencies, raw, RESULTS / f"{args.name}_latency_cdf.png")
    return result


def plot(latencies: list[float], raw: list[float], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for values, label in ((latencies, "commit → WebSocket subscriber"), (raw, "raw Redis pub/sub")):
        if values:
            ordered = sorted(values)
            ax.plot(ordered, [i / len(ordered) for i in range(len(ordered))], label=label)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=20, help="decisions (comments) per second")
    parser.add_argument("--people", type=int, default=20, help="distinct signed-in users")
    parser.add_argument("--name", default="live", help="results file stem")
    arguments = parser.parse_args()
    outcome = asyncio.run(main(arguments))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{arguments.name}.json").write_text(json.dumps(outcome, indent=2) + "\n")
    print(json.dumps(outcome, indent=2))
