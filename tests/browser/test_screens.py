"""Every main screen in real Chromium: no serious accessibility problem (axe-core),
fits a 375 px phone, works under the CSP, in German and English; notifications arrive
live and are marked read; the audit trail filters and downloads its CSV; the choice
of language is remembered; the app installs (manifest, service worker) without ever
caching an API answer."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.async_api import Page, expect
from sqlalchemy import delete

from agencyhub.audit.record import record_event
from agencyhub.db import Scope, transaction
from agencyhub.escalation.models import Notification
from agencyhub.tenancy.models import UserSession
from tests.browser_helpers import (
    PHONE,
    SIGN_IN,
    accessibility_problems,
    chromium,
    live,
    page_errors,
    person,
    screenshot,
    web_app_env,
)
from tests.factories import PASSWORD, World, make_world
from tests.live_helpers import Login, Server, api, login, servers


async def _content(server: Server, owner: Login, client_id: Any) -> dict[str, Any]:
    """A channel, a comment and a pending reply with two wordings."""
    channel = await api(
        server,
        owner,
        "POST",
        f"/api/v1/clients/{client_id}/channels",
        json={"platform": "facebook", "handle": "@stadtwerke", "displayName": "Stadtwerke"},
    )
    item = await api(
        server,
        owner,
        "POST",
        f"/api/v1/clients/{client_id}/inbound-items",
        json={
            "channelId": channel["id"],
            "externalId": "fb-7",
            "kind": "comment",
            "body": "Seit zwei Stunden kein Strom in der Südstadt!",
            "authorName": "Tom Becker",
            "authorHandle": "@tbecker",
            "severity": "crisis",
        },
    )
    draft = await api(
        server,
        owner,
        "POST",
        f"/api/v1/clients/{client_id}/drafts",
        json={
            "kind": "reply",
            "inboundItemId": item["id"],
            "body": "Wir arbeiten mit Hochdruck an der Störung.",
            "alternatives": ["Danke für den Hinweis, die Störung ist bekannt."],
            "rationale": "Schnell und ruhig antworten.",
        },
    )
    await api(server, owner, "POST", f"/api/v1/drafts/{draft['id']}/submit", json={"version": 1})
    return {"channel": channel, "item": item, "draft": draft}


async def _check(page: Page, name: str, phone: bool = True) -> None:
    assert await accessibility_problems(page) == [], name
    if phone:
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{name} is {width} px wide"
    await screenshot(page, name)


async def _notify(db: Any, world: World, user_key: str, client_key: str, title: str) -> None:
    """What an escalation step does: a notification and its event, in one transaction."""
    client = world.clients[client_key]
    async with transaction(db.sessions, Scope.for_system("tests")) as session:
        subject = uuid.uuid4()
        session.add(
            Notification(
                agency_id=client.agency_id,
                client_id=client.id,
                user_id=world.user_id(user_key),
                kind="escalation.step",
                subject_type="draft",
                subject_id=subject,
                title=title,
            )
        )
        await record_event(
            session,
            type="draft.escalated",
            agency_id=client.agency_id,
            client_id=client.id,
            subject_type="draft",
            subject_id=subject,
            actor_user_id=None,
            actor_kind="system",
            payload={"step": 2},
        )


async def test_every_main_screen_is_accessible_and_fits_a_phone(
    pg, postgres_database, passwords, tmp_path
):
    world = await make_world(pg, passwords)
    a1 = world.clients["a1"].id
    with servers(postgres_database.settings, tmp_path, count=1, env=web_app_env()) as [server]:
        owner = await login(server, world.users["a.owner"].email)
        content = await _content(server, owner, a1)
        await _notify(pg, world, "a1.approver", "a1", "Eskalation: Stufe 2")
        async with chromium() as browser:
            approver = await person(
                browser,
                server,
                world.users["a1.approver"].email,
                language="de",
                phone=True,
                bypass_csp=True,
            )
            card = approver.locator("article").filter(has_text="Wir arbeiten mit Hochdruck")
            await expect(card.get_by_text("Krise")).to_be_visible()
            await expect(card.get_by_text("Seit zwei Stunden kein Strom")).to_be_visible()
            await _check(approver, "queue-crisis-phone-de")
            await approver.get_by_role("link", name="1 ungelesene Benachrichtigung").click()
            await expect(approver.get_by_text("Eskalation: Stufe 2")).to_be_visible()
            await _check(approver, "notifications-phone-de")
            await approver.goto(f"{server.base_url}/clients/{a1}/audit")
            await expect(approver.get_by_test_id("audit")).to_contain_text("draft.submitted")
            await _check(approver, "audit-phone-de")

            editor = await person(
                browser, server, world.users["a.editor"].email, phone=True, bypass_csp=True
            )
            await editor.goto(f"{server.base_url}/agencies/{world.clients['a1'].agency_id}")
            await expect(editor.get_by_text("1 pending")).to_be_visible()
            await _check(editor, "agency-clients-phone-en")
            await editor.goto(f"{server.base_url}/clients/{a1}/inbox")
            await expect(editor.get_by_text("Seit zwei Stunden kein Strom")).to_be_visible()
            await _check(editor, "inbox-phone-en")
            await editor.get_by_role("link", name="Reply").click()
            await editor.get_by_label("Text", exact=True).fill("Die Techniker sind unterwegs.")
            await expect(editor.get_by_text("29 /")).to_be_visible()  # the character count
            await _check(editor, "composer-phone-en")
            await editor.goto(f"{server.base_url}/drafts/{content['draft']['id']}")
            await expect(editor.get_by_test_id("draft-status")).to_have_text("Waiting for approval")
            await _check(editor, "draft-phone-en")
            await editor.goto(f"{server.base_url}/sign-in")
            await _check(editor, "sign-in-phone-en")
            assert page_errors(approver) == []
            assert page_errors(editor) == []


async def test_a_notification_arrives_live_and_is_marked_read(
    pg, postgres_database, passwords, tmp_path
):
    world = await make_world(pg, passwords)
    with servers(postgres_database.settings, tmp_path, count=1, env=web_app_env()) as [server]:
        async with chromium() as browser:
            approver = await person(browser, server, world.users["a1.approver"].email)
            await live(approver)
            await expect(
                approver.get_by_role("link", name="0 unread notifications")
            ).to_be_visible()
            await _notify(pg, world, "a1.approver", "a1", "Reminder: due in 15 minutes")
            badge = approver.get_by_role("link", name="1 unread notification")
            await expect(badge).to_be_visible()  # without a reload
            await badge.click()
            await approver.get_by_role("button", name="Mark read").click()
            await expect(approver.get_by_text("No notifications.")).to_be_visible()
            await expect(
                approver.get_by_role("link", name="0 unread notifications")
            ).to_be_visible()
            assert page_errors(approver) == []


async def test_the_audit_trail_filters_and_downloads_every_match_as_csv(
    pg, postgres_database, passwords, tmp_path
):
    world = await make_world(pg, passwords)
    a1 = world.clients["a1"].id
    with servers(postgres_database.settings, tmp_path, count=1, env=web_app_env()) as [server]:
        owner = await login(server, world.users["a.owner"].email)
        await _content(server, owner, a1)
        async with chromium() as browser:
            admin = await person(browser, server, world.users["a1.client_admin"].email)
            await admin.goto(f"{server.base_url}/clients/{a1}/audit")
            table = admin.get_by_test_id("audit")
            await expect(table).to_contain_text("inbound_item")
            await admin.get_by_label("Event type").fill("draft.*")
            await admin.get_by_role("button", name="Apply").click()
            await expect(table).not_to_contain_text("inbound_item")
            await expect(table).to_contain_text("draft.submitted")
            async with admin.expect_download() as download:
                await admin.get_by_role("button", name="Download CSV").click()
            path = await (await download.value).path()
            lines = path.read_text(encoding="utf-8").splitlines()
            assert "type" in lines[0]
            assert any("draft.submitted" in line for line in lines[1:])
            assert not any("inbound_item.received" in line for line in lines[1:])
            assert page_errors(admin) == []


async def test_the_language_choice_is_remembered(pg, postgres_database, passwords, tmp_path):
    world = await make_world(pg, passwords)
    with servers(postgres_database.settings, tmp_path, count=1, env=web_app_env()) as [server]:
        async with chromium() as browser:
            approver = await person(browser, server, world.users["a1.approver"].email)
            await expect(approver.get_by_role("heading", name="Approval queue")).to_be_visible()
            await approver.get_by_label("Language").select_option("de")
            await expect(
                approver.get_by_role("heading", name="Freigabe-Warteschlange")
            ).to_be_visible()
            assert await approver.evaluate("document.documentElement.lang") == "de"
            await approver.reload()
            await expect(
                approver.get_by_role("heading", name="Freigabe-Warteschlange")
            ).to_be_visible()


async def test_the_app_installs_and_never_caches_an_api_answer(
    pg, postgres_database, passwords, tmp_path
):
    world = await make_world(pg, passwords)
    with servers(postgres_database.settings, tmp_path, count=1, env=web_app_env()) as [server]:
        async with chromium() as browser:
            approver = await person(browser, server, world.users["a1.approver"].email)
            manifest = await approver.evaluate(
                "fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json())"
            )
            assert manifest["display"] == "standalone"
            assert {icon["sizes"] for icon in manifest["icons"]} >= {"192x192", "512x512"}
            state = await approver.evaluate(
                "navigator.serviceWorker.ready.then(r => r.active && r.active.state)"
            )
            assert state in ("activating", "activated")
            await approver.reload()
            await expect(approver.get_by_role("heading", name="Approval queue")).to_be_visible()
            cached = await approver.evaluate(
                """async () => {
                    const urls = []
                    for (const name of await caches.keys()) {
                        const cache = await caches.open(name)
                        for (const request of await cache.keys()) urls.push(request.url)
                    }
                    return urls
                }"""
            )
            assert any("/index.html" in url for url in cached), cached
            assert not [url for url in cached if "/api/" in url], cached


async def test_the_queue_card_shows_what_a_new_revision_changed(
    pg, postgres_database, passwords, tmp_path
):
    world = await make_world(pg, passwords)
    a1 = world.clients["a1"].id
    with servers(postgres_database.settings, tmp_path, count=1, env=web_app_env()) as [server]:
        owner = await login(server, world.users["a.owner"].email)
        content = await _content(server, owner, a1)
        await api(
            server,
            owner,
            "POST",
            f"/api/v1/drafts/{content['draft']['id']}/revisions",
            json={
                "version": 2,
                "body": "Wir arbeiten mit Hochdruck an der Störung in der Südstadt.",
                "alternatives": [],
            },
        )
        async with chromium() as browser:
            approver = await person(browser, server, world.users["a1.approver"].email)
            card = approver.locator("article").filter(has_text="in der Südstadt.")
            await card.get_by_text("Changes to the previous revision").click()
            await expect(card.locator("ins")).to_contain_text("in der Südstadt.")
            assert page_errors(approver) == []


async def test_an_ended_session_leads_back_to_sign_in_and_then_to_the_same_page(
    pg, postgres_database, passwords, tmp_path
):
    world = await make_world(pg, passwords)
    a1 = world.clients["a1"].id
    with servers(postgres_database.settings, tmp_path, count=1, env=web_app_env()) as [server]:
        async with chromium() as browser:
            approver = await person(browser, server, world.users["a1.approver"].email)
            await live(approver)
            # Signed out elsewhere (or expired): the server forgets every session.
            async with transaction(pg.sessions, Scope.for_system("tests")) as session:
                await session.execute(delete(UserSession))
            # The next API call (an in-app navigation) answers 401.
            await approver.get_by_role("link", name="Audit trail").click()
            await expect(approver.get_by_text("Your session has ended")).to_be_visible()
            await approver.get_by_label("E-mail").fill(world.users["a1.approver"].email)
            await approver.get_by_label("Password").fill(PASSWORD)
            await approver.get_by_role("button", name="Sign in").click()
            await expect(approver).to_have_url(f"{server.base_url}/clients/{a1}/audit")


async def test_repeated_wrong_passwords_say_how_long_to_wait_on_a_phone(
    pg, postgres_database, passwords, tmp_path
):
    world = await make_world(pg, passwords)
    env = {**web_app_env(), "AGENCYHUB_LOGIN_FREE_ATTEMPTS_PER_ACCOUNT": "2"}
    with servers(postgres_database.settings, tmp_path, count=1, env=env) as [server]:
        async with chromium() as browser:
            for language, expected in (
                ("de", "Zu viele Versuche. Bitte in"),
                ("en", "Too many attempts. Try again in"),
            ):
                context = await browser.new_context(
                    viewport=PHONE, locale="de-DE" if language == "de" else "en-GB"
                )
                page = await context.new_page()
                email_label, password_label, button = SIGN_IN[language]
                await page.goto(f"{server.base_url}/sign-in")
                await page.get_by_label(email_label).fill(world.users["a1.approver"].email)
                await page.get_by_label(password_label).fill("not the password")
                for _ in range(3):
                    # One attempt after the other: the alert of the one before is still
                    # shown, so wait for each answer rather than for an alert.
                    async with page.expect_response("**/api/v1/auth/login"):
                        await page.get_by_role("button", name=button).click()
                    await expect(page.get_by_role("alert")).to_be_visible()
                await expect(page.get_by_role("alert")).to_contain_text(expected)
                await screenshot(page, f"sign-in-throttled-{language}")
                await context.close()
