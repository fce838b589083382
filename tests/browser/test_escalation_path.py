"""The emergency path in real Chromium, with a real `agencyhub worker` on Redis: a crisis
reply nobody decides within the client's one-minute SLA escalates, the plan publishes
the holding statement the client approved, and the editor's open draft page shows the
steps and the fallback in its timeline without a reload; the item leaves the queue."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser_helpers import (
    background_worker,
    chromium,
    live,
    page_errors,
    person,
    screenshot,
    web_app_env,
)
from tests.factories import make_world
from tests.live_helpers import api, login, servers

HOLDING = "Wir haben Ihren Hinweis erhalten und prüfen ihn mit Hochdruck."


async def test_a_crisis_reply_nobody_decides_is_escalated_and_the_fallback_shows_live(
    pg, postgres_database, passwords, tmp_path
):
    world = await make_world(pg, passwords)
    a1 = world.clients["a1"].id
    env = web_app_env()
    settings = postgres_database.settings
    with (
        servers(settings, tmp_path, count=1, env=env) as [server],
        background_worker(settings, env, tmp_path / "worker.log"),
    ):
        owner = await login(server, world.users["a.owner"].email)
        channel = await api(
            server,
            owner,
            "POST",
            f"/api/v1/clients/{a1}/channels",
            json={"platform": "instagram", "handle": "@baeckerei"},
        )
        await api(
            server,
            owner,
            "POST",
            f"/api/v1/clients/{a1}/inbound-items",
            json={
                "channelId": channel["id"],
                "externalId": "ig-crisis",
                "kind": "comment",
                "body": "Nach eurem Nusszopf musste mein Sohn in die Notaufnahme!",
                "severity": "crisis",
            },
        )
        template = await api(
            server,
            owner,
            "POST",
            f"/api/v1/clients/{a1}/templates",
            json={"name": "Wir prüfen", "body": HOLDING},
        )
        executive = await login(server, world.users["a1.executive"].email)
        await api(server, executive, "POST", f"/api/v1/templates/{template['id']}/approve")
        admin = await login(server, world.users["a1.client_admin"].email)
        targets = {
            "normal": {"minutes": 240, "businessHoursOnly": True},
            "high": {"minutes": 60, "businessHoursOnly": False},
            "crisis": {"minutes": 1, "businessHoursOnly": False},
        }
        await api(
            server, admin, "PUT", f"/api/v1/clients/{a1}/sla-policy", json={"targets": targets}
        )
        plan = {
            "steps": [
                {"afterMinutes": 0, "notify": ["on_duty"]},
                {
                    "afterMinutes": 0,
                    "notify": ["executives"],
                    "fallback": {
                        "action": "publish_template",
                        "templateId": template["id"],
                        "waitMinutes": 0,
                    },
                },
            ]
        }
        await api(server, admin, "PUT", f"/api/v1/clients/{a1}/emergency-plan", json=plan)

        async with chromium() as browser:
            approver = await person(browser, server, world.users["a1.approver"].email, phone=True)
            await live(approver)
            editor = await person(browser, server, world.users["a.editor"].email)
            await editor.goto(f"{server.base_url}/clients/{a1}/inbox")
            await editor.get_by_role("link", name="Reply").click()
            await editor.get_by_label("Text", exact=True).fill("Das tut uns sehr leid.")
            await editor.get_by_role("button", name="Submit for approval").click()
            await expect(editor.get_by_test_id("draft-status")).to_have_text("Waiting for approval")
            await live(editor)
            card = approver.locator("article").filter(has_text="Das tut uns sehr leid.")
            await expect(card).to_be_visible()

            # Nobody decides: one minute later the plan runs, live on both screens.
            timeline = editor.get_by_test_id("timeline")
            await expect(timeline).to_contain_text(
                "Emergency plan published the holding statement", timeout=120_000
            )
            await expect(timeline).to_contain_text("Escalated")
            await expect(editor.get_by_test_id("draft-status")).to_have_text("Fallback taken")
            await expect(card).to_have_count(0)
            # The draft shows what went out, in place of a decision (issue #14, item 4).
            fallback = editor.get_by_test_id("fallback")
            await expect(fallback).to_contain_text(HOLDING)
            await expect(fallback).to_contain_text(
                "Holding statement published by emergency plan step 2"
            )
            await expect(fallback).to_contain_text("Client-approved template: Wir prüfen")
            await screenshot(editor, "draft-fallback-desktop-en")
            # ... and the approver, who was paged, hears the outcome in their language.
            await approver.goto(f"{server.base_url}/notifications")
            await expect(approver.locator("main")).to_contain_text("Haltestatement veröffentlicht")
            await expect(approver.locator("main")).to_contain_text(HOLDING)
            await screenshot(approver, "notifications-fallback-phone-en")
            assert page_errors(editor) == []
            assert page_errors(approver) == []
