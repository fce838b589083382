"""Percentiles, the summary table, ``queue.json`` and the latency chart."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

# Issue #3, "Performance".
QUEUE_P99_TARGET_MS = 20.0
APPROVE_RATE_TARGET = 300.0
APPROVE_P99_TARGET_MS = 50.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; exact for the sample, no interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50), 3),
        "p95_ms": round(percentile(values, 95), 3),
        "p99_ms": round(percentile(values, 99), 3),
        "max_ms": round(max(values), 3) if values else math.nan,
        "mean_ms": round(sum(values) / len(values), 3) if values else math.nan,
    }


def machine_info() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        # The machine is shared: the load when the run started says how quiet it was.
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "commit": _git(["rev-parse", "--short", "HEAD"]),
        # Uncommitted changes in the work tree, if any, were part of what was measured.
        "changed_files": len(
            (_git(["status", "--porcelain", "--untracked-files=no"]) or "").splitlines()
        ),
    }


def _git(args: list[str]) -> str | None:
    """A read-only git query, for the record."""
    try:
        out = subprocess.run(  # noqa: S603 - fixed git subcommands from this module
            ["git", *args],  # noqa: S607 - read-only, for the record
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")


def plot(path: Path, series: dict[str, list[float]]) -> None:
    """Latency CDFs on a log axis, with the issue's targets as vertical lines (skipped,
    with a note, where matplotlib is not installed: the JSON has every sample)."""
    try:
        import matplotlib
    except ModuleNotFoundError:
        print(f"matplotlib is not installed; no plot at {path}")
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(10, 6))
    for name, values in series.items():
        if not values:
            continue
        ordered = sorted(values)
        share = [(i + 1) / len(ordered) for i in range(len(ordered))]
        axis.plot(ordered, share, label=f"{name} (p99 {percentile(values, 99):.1f} ms)")
    axis.axvline(QUEUE_P99_TARGET_MS, color="grey", linestyle="--", linewidth=1)
    axis.axvline(APPROVE_P99_TARGET_MS, color="grey", linestyle=":", linewidth=1)
    axis.axhline(0.99, color="lightgrey", linewidth=1)
    axis.set_xscale("log")
    axis.set_xlabel("latency, ms (log); dashed: queue p99 target 20 ms, dotted: approve 50 ms")
    axis.set_ylabel("share of requests at or below")
    axis.set_title("AgencyHub queue benchmark: latency CDF")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_table(results: dict[str, Any]) -> None:
    print("\n== queue benchmark summary ==")
    print(f"{'measure':<44} {'n':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'rate/s':>8}  target")
    for row in results.get("service", {}).get("scenarios", []):
        s = row["latency"]
        ok = s["p99_ms"] <= QUEUE_P99_TARGET_MS
        label = f"service: {row['name']} (@{row['position']}/{row['total']})"
        print(
            f"{label:<44} {s['n']:>6} {s['p50_ms']:>8.2f} {s['p95_ms']:>8.2f} "
            f"{s['p99_ms']:>8.2f} {'':>8}  p99<=20ms {verdict(ok)}"
        )
    for run in results.get("http", {}).get("runs", []):
        s = run["latency"]
        target = ""
        if run["mode"] == "open":
            ok = (
                run["rate_per_s"] >= APPROVE_RATE_TARGET * 0.99
                and s["p99_ms"] <= APPROVE_P99_TARGET_MS
                and run["errors"] == 0
            )
            target = f">=300/s p99<=50ms {verdict(ok)}"
        label = f"http approve: {run['label']}"
        print(
            f"{label:<44} {s['n']:>6} {s['p50_ms']:>8.2f} {s['p95_ms']:>8.2f} "
            f"{s['p99_ms']:>8.2f} {run['rate_per_s']:>8.1f}  {target}"
        )
        cpu = ", ".join(f"{role} {ms:.1f}" for role, ms in run["cpu_ms_per_approve"].items())
        print(f"    statuses {run['statuses']}; CPU ms per approve: {cpu}")
        if slow := run.get("slow_moments"):
            print(
                f"    over {slow['over_ms']:.0f} ms: {slow['requests_over']} requests in "
                f"{slow['seconds_with_any']} seconds of the run; per second {slow['per_second']}"
            )
            print(
                f"    load generator started {slow['started_late_over_10ms']} requests over "
                f"10 ms late (latest {slow['started_late_max_ms']} ms)"
            )
    for row in results.get("pgbench", []):
        label = f"pgbench {row['mode']}"
        print(f"{label:<44} {'':>6} {row['latency_ms']:>8.2f} {'':>8} {'':>8} {row['tps']:>8.0f}")
    print()
