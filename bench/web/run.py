"""Web app benchmark (issue #15, "Performance"), in headless Chromium against
`agencyhub serve` on PostgreSQL and Redis serving the production build:

1. size: the initial JavaScript and CSS of `frontend/dist` (what index.html loads),
   gzipped — target ≤ 200 kB of JavaScript;
2. render: an approver opens a queue of N (500) pending items, R (7) times after one
   warm-up; per round the time from navigation start until all N items are in the
   page, and until a tap on the last item's checkbox has taken effect (interactive) —
   target ≤ 1 s;
3. live: E (200) approvals through the HTTP API, one after the other, by a second
   approver; for each, the time from the API's answer (the commit happened before it)
   to the moment the item leaves the first approver's rendered queue (a
   MutationObserver in the page; browser and bench share the machine's clock) —
   target p99 ≤ 150 ms.

Writes bench/results/web.json and web_live_latency.png (CDF), prints a summary.

    .venv/bin/python bench/web/run.py [--items 500 --rounds 7 --events 200]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.world import drop, fresh_world  # noqa: E402
from tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS, DIST  # noqa: E402
from tests.factories import PASSWORD  # noqa: E402
from tests.live_helpers import servers  # noqa: E402

from agencyhub.models import load_all_models  # noqa: E402

RESULTS = ROOT / "bench" / "results"
DATABASE = "agencyhub_bench_web"
TARGETS = {"initial_js_gzip_kb": 200, "render_ms": 1000, "live_p99_ms": 150}

# In the page: when each queue item leaves the list, in epoch milliseconds.
WATCH_REMOVALS = """() => {
  window.__removed = {}
  const list = document.querySelector('ol.queue')
  new MutationObserver((mutations) => {
    const at = performance.timeOrigin + performance.now()
    for (const m of mutations) for (const node of m.removedNodes) {
      const article = node.querySelector && node.querySelector('article')
      const id = article && article.getAttribute('aria-labelledby')
      if (id) window.__removed[id.replace('item-', '')] = at
    }
  }).observe(list, { childList: true })
}"""


# Before the app loads: stamp when each live event for a draft reaches the page, so the
# latency splits into the server's part (commit to the socket) and the page's (render).
STAMP_ARRIVALS = """(() => {
  const slot = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage')
  Object.defineProperty(WebSocket.prototype, 'onmessage', {
    get() { return slot.get.call(this) },
    set(handler) {
      slot.set.call(this, (message) => {
        try {
          const data = JSON.parse(message.data)
          if (data.type === 'event' && data.subjectId) {
            (window.__arrived = window.__arrived || {})[data.subjectId] =
              performance.timeOrigin + performance.now()
          }
        } catch (error) {}
        handler(message)
      })
    },
  })
})()"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)


def initial_assets() -> dict[str, float]:
    """The gzipped sizes of the scripts and styles index.html loads at start."""
    index = (DIST / "index.html").read_text(encoding="utf-8")
    sizes = {"js": 0.0, "css": 0.0}
    for src in re.findall(r'(?:src|href)="(/assets/[^"]+\.(?:js|css))"', index):
        data = (DIST / src.lstrip("/")).read_bytes()
        sizes["js" if src.endswith(".js") else "css"] += len(gzip.compress(data, 9)) / 1024
    return {
        "initial_js_gzip_kb": round(sizes["js"], 1),
        "initial_css_gzip_kb": round(sizes["css"], 1),
    }


