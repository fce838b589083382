"""This machine's PostgreSQL yardstick: pgbench select-only and simple-update TPS.

Runs in its own small database (scale 10), so the figures are comparable with
STACK-NOTES and with other runs whatever the application data.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from dataclasses import dataclass

from dataset import admin_execute, drop_database
from sqlalchemy.engine import make_url

DATABASE = "agencyhub_bench_pgbench"
SCALE = 10
CLIENTS = 8
THREADS = 2


@dataclass
class PgbenchResult:
    mode: str
    tps: float
    latency_ms: float
    seconds: int


def _environment(admin_url: str) -> dict[str, str]:
    url = make_url(admin_url)
    env = {**os.environ, "PGHOST": url.host or "127.0.0.1", "PGPORT": str(url.port or 5432)}
    env["PGUSER"] = url.username or "postgres"
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return env


def _pgbench(args: list[str], env: dict[str, str], timeout: float) -> str:
    completed = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        ["pgbench", *args, DATABASE],  # noqa: S607 - pgbench comes with PostgreSQL
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return completed.stdout


def _parse(mode: str, output: str, seconds: int) -> PgbenchResult:
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    latency = re.search(r"latency average = ([\d.]+) ms", output)
    if tps is None or latency is None:
        raise SystemExit(f"cannot read pgbench output:\n{output}")
    return PgbenchResult(mode, float(tps.group(1)), float(latency.group(1)), seconds)


def run(admin_url: str, seconds: int) -> list[PgbenchResult]:
    env = _environment(admin_url)
    asyncio.run(drop_database(admin_url, DATABASE))
    asyncio.run(admin_execute(admin_url, f'CREATE DATABASE "{DATABASE}"'))
    try:
        _pgbench(["-i", "-s", str(SCALE), "-q"], env, timeout=600)
        common = ["-c", str(CLIENTS), "-j", str(THREADS), "-T", str(seconds)]
        return [
            _parse("select-only (-S)", _pgbench([*common, "-S"], env, seconds + 120), seconds),
            _parse("simple-update (-N)", _pgbench([*common, "-N"], env, seconds + 120), seconds),
        ]
    finally:
        asyncio.run(drop_database(admin_url, DATABASE))
