"""An invitation link in real Chromium: a new person opens it on a phone, chooses a
name and password, and lands in the client's approval queue signed in; a used link
then says so instead of offering the form again."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser_helpers import PHONE, accessibility_problems, chromium, screenshot, web_app_env
from tests.factories import make_world
from tests.live_helpers import api, login, servers


async def test_a_new_approver_accepts_the_invitation_and_lands_in_the_queue(
    pg, postgres_database, passwords, tmp_path
):
    world = await make_world(pg, passwords)
    a1 = world.clients["a1"].id
    with servers(postgres_database.settings, tmp_path, count=1, env=web_app_env()) as [server]:
        admin = await login(server, world.users["a1.client_admin"].email)
        created = await api(
            server,
            admin,
            "POST",
            f"/api/v1/clients/{a1}/invitations",
            json={"email": "anna.neu@example.com", "role": "approver"},
        )
        link = created["acceptUrl"]
        assert link.startswith(server.base_url + "/invitations/")
        async with chromium() as browser:
            context = await browser.new_context(viewport=PHONE, locale="de-DE", bypass_csp=True)
            page = await context.new_page()
            await page.goto(link)
            await expect(page.get_by_text("Sie sind als Freigabe bei")).to_be_visible()
            assert await accessibility_problems(page) == []
            await screenshot(page, "invitation-phone-de")
            await page.get_by_label("Ihr Name").fill("Anna Neu")
            await page.get_by_label("Passwort wählen").fill("ein langes Passwort 2026")
            await page.get_by_role("button", name="Annehmen").click()
            await expect(page.get_by_role("heading", name="Freigabe-Warteschlange")).to_be_visible()
            await expect(page).to_have_url(f"{server.base_url}/clients/{a1}/queue")

            again = await (await browser.new_context(viewport=PHONE)).new_page()
            await again.goto(link)
            await expect(again.get_by_role("alert")).to_be_visible()
            await expect(again.get_by_role("button", name="Accept")).to_have_count(0)