async def sign_in(http: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    response.raise_for_status()
    http.cookies.set("agencyhub_session", response.cookies["agencyhub_session"])
    return {"x-csrf-token": response.json()["csrfToken"]}


async def pending_items(base_url: str, world: Any, count: int) -> list[dict[str, Any]]:
    client_id = world.clients["a1"].id
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as owner:
        response = await owner.post(
            f"/api/v1/clients/{client_id}/channels",
            json={"platform": "instagram", "handle": "@bench"},
            headers=await sign_in(owner, world.users["a.owner"].email),
        )
        response.raise_for_status()
        channel = response.json()
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        headers = await sign_in(http, world.users["a.editor"].email)
        gate = asyncio.Semaphore(8)

        async def one(n: int) -> dict[str, Any]:
            async with gate:
                draft = (
                    await http.post(
                        f"/api/v1/clients/{client_id}/drafts",
                        json={
                            "kind": "post",
                            "channelId": channel["id"],
                            "body": f"Beitrag {n}: frische Brötchen",
                        },
                        headers=headers,
                    )
                ).json()
                submitted = await http.post(
                    f"/api/v1/drafts/{draft['id']}/submit",
                    json={"version": draft["version"]},
                    headers=headers,
                )
                submitted.raise_for_status()
                return dict(submitted.json())

        return list(await asyncio.gather(*(one(n) for n in range(count))))


async def measure(
    base_url: str, world: Any, items: list[dict[str, Any]], rounds: int, events: int
) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    client_id = world.clients["a1"].id
    queue_url = f"{base_url}/clients/{client_id}/queue"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        # Playwright's wait_for_function evaluates a string, which the app's CSP forbids;
        # the CSP changes nothing about rendering, so the bench's context bypasses it.
        context = await browser.new_context(
            viewport={"width": 375, "height": 812}, locale="en-GB", bypass_csp=True
        )
        await context.add_init_script(STAMP_ARRIVALS)
        page = await context.new_page()
        await page.goto(f"{base_url}/sign-in")
        await page.get_by_label("E-mail").fill(world.users["a1.approver"].email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_selector("ol.queue article")

        render: list[dict[str, float]] = []
        for round_ in range(rounds + 1):  # the first round warms caches up and is dropped
            await page.goto(queue_url)
            await page.wait_for_function(
                f"document.querySelectorAll('ol.queue article').length >= {len(items)}",
                timeout=30_000,
            )
            rendered = await page.evaluate("performance.now()")
            await page.locator("ol.queue article").last.locator("input[type=checkbox]").click()
            await page.wait_for_selector("div.bulk")
            interactive = await page.evaluate("performance.now()")
            if round_:
                render.append(
                    {"rendered_ms": round(rendered, 1), "interactive_ms": round(interactive, 1)}
                )

        await page.goto(queue_url)
        await page.wait_for_function(
            f"document.querySelectorAll('ol.queue article').length >= {len(items)}", timeout=30_000
        )
        await page.wait_for_function("document.querySelector('.live')?.textContent === 'Live'")
        await page.evaluate(WATCH_REMOVALS)
        latencies: list[float] = []
        server_part: list[float] = []
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            headers = await sign_in(http, world.users["a1.executive"].email)
            for item in items[:events]:
                response = await http.post(
                    f"/api/v1/drafts/{item['id']}/decisions",
                    json={"decision": "approve", "version": item["version"]},
                    headers=headers,
                )
                committed = time.time() * 1000
                response.raise_for_status()
                await page.wait_for_function(
                    f"window.__removed['{item['id']}'] !== undefined", timeout=10_000
                )
                removed = await page.evaluate(f"window.__removed['{item['id']}']")
                arrived = await page.evaluate(f"(window.__arrived || {{}})['{item['id']}']")
                latencies.append(round(removed - committed, 2))
                if arrived:
                    server_part.append(round(arrived - committed, 2))
                await asyncio.sleep(0.05)
        await browser.close()
    return {"render": render, "live_ms": latencies, "to_socket_ms": server_part}


def plot(latencies: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(latencies)
    shares = [(i + 1) / len(ordered) for i in range(len(ordered))]
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot(ordered, shares, drawstyle="steps-post")
    axis.axvline(TARGETS["live_p99_ms"], color="red", linestyle="--", label="target p99 150 ms")
    axis.set_xlabel("commit → item gone from the rendered queue (ms)")
    axis.set_ylabel("share of events")
    axis.set_title(f"Live event to screen, {len(ordered)} approvals (headless Chromium)")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--label", default="web")
    args = parser.parse_args()
    if not (DIST / "index.html").is_file():
        raise SystemExit("frontend/dist has no build: run `make web` first")
    load_all_models()
    sizes = initial_assets()
    settings, world = await fresh_world(
        DATABASE, password_hash_time_cost=1, password_hash_memory_kib=1024
    )
    try:
        with tempfile.TemporaryDirectory() as logs:
            env = {"AGENCYHUB_WEB_APP_DIR": str(DIST), "AGENCYHUB_DATABASE_POOL_SIZE": "10"}
            with servers(settings, Path(logs), count=1, env=env) as [server]:
                items = await pending_items(server.base_url, world, args.items)
                results = await measure(
                    server.base_url, world, items, args.rounds, min(args.events, args.items)
                )
    finally:
        await drop(DATABASE)
    render_ms = [r["rendered_ms"] for r in results["render"]]
    interactive_ms = [r["interactive_ms"] for r in results["render"]]
    live = results["live_ms"]
    to_socket = results["to_socket_ms"]
    summary = {
        **sizes,
        "render_ms": {"median": pct(render_ms, 50), "max": max(render_ms)},
        "interactive_ms": {"median": pct(interactive_ms, 50), "max": max(interactive_ms)},
        "live_ms": {
            "p50": pct(live, 50),
            "p95": pct(live, 95),
            "p99": pct(live, 99),
            "max": max(live),
        },
        "commit_to_socket_ms": {
            "p50": pct(to_socket, 50),
            "p99": pct(to_socket, 99),
        },
    }
    report = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "items": args.items,
        "events": len(live),
        "targets": TARGETS,
        "summary": summary,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "rounds": results["render"],
        "live_ms": live,
        "commit_to_socket_ms": to_socket,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.label}.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(live, RESULTS / f"{args.label}_live_latency.png")
    print(json.dumps(summary, indent=2))
    print(f"wrote bench/results/{args.label}.json and {args.label}_live_latency.png")


if __name__ == "__main__":
    asyncio.run(main())
