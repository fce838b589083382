"""Approve decisions through HTTP against ``agencyhub serve --workers N`` on loopback.

Approvers sign in once (argon2 is paid there, not per decision), then each request
approves a distinct pending draft of the approver's client with its current version,
exactly as the web app's approve button does: session cookie + CSRF header.

Two ways to load the server:

* **open loop** at a fixed arrival rate: requests start on a schedule whether or not
  earlier ones have answered, and latency counts from the scheduled start, so a slow
  server cannot hide its queueing (no coordinated omission). This is the target check.
* **closed loop** at a fixed concurrency: as fast as the server answers, for capacity.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from dataset import BENCH_SECRET_KEY
from rawhttp import RawClient, RawHttpError
from sqlalchemy import text

from agencyhub.db import create_engine

HOST = "127.0.0.1"
SESSION_COOKIE = "agencyhub_session"
STARTUP_SECONDS = 60
SHUTDOWN_SECONDS = 20
MAX_IN_FLIGHT = 256
DRAIN_SECONDS = 20.0


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_server(
    app_url: str, *, workers: int, pool_size: int, log_path: Path, redis_url: str
) -> Server:
    """``agencyhub serve`` as production runs it, quiet logs, on a free loopback port.

    With a Redis URL the web processes only send background messages, as in
    production; without one they would also run the embedded worker and its SLA sweep
    and compete with the requests for the two cores.
    """
    port = free_port()
    env = {
        **os.environ,
        "AGENCYHUB_ENVIRONMENT": "production",
        "AGENCYHUB_SECRET_KEY": BENCH_SECRET_KEY,
        "AGENCYHUB_DATABASE_URL": app_url,
        "AGENCYHUB_DATABASE_POOL_SIZE": str(pool_size),
        "AGENCYHUB_REDIS_URL": redis_url,
        "AGENCYHUB_LOG_LEVEL": "WARNING",
        "AGENCYHUB_LOG_FORMAT": "json",
        "AGENCYHUB_BASE_URL": f"http://{HOST}:{port}",
    }
    command = [
        str(Path(sys.executable).with_name("agencyhub")),
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    log = log_path.open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    server = Server(process, f"http://{HOST}:{port}", log_path)
    _wait_until_healthy(server)
    return server


def _wait_until_healthy(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"the server exited; see {server.log_path}")
        try:
            if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop_server(server)
    raise SystemExit(f"the server did not become healthy in {STARTUP_SECONDS} s")


def stop_server(server: Server) -> None:
    """SIGTERM to the process we started (uvicorn's supervisor stops its workers)."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=SHUTDOWN_SECONDS)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=SHUTDOWN_SECONDS)


# --- who approves what ---------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    headers: dict[str, str]
    draft_id: uuid.UUID
    version: int


async def sign_in(http: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await http.post("/api/v1/auth/login", json={"email": email, "password": password})
    response.raise_for_status()
    token = response.cookies.get(SESSION_COOKIE)
    if not token:  # a Secure cookie over http may be refused by the jar; read the header
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            if name.strip() == SESSION_COOKIE:
                token = rest.split(";", 1)[0]
    assert token, "no session cookie in the login answer"
    http.cookies.clear()
    return {"cookie": f"{SESSION_COOKIE}={token}", "x-csrf-token": response.json()["csrfToken"]}


async def pending_drafts(
    owner_url: str, client_ids: list[uuid.UUID], per_client: int
) -> dict[uuid.UUID, list[tuple[uuid.UUID, int]]]:
    """Each client's queue head: what its approver would approve next."""
    engine = create_engine(owner_url, pool_size=1)
    found: dict[uuid.UUID, list[tuple[uuid.UUID, int]]] = {c: [] for c in client_ids}
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT client_id, id, version FROM ("
                    " SELECT client_id, id, version, row_number() OVER (PARTITION BY client_id"
                    "  ORDER BY sla_due_at, severity_order, submitted_at, id) AS n"
                    " FROM drafts WHERE status = 'pending' AND client_id = ANY(:clients)"
                    # Never decided yet, so each request is a first decision (a rerun
                    # on a kept database must not approve a crisis draft twice).
                    "  AND version = 2) q"
                    " WHERE n <= :per_client"
                ),
                {"clients": client_ids, "per_client": per_client},
            )
            for client_id, draft_id, version in rows:
                found[client_id].append((draft_id, version))
    finally:
        await engine.dispose()
    return found


def interleave(
    approvers: dict[uuid.UUID, dict[str, str]],
    drafts: dict[uuid.UUID, list[tuple[uuid.UUID, int]]],
) -> list[Job]:
    """Round-robin over the approvers, so concurrent requests hit different clients."""
    queues = [
        [Job(approvers[client], draft_id, version) for draft_id, version in drafts[client]]
        for client in approvers
    ]
    return [job for row in itertools.zip_longest(*queues) for job in row if job is not None]


# --- load ------------------------------------------------------------------------------


@dataclass
class LoadResult:
    mode: str
    requested: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    # Open loop only: when each answered request was due, in seconds from the start.
    offsets_s: list[float] = field(default_factory=list)
    started_unix: float = 0.0  # wall clock at offset 0, to line up with other records
    # Open loop only: how late the load generator itself started each request.
    late_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    cpu_busy_percent: float | None = None
    cpu_ms: dict[str, float] = field(default_factory=dict)
    setting: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return self.statuses.get("200", 0)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


async def _approve(http: RawClient, job: Job) -> str:
    body = b'{"decision":"approve","version":%d,"wording":0}' % job.version
    request = http.build_post(f"/api/v1/drafts/{job.draft_id}/decisions", body, job.headers)
    try:
        status, _ = await http.send(request)
    except (OSError, asyncio.IncompleteReadError, RawHttpError) as exc:
        return type(exc).__name__
    return str(status)


async def open_loop(
    http: RawClient, jobs: list[Job], *, rate: float, seconds: float, meter: Meter
) -> LoadResult:
    """Start one request every 1/rate s; an overloaded server sheds, it does not stall us.

    More than MAX_IN_FLIGHT unanswered requests, and a new one is not sent but counted
    as "shed"; whatever has not answered DRAIN_SECONDS after the last start is
    cancelled and counted as "timeout". Both count as errors.
    """
    count = min(len(jobs), int(rate * seconds))
    result = LoadResult("open", count, 0.0, setting={"rate": rate, "seconds": seconds})
    in_flight: set[asyncio.Task[None]] = set()

    async def fire(job: Job, scheduled: float) -> None:
        result.late_ms.append((time.perf_counter() - scheduled) * 1000)
        status = await _approve(http, job)
        result.latencies_ms.append((time.perf_counter() - scheduled) * 1000)
        result.offsets_s.append(scheduled - start)
        result.statuses[status] += 1

    cpu = meter()
    start = time.perf_counter()
    result.started_unix = time.time()
    for index, job in enumerate(jobs[:count]):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(in_flight) >= MAX_IN_FLIGHT:
            result.statuses["shed"] += 1
            continue
        task = asyncio.create_task(fire(job, scheduled))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        _, late = await asyncio.wait(set(in_flight), timeout=DRAIN_SECONDS)
        for task in late:
            task.cancel()
        result.statuses["timeout"] += len(late)
    result.seconds = time.perf_counter() - start
    result.cpu_busy_percent = cpu.busy_percent()
    result.cpu_ms = cpu.role_ms()
    return result


async def closed_loop(
    http: RawClient, jobs: list[Job], *, concurrency: int, seconds: float, meter: Meter
) -> LoadResult:
    result = LoadResult("closed", 0, 0.0, setting={"concurrency": concurrency, "seconds": seconds})
    pending = iter(jobs)
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        for job in pending:  # a shared iterator: each job is taken once
            if time.perf_counter() >= deadline:
                return
            started = time.perf_counter()
            status = await _approve(http, job)
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.statuses[status] += 1

    cpu = meter()
    start = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(worker() for _ in range(concurrency))), timeout=seconds + 60
    )
    result.seconds = time.perf_counter() - start
    result.requested = len(result.latencies_ms)
    result.cpu_busy_percent = cpu.busy_percent()
    result.cpu_ms = cpu.role_ms()
    return result


