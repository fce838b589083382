"""The client keeps authority over its people (issue #13, item 3), in real Chromium on a
375 px phone: the agency owner (English) may invite only a new client's first admin, to
the client's own domain, and gets no link; the first admin (German) finds it in her
mailbox, invites a colleague, and the colleague confirms her membership. At a client
that has an admin, the agency only reads the people list."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser_helpers import (
    PHONE,
    accessibility_problems,
    chromium,
    page_errors,
    person,
    screenshot,
    web_app_env,
)
from tests.factories import make_world, set_verified_domains
from tests.helpers import outbox_link
from tests.live_helpers import api, login, servers


async def _fits(page: Page, name: str) -> None:
    assert await accessibility_problems(page) == [], name
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375, name
    await screenshot(page, name)


async def _accept(browser: object, link: str, name: str, password: str) -> Page:
    context = await browser.new_context(viewport=PHONE, locale="de-DE", bypass_csp=True)  # type: ignore[attr-defined]
    page: Page = await context.new_page()
    await page.goto(link)
    await page.get_by_label("Ihr Name").fill(name)
    await page.get_by_label("Passwort wählen").fill(password)
    await page.get_by_role("button", name="Annehmen").click()
    await expect(page.get_by_role("heading", name="Freigabe-Warteschlange")).to_be_visible()
    return page


async def test_the_agency_invites_only_the_first_admin_and_the_client_confirms_her(
    pg, postgres_database, passwords, tmp_path
):
    world = await make_world(pg, passwords)
    with servers(postgres_database.settings, tmp_path, count=1, env=web_app_env()) as [server]:
        base = server.base_url
        owner_login = await login(server, world.users["a.owner"].email)
        fresh = await api(
            server,
            owner_login,
            "POST",
            f"/api/v1/agencies/{world.agencies['a'].id}/clients",
            json={"slug": "kunde", "name": "Kunde GmbH"},
        )
        await set_verified_domains(pg, fresh["id"], ["kunde.example"])
        async with chromium() as browser:
            owner = await person(
                browser, server, world.users["a.owner"].email, phone=True, bypass_csp=True
            )
            await owner.goto(f"{base}/clients/{fresh['id']}/settings/people")
            await expect(owner.get_by_test_id("first-admin-rule")).to_contain_text("kunde.example")
            # The agency invites the first admin only: no role to choose.
            await expect(owner.get_by_label("Role", exact=True)).to_have_count(0)
            await owner.get_by_label("E-mail").fill("puppet@agentur.example")
            await owner.get_by_role("button", name="Send invitation").click()
            await expect(owner.get_by_role("alert")).to_contain_text("kunde.example")
            await owner.get_by_label("E-mail").fill("it@kunde.example")
            await owner.get_by_role("button", name="Send invitation").click()
            await expect(owner.locator("p.notice[role=status]")).to_contain_text(
                "Invitation sent to it@kunde.example. Only that address receives the link."
            )
            await expect(owner.locator("code")).to_have_count(0)
            await _fits(owner, "first-admin-invite-phone-en")

            first = await _accept(
                browser,
                outbox_link(tmp_path / "outbox", "it@kunde.example"),
                "Ida Tanner",
                "erstes Admin-Passwort 2026",
            )
            await first.goto(f"{base}/clients/{fresh['id']}/settings/people")
            await expect(first.get_by_test_id("agency-made")).to_have_text(
                "Von der Agentur eingeladen · nicht bestätigt"
            )
            await expect(first.get_by_role("button", name="Bestätigen")).to_have_count(0)
            await expect(first.get_by_role("heading", name="Jemanden einladen")).to_be_visible()
            await first.get_by_label("E-Mail").fill("chef@kunde.example")
            invite_form = first.locator(
                "form", has=first.get_by_role("button", name="Einladung senden")
            )
            await invite_form.locator("select").select_option("client_admin")
            await first.get_by_role("button", name="Einladung senden").click()
            link = await first.locator("p.notice[role=status] code").inner_text()

            second = await _accept(browser, link, "Carl Huber", "zweites Admin-Passwort 26")
            await second.goto(f"{base}/clients/{fresh['id']}/settings/people")
            await second.get_by_role("button", name="Bestätigen").click()
            await expect(second.get_by_test_id("agency-made")).to_have_text(
                "Von der Agentur eingeladen · bestätigt"
            )
            await _fits(second, "people-confirmed-phone-de")

            await owner.goto(f"{base}/clients/{world.clients['a1'].id}/settings/people")
            await expect(owner.get_by_test_id("client-manages-people")).to_be_visible()
            await expect(owner.get_by_role("button", name="Send invitation")).to_have_count(0)
            await expect(owner.get_by_role("button", name="Remove")).to_have_count(0)
            await _fits(owner, "people-read-only-phone-en")
            for page in (owner, first, second):
                assert page_errors(page) == []
