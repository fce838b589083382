"""The client's settings in real Chromium, as a client admin and an executive on a
phone: people and roles, the SLA policy, the emergency plan with an approved holding
statement as its fallback, a stand-in for the approver's holiday, the duty calendar
link and the crisis switch — each section accessible (axe-core) and 375 px wide."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser_helpers import (
    accessibility_problems,
    chromium,
    page_errors,
    person,
    screenshot,
    web_app_env,
)
from tests.factories import grant, make_user, make_world
from tests.live_helpers import api, login, servers


async def _section(page: Page, base: str, client_id: object, section: str) -> None:
    await page.goto(f"{base}/clients/{client_id}/settings/{section}")
    await expect(page.locator("main h2").first).to_be_visible()


async def _fits(page: Page, name: str) -> None:
    assert await accessibility_problems(page) == [], name
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375, name
    await screenshot(page, name)


async def test_a_client_admin_and_an_executive_set_up_the_emergency_path(
    pg, postgres_database, passwords, tmp_path
):
    world = await make_world(pg, passwords)
    a1 = world.clients["a1"].id
    second = await make_user(pg, passwords, "a1.approver2@example.com")
    await grant(pg, second, world.agencies["a"], "approver", world.clients["a1"])
    with servers(postgres_database.settings, tmp_path, count=1, env=web_app_env()) as [server]:
        base = server.base_url
        owner = await login(server, world.users["a.owner"].email)
        await api(
            server,
            owner,
            "POST",
            f"/api/v1/clients/{a1}/templates",
            json={"name": "Wir prüfen", "body": "Danke, wir prüfen das und melden uns."},
        )
        async with chromium() as browser:
            executive = await person(
                browser, server, world.users["a1.executive"].email, phone=True, bypass_csp=True
            )
            await _section(executive, base, a1, "templates")
            card = executive.get_by_test_id("templates").locator("li").filter(has_text="Wir prüfen")
            await card.get_by_role("button", name="Approve").click()
            await expect(card.get_by_text("approved")).to_be_visible()
            await _fits(executive, "settings-templates-phone-en")

            admin = await person(
                browser, server, world.users["a1.client_admin"].email, phone=True, bypass_csp=True
            )
            await _section(admin, base, a1, "people")
            await expect(admin.get_by_test_id("people")).to_contain_text(
                world.users["a1.approver"].email
            )
            await _fits(admin, "settings-people-phone-en")

            await _section(admin, base, a1, "policy")
            normal = admin.locator("fieldset").filter(has_text="Normal")
            # A policy the client's people cannot meet is refused, saying why.
            # Only approvers for normal items: the executive's way goes.
            await normal.get_by_role("button", name="Remove").last.click()
            await normal.get_by_label("Approver (how many)").first.fill("3")
            await admin.get_by_role("button", name="Save").click()
            await expect(admin.get_by_role("alert")).to_contain_text(
                "needs 3 approvers, but the client has 2 approvers who can decide"
            )
            await normal.get_by_label("Approver (how many)").first.fill("2")
            await admin.get_by_role("button", name="Save").click()
            await expect(admin.get_by_text("Saved.")).to_be_visible()
            await _fits(admin, "settings-policy-phone-en")

            # Removing one of the two approvers the policy needs warns first.
            await _section(admin, base, a1, "people")
            row = admin.get_by_test_id("people").locator("li").filter(has_text=second.email)
            await row.get_by_role("button", name="Remove").click()
            await expect(admin.get_by_role("alert")).to_contain_text(
                "This change would leave the approval policy impossible (Normal: needs 2"
                " approvers, but the client has 1 approver who can decide)."
            )
            await _fits(admin, "settings-people-policy-warning-phone-en")
            await admin.get_by_role("button", name="Change anyway").click()
            await expect(admin.get_by_test_id("people")).not_to_contain_text(second.email)

            await _section(admin, base, a1, "sla")
            await admin.get_by_label("Crisis (minutes)").fill("10")
            await admin.get_by_role("button", name="Save").click()
            await expect(admin.get_by_text("Saved.")).to_be_visible()
            await _fits(admin, "settings-sla-phone-en")

            await _section(admin, base, a1, "plan")
            await admin.get_by_role("button", name="Add a step").click()
            await admin.get_by_label("Then, if still nobody decided").select_option(
                "publish_template"
            )
            await admin.get_by_label("Statement to publish").select_option(label="Wir prüfen")
            await admin.get_by_role("button", name="Save").click()
            await expect(admin.get_by_text("Saved.")).to_be_visible()
            await _fits(admin, "settings-plan-phone-en")

            # Who stands in when the approver is on holiday.
            await _section(admin, base, a1, "rota")
            executive_name = world.users["a1.executive"].name or world.users["a1.executive"].email
            approver_name = world.users["a1.approver"].name or world.users["a1.approver"].email
            await admin.get_by_role("button", name="Add a layer").click()
            layer = admin.locator("fieldset").filter(has_text="Layer 1")
            await layer.get_by_label(approver_name, exact=True).check()
            await layer.get_by_label(executive_name, exact=True).check()
            await admin.get_by_role("button", name="Save").click()
            await expect(admin.get_by_text("Saved.")).to_be_visible()
            await admin.get_by_label("Stand-in").select_option(label=executive_name)
            await admin.get_by_label("Instead of").select_option(label=approver_name)
            await admin.get_by_label("From").last.fill("2027-07-01T08:00")
            await admin.get_by_label("Until").last.fill("2027-07-15T18:00")
            await admin.get_by_role("button", name="Add stand-in").click()
            overrides = admin.get_by_test_id("overrides")
            await expect(overrides).to_contain_text(
                f"{executive_name} stands in for {approver_name}"
            )
            await _fits(admin, "settings-rota-phone-en")

            await _section(executive, base, a1, "duty")
            await executive.get_by_role("button", name="Create my calendar link").click()
            await expect(executive.get_by_test_id("feed-url")).to_contain_text(".ics")
            await executive.get_by_label("Why (shown to everyone)").fill("Shitstorm Nusszopf")
            await executive.get_by_role("button", name="Declare crisis mode").click()
            await expect(executive.locator(".banner.crisis")).to_contain_text("Shitstorm Nusszopf")
            await _fits(executive, "settings-duty-phone-en")
            await executive.goto(f"{base}/clients/{a1}/queue")
            await expect(executive.get_by_role("alert")).to_contain_text("Shitstorm Nusszopf")

            for page in (admin, executive):
                assert page_errors(page) == []

        plan = await api(server, owner, "GET", f"/api/v1/clients/{a1}/emergency-plan")
        assert plan["steps"][-1]["fallback"]["action"] == "publish_template"
        policy = await api(server, owner, "GET", f"/api/v1/clients/{a1}/approval-policy")
        assert policy["normal"][0] == {"approver": 2}
        sla = await api(server, owner, "GET", f"/api/v1/clients/{a1}/sla-policy")
        assert sla["targets"]["crisis"]["minutes"] == 10


async def test_an_approver_reads_the_settings_but_cannot_change_them(
    pg, postgres_database, passwords, tmp_path
):
    world = await make_world(pg, passwords)
    a1 = world.clients["a1"].id
    with servers(postgres_database.settings, tmp_path, count=1, env=web_app_env()) as [server]:
        async with chromium() as browser:
            approver = await person(browser, server, world.users["a1.approver"].email, phone=True)
            for section in ("people", "policy", "sla", "plan"):
                await _section(approver, server.base_url, a1, section)
                await expect(approver.get_by_role("button", name="Save")).to_have_count(0)
                await expect(approver.get_by_role("button", name="Remove")).to_have_count(0)
            await _section(approver, server.base_url, a1, "duty")
            await expect(approver.get_by_role("button", name="Declare crisis mode")).to_have_count(
                0
            )
