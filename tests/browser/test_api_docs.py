"""The API docs page in real Chromium, on a machine without internet (issue #13, item
9): Swagger UI comes from the app's own build, under a same-origin CSP, and shows every
operation of the document."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser_helpers import chromium, screenshot, web_app_env
from tests.live_helpers import servers


async def test_the_api_docs_render_offline_from_the_apps_own_files(postgres_database, tmp_path):
    with servers(postgres_database.settings, tmp_path, count=1, env=web_app_env()) as [server]:
        async with chromium() as browser:
            page = await browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            await page.goto(f"{server.base_url}/schema")
            await expect(page.get_by_text("AgencyHub API")).to_be_visible()
            await expect(page.locator(".opblock").first).to_be_visible()
            assert await page.locator(".opblock").count() > 60
            await screenshot(page, "api-docs-desktop")
            assert [url for url in requested if not url.startswith(server.base_url)] == []
            assert problems == []
