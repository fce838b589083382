"""Live feed benchmark: N WebSocket subscribers over 2 `agencyhub serve` processes
(PostgreSQL + Redis); R approve decisions per second for S seconds through the real
HTTP API (`POST /api/v1/drafts/{id}/decisions`, signed in as the client's approver).

Phases, one after the other so they do not disturb each other:

1. setup: a fresh database, pending drafts bulk-loaded as the owner (R x S + margin),
   subscribers connected and ``ready``;
2. live: the decisions, open loop; per delivered event and subscriber the latency from
   the event's INSERT (right before COMMIT, ``at`` on the wire) to receipt; lost and
   duplicated ids against the ``draft.approved`` events in the database; server RSS;
3. raw Redis, one subscriber: publish a timestamp at rate R, receive on one connection;
4. raw Redis fan-out: as many pub/sub connections as WebSocket subscribers, one publish
   at rate R reaching every one of them.

Writes ``bench/results/<name>.json`` and ``<name>_latency_cdf.png`` (all three).

    .venv/bin/python bench/live/run.py --subscribers 1000 --seconds 60 --rate 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import resource
import secrets
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "bench" / "queue"), str(ROOT / "bench" / "live")]

import http_approve  # noqa: E402
import wsclient  # noqa: E402
from rawhttp import RawClient, RawHttpError  # noqa: E402
from tests.factories import PASSWORD, World, grant, make_user, make_world  # noqa: E402

from agencyhub import dbadmin  # noqa: E402
from agencyhub.config import Settings  # noqa: E402
from agencyhub.db import Database, create_engine  # noqa: E402
from agencyhub.models import load_all_models  # noqa: E402
from agencyhub.tenancy.secrets import Passwords  # noqa: E402

ADMIN_URL = os.environ.get(
    "BENCH_ADMIN_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
RESULTS = ROOT / "bench" / "results"
APPROVED = "draft.approved"
OPEN_FILES = 16_384
"""Subscribers, raw Redis connections and the servers' sockets (inherited) need more
descriptors than the usual soft limit of 1,024."""


# --- small helpers -----------------------------------------------------------------------


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


def summary(values: list[float]) -> dict[str, Any]:
    return {"p50": pct(values, 50), "p99": pct(values, 99), "max": pct(values, 100)}


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def raise_open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return wanted


async def admin(url: str, *statements: str, params: dict[str, Any] | None = None) -> None:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await conn.execute(text(statement), params or {})
    finally:
        await engine.dispose()


# --- setup -------------------------------------------------------------------------------


@dataclass
class Bench:
    settings: Settings
    owner_url: str
    world: World
    people: list[str]


async def create_database(name: str, people: int) -> Bench:
    await admin(ADMIN_URL, f'CREATE DATABASE "{name}"')
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
    try:
        world = await make_world(db, Passwords(settings))
        emails = []
        for _ in range(people):  # subscribers sign in as these (agency editors)
            user = await make_user(db, Passwords(settings))
            await grant(db, user, world.agencies["a"], "editor")
            emails.append(user.email)
    finally:
        await db.dispose()
    return Bench(settings, owner_url, world, emails)


PENDING_DRAFTS = """
INSERT INTO drafts (id, agency_id, client_id, kind, channel_id, inbound_item_id, title,
                    status, severity, severity_order, version, current_revision_id,
                    revision_count, scheduled_for, submitted_at, sla_due_at, decided_at,
                    approved_wording, created_by_id, created_at, updated_at)
SELECT md5('bench-live-draft-' || g)::uuid, :agency, :client, 'post', :channel, NULL,
       'Bench draft ' || g, 'pending', 'normal', 2, 2, md5('bench-live-revision-' || g)::uuid,
       1, NULL, now(), now() + interval '4 hours', NULL, NULL, :editor, now(), now()
FROM generate_series(1, :count) AS g
"""
REVISIONS = """
INSERT INTO revisions (id, agency_id, draft_id, number, body, alternatives, media, rationale,
                       author_id, created_at)
