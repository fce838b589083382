"""Sign-in under attack (issue #13, item 2): a signed-in person's ``GET /api/v1/me`` and
``/healthz`` while 50 clients send wrong sign-ins as fast as they are answered.

One ``agencyhub serve`` on PostgreSQL + Redis with production argon2 parameters
(time cost 3, 64 MiB) and the default pool (10 + 10). The attackers are the worst
case for the throttle: every attempt comes from another address (``X-Forwarded-For``
behind one trusted proxy) for an existing account, so no per-address wait applies
and every admitted attempt costs a full argon2 check.

Phases: 10 s quiet (baseline), then 20 s with the 50 attackers. Throughout, one
probe each for ``/me`` (signed-in cookie) and ``/healthz`` asks every 50 ms.
Writes bench/results/signin.json (or signin_<label>.json) and a CDF plot of ``/me``.

    .venv/bin/python bench/signin/run.py [--attackers 50 --seconds 20 --label after]
    BENCH_CODE=/path/to/other/checkout .venv/bin/python bench/signin/run.py --label before
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
# The code under test: this checkout, or another one (a "before" measurement).
CODE = Path(os.environ.get("BENCH_CODE", ROOT)).resolve()
# This checkout last: its bench/world.py helps measure an older one too.
sys.path[:0] = [str(CODE / "src"), str(CODE), str(ROOT)]
os.environ["PYTHONPATH"] = os.pathsep.join([str(CODE / "src"), os.environ.get("PYTHONPATH", "")])

from bench.world import drop, fresh_world  # noqa: E402
from tests.factories import PASSWORD  # noqa: E402
from tests.live_helpers import servers  # noqa: E402

from agencyhub.models import load_all_models  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DATABASE = "agencyhub_bench_signin"
PROBE_INTERVAL = 0.05


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(pct(values, 50), 1),
        "p95_ms": round(pct(values, 95), 1),
        "p99_ms": round(pct(values, 99), 1),
        "max_ms": round(max(values, default=float("nan")), 1),
    }


async def probe(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], until: float
) -> list[tuple[float, float, int]]:
    """(start offset, latency ms, status) per request, one request at a time."""
    samples = []
    while (now := time.monotonic()) < until:
        try:
            status = (await http.get(path, headers=headers)).status_code
        except httpx.HTTPError:
            status = 0
        samples.append((now, (time.monotonic() - now) * 1000, status))
        await asyncio.sleep(max(0.0, PROBE_INTERVAL - (time.monotonic() - now)))
    return samples


async def attacker(
    http: httpx.AsyncClient, email: str, until: float, seen: list[tuple[float, int]]
) -> None:
    while (now := time.monotonic()) < until:
        octets = secrets.token_bytes(3)
        address = f"10.{octets[0]}.{octets[1]}.{1 + octets[2] % 254}"
        try:
            response = await http.post(
                "/api/v1/auth/login",
                json={"email": email, "password": f"guess-{secrets.token_hex(4)}"},
                headers={"x-forwarded-for": address},
            )
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        seen.append(((time.monotonic() - now) * 1000, status))
        if status in (429, 503):
            retry = response.headers.get("retry-after", "1") if status else "1"
            await asyncio.sleep(min(float(retry), 1.0))


def phase_figures(samples: list[tuple[float, float, int]], start: float, end: float) -> Any:
    inside = [s for s in samples if start <= s[0] < end]
    figures = summary([latency for _, latency, _ in inside])
    figures["statuses"] = dict(Counter(str(status) for _, _, status in inside))
    return figures


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load_all_models()
    settings, world = await fresh_world(DATABASE)
    env = {
        "AGENCYHUB_PASSWORD_HASH_TIME_COST": "3",
        "AGENCYHUB_PASSWORD_HASH_MEMORY_KIB": "65536",
        "AGENCYHUB_DATABASE_POOL_SIZE": "10",
        "AGENCYHUB_TRUSTED_PROXY_COUNT": "1",
    }
    with tempfile.TemporaryDirectory() as tmp, servers(settings, Path(tmp), 1, env) as (server,):
        limits = httpx.Limits(max_connections=args.attackers + 10)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60, limits=limits) as http:
            owner = world.users["a.owner"].email
            login = await http.post(
                "/api/v1/auth/login",
                json={"email": owner, "password": PASSWORD},
                headers={"x-forwarded-for": "192.0.2.1"},
            )
            login.raise_for_status()
            cookie = {"cookie": f"agencyhub_session={login.cookies['agencyhub_session']}"}
            http.cookies.clear()
            began = time.monotonic()
            attack_from = began + args.quiet
            end = attack_from + args.seconds
            attempts: list[tuple[float, int]] = []

            async def attack() -> None:
                await asyncio.sleep(attack_from - time.monotonic())
                victim = world.users["a1.executive"].email
                await asyncio.gather(
                    *(attacker(http, victim, end, attempts) for _ in range(args.attackers))
                )

            me, health, _ = await asyncio.gather(
                probe(http, "/api/v1/me", cookie, end),
                probe(http, "/healthz", {}, end),
                attack(),
            )
    statuses = Counter(str(status) for _, status in attempts)
    result = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": str(CODE),
        "label": args.label,
        "attackers": args.attackers,
        "attack_seconds": args.seconds,
        "cores": os.cpu_count(),
        "me": {
            "quiet": phase_figures(me, began, attack_from),
            "attack": phase_figures(me, attack_from, end),
        },
        "healthz": {
            "quiet": phase_figures(health, began, attack_from),
            "attack": phase_figures(health, attack_from, end),
        },
        "sign_ins": {
            **summary([latency for latency, _ in attempts]),
            "statuses": dict(statuses),
            "password_checks_per_s": round(statuses.get("401", 0) / args.seconds, 1),
        },
    }
    name = f"signin_{args.label}" if args.label else "signin"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(me, attack_from, RESULTS / f"{name}_me_latency.png", args.label)
    await drop(DATABASE)
    return result


def plot(
    samples: list[tuple[float, float, int]], attack_from: float, path: Path, label: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for name, chosen in (
        ("quiet", [s[1] for s in samples if s[0] < attack_from]),
        ("50 attackers", [s[1] for s in samples if s[0] >= attack_from]),
    ):
        ordered = sorted(chosen)
        if ordered:
            axis.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=name)
    axis.set_xscale("log")
    axis.set_xlabel("GET /api/v1/me latency (ms, log scale)")
    axis.set_ylabel("fraction of requests")
    axis.set_title(f"/me while wrong sign-ins arrive {label}".strip())
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attackers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--quiet", type=float, default=10)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps({k: result[k] for k in ("me", "healthz", "sign_ins")}, indent=2))


if __name__ == "__main__":
    main()
