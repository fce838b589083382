"""The approval round trip in real headless Chromium: an agency editor (desktop,
English) answers an inbound comment, the client's approver (375 px phone, German) sees
it arrive in the open queue without reloading and approves it, and the editor's draft
page turns to approved without reloading. Plus: two approvers deciding the same item."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from tests.browser_helpers import (
    chromium,
    live,
    page_errors,
    person,
    screenshot,
    web_app_env,
)
from tests.factories import PASSWORD, make_world
from tests.live_helpers import Login, Server, api, login, servers

REPLY = "Liebe Frau Meyer, danke für den Hinweis – wir prüfen das sofort."


async def _comment(server: Server, owner: Login, client_id: Any) -> dict[str, Any]:
    channel = await api(
        server,
        owner,
        "POST",
        f"/api/v1/clients/{client_id}/channels",
        json={"platform": "instagram", "handle": "@baeckerei", "displayName": "Bäckerei"},
    )
    return dict(
        await api(
            server,
            owner,
            "POST",
            f"/api/v1/clients/{client_id}/inbound-items",
            json={
                "channelId": channel["id"],
                "externalId": "ig-1",
                "kind": "comment",
                "body": "Warum stand beim Nusszopf nichts von Haselnüssen?",
                "authorName": "Julia Meyer",
                "authorHandle": "@julia.meyer",
                "severity": "high",
            },
        )
    )


async def _reply_from_the_inbox(editor: Page, server: Server, client_id: Any) -> None:
    await editor.goto(f"{server.base_url}/clients/{client_id}/inbox")
    await editor.get_by_role("link", name="Reply").click()
    await editor.get_by_label("Text", exact=True).fill(REPLY)
    await editor.get_by_role("button", name="Submit for approval").click()
    await expect(editor.get_by_test_id("draft-status")).to_have_text("Waiting for approval")


async def test_a_reply_reaches_the_approvers_phone_and_its_approval_the_editor_live(
    pg, postgres_database, passwords, tmp_path
):
    world = await make_world(pg, passwords)
    a1 = world.clients["a1"].id
    with servers(postgres_database.settings, tmp_path, count=1, env=web_app_env()) as [server]:
        owner = await login(server, world.users["a.owner"].email)
        await _comment(server, owner, a1)
        async with chromium() as browser:
            approver = await person(
                browser, server, world.users["a1.approver"].email, language="de", phone=True
            )
            await expect(
                approver.get_by_role("heading", name="Freigabe-Warteschlange")
            ).to_be_visible()
            await expect(approver.get_by_text("Nichts wartet auf Sie")).to_be_visible()
            await live(approver)
            editor = await person(browser, server, world.users["a.editor"].email)
            await live(editor)
            await _reply_from_the_inbox(editor, server, a1)

            # It arrives on the phone without a reload, beside the comment it answers.
            card = approver.locator("article").filter(has_text=REPLY)
            await expect(card).to_be_visible()
            await expect(card.get_by_text("Warum stand beim Nusszopf")).to_be_visible()
            await expect(card.get_by_text("Hoch")).to_be_visible()
            await screenshot(approver, "queue-phone-de")
            assert await approver.evaluate("document.documentElement.scrollWidth") <= 375

            await card.get_by_role("button", name="Freigeben").click()
            await expect(card).to_have_count(0)
            await expect(approver.get_by_text("Nichts wartet auf Sie")).to_be_visible()
            # The editor's open draft page follows without a reload.
            await expect(editor.get_by_test_id("draft-status")).to_have_text("Approved")
            await expect(editor.get_by_test_id("timeline")).to_contain_text("Approved")
            await screenshot(editor, "draft-desktop-en")
            assert page_errors(editor) == []
            assert page_errors(approver) == []


async def test_the_second_of_two_approvers_is_told_and_offered_a_reload(
    pg, postgres_database, passwords, tmp_path
):
    world = await make_world(pg, passwords)
    a1 = world.clients["a1"].id
    with servers(postgres_database.settings, tmp_path, count=1, env=web_app_env()) as [server]:
        owner = await login(server, world.users["a.owner"].email)
        await _comment(server, owner, a1)
        async with chromium() as browser:
            editor = await person(browser, server, world.users["a.editor"].email)
            await _reply_from_the_inbox(editor, server, a1)
            first = await person(browser, server, world.users["a1.approver"].email, phone=True)
            # The second approver's page has lost its live feed (a train tunnel), so it
            # still shows the item after the first approver decided it.
            second_context = await browser.new_context(viewport={"width": 375, "height": 812})
            await second_context.route_web_socket("**/api/v1/live*", lambda ws: None)
            second = await second_context.new_page()
            await second.goto(f"{server.base_url}/sign-in")
            await second.get_by_label("E-mail").fill(world.users["a1.executive"].email)
            await second.get_by_label("Password").fill(PASSWORD)
            await second.get_by_role("button", name="Sign in").click()
            stale = second.locator("article").filter(has_text=REPLY)
            await expect(stale).to_be_visible()

            await (
                first.locator("article")
                .filter(has_text=REPLY)
                .get_by_role("button", name="Approve")
                .click()
            )
            await expect(first.locator("article").filter(has_text=REPLY)).to_have_count(0)

            await stale.get_by_role("button", name="Approve").click()
            alert = stale.get_by_role("alert")
            await expect(alert).to_contain_text("Someone else changed this item")
            await screenshot(second, "queue-conflict-phone-en")
            await stale.get_by_role("button", name="Reload the item").click()
            await expect(stale).to_have_count(0)