SELECT md5('bench-live-revision-' || g)::uuid, :agency, md5('bench-live-draft-' || g)::uuid,
       1, 'Frische Brötchen ab 6 Uhr! Angebot Nummer ' || g, '[]'::json, '[]'::json, '',
       :editor, now()
FROM generate_series(1, :count) AS g
"""


async def load_pending_drafts(bench: Bench, channel_id: str, count: int) -> list[str]:
    """``count`` pending drafts of client a1 at version 2 with one revision each, written
    by the agency's editor (so four-eyes never refuses the approver); as the owner, in
    one statement each, with no events: the bench's events are its decisions."""
    params = {
        "agency": bench.world.agencies["a"].id,
        "client": bench.world.clients["a1"].id,
        "channel": channel_id,
        "editor": bench.world.users["a.editor"].id,
        "count": count,
    }
    await admin(bench.owner_url, PENDING_DRAFTS, REVISIONS, params=params)
    engine = create_engine(bench.owner_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT id FROM drafts WHERE status = 'pending' AND version = 2 ORDER BY id")
            )
            return [str(row.id) for row in rows]
    finally:
        await engine.dispose()


async def approved_event_ids(bench: Bench) -> tuple[list[int], Counter[str]]:
    """The ids of every ``draft.approved`` event, and all event types after setup."""
    engine = create_engine(bench.owner_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, type FROM events ORDER BY id"))).all()
    finally:
        await engine.dispose()
    return [r.id for r in rows if r.type == APPROVED], Counter(r.type for r in rows)


# --- the live phase ----------------------------------------------------------------------


def events_of(texts: list[tuple[float, bytes]]) -> list[tuple[int, float, str]]:
    """(event id, commit → receipt in ms, event type) of every ``event`` message,
    parsed after the run so parsing costs the measured cores nothing."""
    got = []
    for received_at, raw in texts:
        message = json.loads(raw)
        if message["type"] == "event":
            at = datetime.fromisoformat(message["at"].replace("Z", "+00:00")).timestamp()
            got.append((message["id"], (received_at - at) * 1000, message["event"]))
    return got


def slow_events(per_event: dict[int, list[float]], order: list[int]) -> dict[str, Any]:
    """Is the tail a few bad moments or every event? Per event, its slowest delivery;
    how many events had one over 100 ms, and the ten worst with their position in
    the run (0 = first decision)."""
    position = {id_: k for k, id_ in enumerate(sorted(order))}
    worst = {id_: max(values) for id_, values in per_event.items() if id_ in position}
    ranked = sorted(worst.items(), key=lambda item: item[1], reverse=True)
    return {
        "events_with_a_delivery_over_100ms": sum(1 for ms in worst.values() if ms > 100),
        "events": len(worst),
        "worst": [
            {"position": position[id_], "max_ms": round(ms, 1), "p50_ms": pct(per_event[id_], 50)}
            for id_, ms in ranked[:10]
        ],
    }


async def connect_subscribers(
    servers: list[http_approve.Server], people: list[str], count: int
) -> list[wsclient.Subscriber]:
    """Every subscriber connected and ``ready`` (see ``wsclient`` for why not `websockets`)."""
    logins = []
    for i, email in enumerate(people):
        server = servers[i % len(servers)]
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            logins.append((server, await http_approve.sign_in(http, email, PASSWORD)))
    subscribers = []
    for batch in range(0, count, 50):
        connecting = []
        for i in range(batch, min(count, batch + 50)):
            server, headers = logins[i % len(logins)]
            url = server.base_url.replace("http://", "ws://") + "/api/v1/live"
            socket_headers = {"Cookie": headers["cookie"], "Origin": server.base_url}
            connecting.append(wsclient.connect(url, socket_headers))
        subscribers += await asyncio.gather(*connecting)
    for subscriber in subscribers:
        ready = json.loads(subscriber.ready)
        assert ready["type"] == "ready", ready
    return subscribers


async def decide(
    servers: list[http_approve.Server],
    approver: list[dict[str, str]],
    drafts: list[str],
    rate: float,
    seconds: float,
) -> tuple[int, Counter[str], list[float]]:
    """Approve one pending draft every 1/rate s (open loop), alternating the processes.
    Only 200 answers count as sent events; answers' latencies for the record."""
    count = min(len(drafts), math.ceil(rate * seconds))
    statuses: Counter[str] = Counter()
    answer_ms: list[float] = []
    # The raw client, not httpx: httpx spends milliseconds of CPU per request in this
    # process, which would hold up the subscribers' arrival stamps.
    clients = [RawClient(s.base_url, 8) for s in servers]

    async def approve(k: int, scheduled: float) -> None:
        i = k % len(servers)
        body = b'{"decision":"approve","version":2,"wording":0}'
        request = clients[i].build_post(f"/api/v1/drafts/{drafts[k]}/decisions", body, approver[i])
        try:
            code, answer = await clients[i].send(request)
        except (OSError, asyncio.IncompleteReadError, RawHttpError) as exc:
            statuses[type(exc).__name__] += 1
            return
        answer_ms.append((time.perf_counter() - scheduled) * 1000)
        status = str(code)
        if status == "200" and json.loads(answer).get("status") != "approved":
            status = "200 but not approved"
        statuses[status] += 1

    try:
        start = time.perf_counter()
        pending = set()
        for k in range(count):
            scheduled = start + k / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            pending.add(asyncio.create_task(approve(k, scheduled)))
        await asyncio.gather(*pending)
    finally:
        for client in clients:
            await client.__aexit__()
    return count, statuses, answer_ms


async def live_phase(args: argparse.Namespace, bench: Bench) -> dict[str, Any]:
    log_dir = Path(tempfile.gettempdir()) / "agencyhub_bench_live_logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    servers = [
        http_approve.start_server(
            bench.settings.database_url,
            workers=1,
            pool_size=10,
            log_path=log_dir / f"server-{i}.log",
            redis_url=REDIS_URL,
        )
        for i in range(2)
    ]
    subscribers: list[wsclient.Subscriber] = []
    try:
        async with httpx.AsyncClient(base_url=servers[0].base_url, timeout=30) as http:
            owner = await http_approve.sign_in(http, bench.world.users["a.owner"].email, PASSWORD)
            channel = (
                await http.post(
                    f"/api/v1/clients/{bench.world.clients['a1'].id}/channels",
                    headers=owner,
                    json={"platform": "instagram", "handle": "@bench"},
                )
            ).json()
        needed = math.ceil(args.rate * args.seconds)
        started = time.perf_counter()
        drafts = await load_pending_drafts(bench, channel["id"], needed + max(100, needed // 20))
        load_seconds = time.perf_counter() - started
        approver = []
        for server in servers:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
                email = bench.world.users["a1.approver"].email
                approver.append(await http_approve.sign_in(http, email, PASSWORD))
        subscribers = await connect_subscribers(servers, bench.people, args.subscribers)
        gc.collect()
        gc.freeze()  # the load generator's own collections must not delay the stamps
        await asyncio.sleep(1)
        rss_before = [rss_mb(s.process.pid) for s in servers]
        cpu_before = [cpu_seconds(s.process.pid) for s in servers] + [time.process_time()]
        wall_before = time.perf_counter()
        sent, statuses, answer_ms = await decide(servers, approver, drafts, args.rate, args.seconds)
        await asyncio.sleep(args.drain)
        rss_after = [rss_mb(s.process.pid) for s in servers]
        cpu_after = [cpu_seconds(s.process.pid) for s in servers] + [time.process_time()]
        wall = time.perf_counter() - wall_before
    finally:
        closed_early = Counter(s.close_code for s in subscribers if s.close_code is not None)
        await asyncio.gather(*(s.close() for s in subscribers), return_exceptions=True)
        for server in servers:
            http_approve.stop_server(server)

    received = [events_of(subscriber.texts) for subscriber in subscribers]
    expected, event_types = await approved_event_ids(bench)
    wanted = set(expected)
    latencies = [ms for got in received for id_, ms, type_ in got if id_ in wanted]
    delivered_types = Counter(type_ for got in received for _, _, type_ in got)
    # Each 200 answer is one approval and exactly one event, and nothing else was sent.
    assert len(expected) == statuses.get("200", 0), (len(expected), statuses, event_types)
    assert set(delivered_types) <= {APPROVED}, delivered_types
    per_event: dict[int, list[float]] = {}
    for got in received:
        for id_, ms, _type in got:
            per_event.setdefault(id_, []).append(ms)
    lost = sum(len(wanted - {id_ for id_, _, _ in got}) for got in received)
    duplicated = sum(len(got) - len({id_ for id_, _, _ in got}) for got in received)
    return {
        "pending_drafts_loaded": len(drafts),
        "pending_drafts_load_seconds": round(load_seconds, 2),
        "decisions_scheduled": sent,
        "decision_statuses": dict(statuses),
        "decision_answer_ms": summary(answer_ms),
        "approved_events": len(expected),
        "event_types_delivered": dict(delivered_types),
        "deliveries": len(latencies),
        "expected_deliveries": len(expected) * args.subscribers,
        "latency_ms": summary(latencies),
        "slow_events": slow_events(per_event, expected),
        "lost": lost,
        "duplicated": duplicated,
        "cpu_share": {
            "what": "CPU seconds per wall second during the decisions and the drain",
            "servers": [
                round((a - b) / wall, 2)
                for a, b in zip(cpu_after[:-1], cpu_before[:-1], strict=True)
            ],
            "load_generator": round((cpu_after[-1] - cpu_before[-1]) / wall, 2),
        },
        "closed_by_server_during_run": {str(k): v for k, v in closed_early.items()},
        "rss_mb_before": [round(v, 1) for v in rss_before],
        "rss_mb_after": [round(v, 1) for v in rss_after],
        "rss_growth_mb": round(max(a - b for a, b in zip(rss_after, rss_before, strict=True)), 1),
        "_latencies": latencies,
    }


# --- raw Redis baselines -------------------------------------------------------------------


async def raw_redis(subscribers: int, rate: float, seconds: float, drain: float) -> dict[str, Any]:
    """Publish a timestamp every 1/rate s; ``subscribers`` pub/sub connections each
    record (receipt - publish time) for every message."""
    channel = f"bench.live.raw.{secrets.token_hex(4)}"
    client = aioredis.Redis.from_url(
        REDIS_URL, client_name="agencyhub.bench.live.raw", max_connections=subscribers + 10
    )
    pubsubs = [client.pubsub() for _ in range(subscribers)]
    received: list[list[float]] = [[] for _ in range(subscribers)]

    async def listen(pubsub: Any, got: list[float]) -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                got.append((time.time() - float(message["data"])) * 1000)

    readers: list[asyncio.Task[None]] = []
    try:
        for first in range(0, subscribers, 50):
            batch = pubsubs[first : first + 50]
            await asyncio.gather(*(p.subscribe(channel) for p in batch))
        readers = [
            asyncio.create_task(listen(p, g)) for p, g in zip(pubsubs, received, strict=True)
        ]
        # Redis's own count: every connection's SUBSCRIBE has landed.
        while (await client.pubsub_numsub(channel))[0][1] < subscribers:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        count = math.ceil(rate * seconds)
        start = time.perf_counter()
        for k in range(count):
            await asyncio.sleep(max(0.0, start + k / rate - time.perf_counter()))
            await client.publish(channel, repr(time.time()))
        await asyncio.sleep(drain)
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for pubsub in pubsubs:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        await client.aclose()
    samples = [ms for got in received for ms in got]
    return {
        "subscribers": subscribers,
        "messages": count,
        "samples": len(samples),
        "lost": sum(max(0, count - len(got)) for got in received),
        **summary(samples),
        "_samples": samples,
    }


# --- the run -----------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> dict[str, Any]:
    load_all_models()
    load_start = load_average()
    name = f"agencyhub_bench_live_{secrets.token_hex(3)}"
    try:
        bench = await create_database(name, args.people)
        live = await live_phase(args, bench)
    finally:
        await admin(ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    raw_seconds = args.raw_seconds or args.seconds
    single = await raw_redis(1, args.rate, raw_seconds, args.drain)
    fanout = await raw_redis(args.subscribers, args.rate, raw_seconds, args.drain)
    latencies = live.pop("_latencies")
    single_samples = single.pop("_samples")
    fanout_samples = fanout.pop("_samples")
    p99 = live["latency_ms"]["p99"]
    result = {
        "measured_at": datetime.now(UTC).isoformat(),
        "subscribers": args.subscribers,
        "servers": 2,
        "rate_per_second": args.rate,
        "seconds": args.seconds,
        "load_average_start": load_start,
        **live,
        "raw_redis_single_ms": single,
        "raw_redis_fanout_ms": fanout,
        "p99_ratio_to_raw_single": ratio(p99, single["p99"]),
        "p99_ratio_to_raw_fanout": ratio(p99, fanout["p99"]),
        "load_average_end": load_average(),
    }
    plot(
        {
            f"commit → WebSocket ({args.subscribers} subscribers)": latencies,
            f"raw Redis fan-out ({args.subscribers} connections)": fanout_samples,
            "raw Redis, one subscriber": single_samples,
        },
        RESULTS / f"{args.name}_latency_cdf.png",
    )
    return result


def plot(series: dict[str, list[float]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, values in series.items():
        if values:
            ordered = sorted(values)
            ax.plot(ordered, [i / len(ordered) for i in range(len(ordered))], label=label)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path)


def report(result: dict[str, Any]) -> str:
    live, single, fanout = (
        result["latency_ms"],
        result["raw_redis_single_ms"],
        result["raw_redis_fanout_ms"],
    )
    return "\n".join(
        [
            f"load average: start {result['load_average_start']}, end {result['load_average_end']}",
            f"decisions: {result['decisions_scheduled']} scheduled, "
            f"statuses {result['decision_statuses']}, {result['approved_events']} "
            f"{APPROVED} events",
            f"commit → delivery ({result['subscribers']} subscribers): p50 {live['p50']} ms, "
            f"p99 {live['p99']} ms, max {live['max']} ms; {result['deliveries']} of "
            f"{result['expected_deliveries']} deliveries",
            f"lost {result['lost']}, duplicated {result['duplicated']}, "
            f"RSS growth {result['rss_growth_mb']} MB; CPU share: servers "
            f"{result['cpu_share']['servers']}, load generator "
            f"{result['cpu_share']['load_generator']}",
            f"events with a delivery over 100 ms: "
            f"{result['slow_events']['events_with_a_delivery_over_100ms']} of "
            f"{result['slow_events']['events']}; worst at positions "
            f"{[w['position'] for w in result['slow_events']['worst']]}",
            f"raw Redis, one subscriber: p50 {single['p50']} ms, p99 {single['p99']} ms",
            f"raw Redis fan-out ({fanout['subscribers']} connections): p50 {fanout['p50']} ms, "
            f"p99 {fanout['p99']} ms, lost {fanout['lost']}",
            f"p99 ratio: {result['p99_ratio_to_raw_single']}x one subscriber, "
            f"{result['p99_ratio_to_raw_fanout']}x same fan-out",
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=20, help="approve decisions per second")
    parser.add_argument("--people", type=int, default=20, help="distinct signed-in subscribers")
    parser.add_argument("--drain", type=float, default=3, help="seconds to wait for stragglers")
    parser.add_argument(
        "--raw-seconds", type=float, default=0, help="raw Redis phases (default: --seconds)"
    )
    parser.add_argument("--name", default="live", help="results file stem")
    arguments = parser.parse_args()
    print(f"open files limit: {raise_open_files_limit()}; load average: {load_average()}")
    outcome = asyncio.run(main(arguments))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{arguments.name}.json").write_text(json.dumps(outcome, indent=2) + "\n")
    print(json.dumps(outcome, indent=2))
    print(report(outcome))