Meter = Callable[[], "CpuMeter"]


class CpuMeter:
    """CPU spent between creation and the call: the whole machine (busy share, from
    /proc/stat) and, per role, in milliseconds: the server's processes, the bench
    database's PostgreSQL backends, and this load generator."""

    def __init__(self, server_pid: int | None = None, database: str = "") -> None:
        self.server_pid = server_pid
        self.database = database
        self.start = self._read()
        self.roles_start = self._roles()

    @staticmethod
    def _read() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields), idle

    def busy_percent(self) -> float:
        total, idle = self._read()
        spent = total - self.start[0]
        return round(100 * (1 - (idle - self.start[1]) / spent), 1) if spent else 0.0

    def role_ms(self) -> dict[str, float]:
        """Per role, the CPU its processes spent since creation (a process that ended
        in between is lost; pooled server connections and workers live throughout)."""
        spent = {"server": 0.0, "postgres": 0.0, "load_generator": 0.0}
        for pid, (role, ms) in self._roles().items():
            spent[role] += ms - self.roles_start.get(pid, (role, 0.0))[1]
        return {role: round(ms, 1) for role, ms in spent.items()}

    def _roles(self) -> dict[int, tuple[str, float]]:
        roles = {os.getpid(): ("load_generator", _cpu_ms(os.getpid()))}
        for pid in _pids():
            cmdline = _cmdline(pid)
            if self.server_pid and (pid == self.server_pid or _ppid(pid) == self.server_pid):
                roles[pid] = ("server", _cpu_ms(pid))
            elif self.database and cmdline.startswith("postgres:") and self.database in cmdline:
                roles[pid] = ("postgres", _cpu_ms(pid))
        return roles


