"""Browser tests: Debian's Chromium driven by Playwright (no browser download), against
real `agencyhub serve` processes on PostgreSQL and Redis, serving the built web app."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import redis
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from agencyhub.config import Settings
from tests.conftest import REPO_ROOT
from tests.factories import PASSWORD
from tests.live_helpers import REDIS_URL, Server

CHROMIUM = os.environ.get("AGENCYHUB_TEST_CHROMIUM", "/usr/bin/chromium")
DIST = REPO_ROOT / "frontend" / "dist"
SCREENSHOTS = Path(
    os.environ.get("AGENCYHUB_TEST_SCREENSHOTS", REPO_ROOT / "test-output" / "screenshots")
)
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 860}
# Without the background-networking flags Chromium keeps calling home, and this
# machine's closed network refuses it many times a second.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
SIGN_IN = {
    "en": ("E-mail", "Password", "Sign in"),
    "de": ("E-Mail", "Passwort", "Anmelden"),
}


def web_app_env() -> dict[str, str]:
    """The server's environment for serving the build (the build must exist), with a
    broker namespace of its own, so no other test's worker takes its messages."""
    if not (DIST / "index.html").is_file():
        raise RuntimeError(f"{DIST} has no build: run `make web` first (make test does)")
    return {
        "AGENCYHUB_WEB_APP_DIR": str(DIST),
        "AGENCYHUB_BROKER_NAMESPACE": f"agencyhub-browser-{secrets.token_hex(4)}",
    }


@contextmanager
def background_worker(settings: Settings, env: dict[str, str], log_path: Path) -> Iterator[None]:
    """`agencyhub worker` on the servers' database, Redis and broker namespace; its
    keys are deleted afterwards."""
    command = [str(Path(sys.executable).with_name("agencyhub")), "worker", "--threads", "2"]
    full_env = {
        **os.environ,
        "AGENCYHUB_ENVIRONMENT": "test",
        "AGENCYHUB_DATABASE_URL": settings.database_url,
        "AGENCYHUB_REDIS_URL": REDIS_URL,
        "AGENCYHUB_LOG_LEVEL": "WARNING",
        **env,
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(f"{env['AGENCYHUB_BROKER_NAMESPACE']}:*"))
        if keys:
            client.delete(*keys)
        client.close()


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def person(
    browser: Browser,
    server: Server,
    email: str,
    *,
    language: str = "en",
    phone: bool = False,
    bypass_csp: bool = False,
) -> Page:
    """A new browser context for ``email`` (its own cookies), signed in through the form.

    Script errors and Content-Security-Policy violations are collected (see
    :func:`page_errors`); ``bypass_csp`` only for injecting axe-core.
    """
    context: BrowserContext = await browser.new_context(
        viewport=PHONE if phone else DESKTOP,
        locale="de-DE" if language == "de" else "en-GB",
        timezone_id="Europe/Berlin",
        bypass_csp=bypass_csp,
    )
    page = await context.new_page()
    page.set_default_timeout(10_000)
    errors = _PAGE_ERRORS.setdefault(page, [])
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    email_label, password_label, button = SIGN_IN[language]
    await page.goto(f"{server.base_url}/sign-in")
    await page.get_by_label(email_label).fill(email)
    await page.get_by_label(password_label).fill(PASSWORD)
    await page.get_by_role("button", name=button).click()
    await expect(page.get_by_role("button", name=SIGN_OUT[language])).to_be_visible()
    return page


SIGN_OUT = {"en": "Sign out", "de": "Abmelden"}
_PAGE_ERRORS: weakref.WeakKeyDictionary[Page, list[str]] = weakref.WeakKeyDictionary()


def page_errors(page: Page) -> list[str]:
    """Uncaught script errors of a page opened with :func:`person`."""
    return _PAGE_ERRORS.get(page, [])


def _screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


async def screenshot(page: Page, name: str) -> Path:
    path = _screenshot_path(name)
    await page.screenshot(path=str(path), full_page=False)
    return path


async def live(page: Page) -> None:
    """Wait until the page's live connection is up (its header says so)."""
    await expect(page.locator(".live")).to_have_text("Live")


AXE = REPO_ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = frozenset({"serious", "critical"})


async def accessibility_problems(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now (WCAG 2.1 AA
    rules); the page's context must bypass the CSP for the injected script."""
    await page.add_script_tag(path=str(AXE))
    rules = "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']"
    result = await page.evaluate(f"axe.run(document, {{runOnly: {rules}}})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]