_TICKS = os.sysconf("SC_CLK_TCK")


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _stat(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return raw.rsplit(")", 1)[1].split()


def _ppid(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[1]) if fields else -1


def _cpu_ms(pid: int) -> float:
    """utime + stime of the process (its exited children are not ours to count)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) * 1000 / _TICKS if fields else 0.0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def slow_moments(result: LoadResult, over_ms: float = 50.0) -> dict[str, object]:
    """Is the tail a few bad moments or spread evenly? Requests over ``over_ms`` per
    second of the run, and the ten slowest with when they were due."""
    per_second: Counter[int] = Counter()
    for offset, ms in zip(result.offsets_s, result.latencies_ms, strict=True):
        if ms > over_ms:
            per_second[int(offset)] += 1
    ranked = sorted(zip(result.latencies_ms, result.offsets_s, strict=True), reverse=True)
    return {
        "over_ms": over_ms,
        "started_unix": round(result.started_unix, 3),
        "requests_over": sum(per_second.values()),
        "seconds_with_any": len(per_second),
        "per_second": {str(s): n for s, n in sorted(per_second.items())},
        "worst": [{"at_s": round(at, 3), "ms": round(ms, 1)} for ms, at in ranked[:10]],
        # Over 10 ms late at the start is the load generator's delay, not the server's.
        "started_late_over_10ms": sum(1 for ms in result.late_ms if ms > 10),
        "started_late_max_ms": round(max(result.late_ms, default=0.0), 1),
    }


def http_client(base_url: str, connections: int) -> httpx.AsyncClient:
    """For signing in; the load itself goes through :class:`RawClient`."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30)


def load_client(base_url: str, connections: int) -> RawClient:
    return RawClient(base_url, connections)
