"""The demo content: seeded through the real services, every reachable state, idempotent."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select

from agencyhub.approvals.demo import DEMO_CONTENT, ClientSeed, seed_demo_content
from agencyhub.approvals.models import Comment, Decision, Draft, Revision
from agencyhub.approvals.rules import Status
from agencyhub.audit.models import Event
from agencyhub.db import Database, Scope, transaction, utcnow
from agencyhub.publishing.models import Channel, InboundItem
from agencyhub.tenancy.models import Client
from agencyhub.tenantfiles.files import apply_tenant_specs, load_tenant_files
from tests.conftest import REPO_ROOT, test_settings

DEMO_FILES = sorted((REPO_ROOT / "tenants").glob("*.toml"))
# Only the system reaches these (publishing and escalation are later features).
SYSTEM_ONLY = {Status.SCHEDULED, Status.PUBLISHED, Status.FALLBACK_TAKEN}


async def given_the_demo_tenants(db: Database, passwords: Any) -> None:
    specs = load_tenant_files(DEMO_FILES, environment="demo")
    await apply_tenant_specs(db, passwords, test_settings("sqlite+aiosqlite://"), specs)


async def all_rows(db: Database, model: type[Any]) -> list[Any]:
    async with transaction(db.sessions, Scope.for_system("tests")) as session:
        return list(await session.scalars(select(model)))


async def count(db: Database, model: type[Any]) -> int:
    async with transaction(db.sessions, Scope.for_system("tests")) as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def client_named(db: Database, slug: str) -> Client:
    async with transaction(db.sessions, Scope.for_system("tests")) as session:
        client = await session.scalar(select(Client).where(Client.slug == slug))
    assert client is not None
    return client


async def test_every_state_the_api_reaches_is_seeded(database, passwords):
    await given_the_demo_tenants(database, passwords)

    report = await seed_demo_content(database, now=utcnow())

    assert set(report.seeded) == {"Bäckerei Sonnenschein", "Stadtwerke Musterstadt", "Alpenhof"}
    assert report.skipped == ()
    drafts = await all_rows(database, Draft)
    assert report.drafts == len(drafts) == sum(len(s.drafts) for s in DEMO_CONTENT)
    assert {Status(d.status) for d in drafts} == set(Status) - SYSTEM_ONLY
    assert report.channels == await count(database, Channel)
    items = await all_rows(database, InboundItem)
    assert report.inbound_items == len(items)
    assert {i.severity for i in items} == {"normal", "high", "crisis"}
    assert "seeded Bäckerei Sonnenschein" in report.summary()


async def test_the_bakery_queue_is_alive_and_ordered_by_severity(database, passwords):
    await given_the_demo_tenants(database, passwords)
    await seed_demo_content(database, now=utcnow())
    bakery = await client_named(database, "baeckerei-sonnenschein")

    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        queue = list(
            await session.scalars(
                select(Draft)
                .where(Draft.client_id == bakery.id, Draft.status == Status.PENDING)
                .order_by(Draft.sla_due_at, Draft.severity_order, Draft.submitted_at)
            )
        )

    assert len(queue) >= 3
    assert [d.severity for d in queue[:2]] == ["crisis", "high"]
    assert {d.severity for d in queue[2:]} == {"normal"}


async def test_decisions_comments_and_revisions_are_the_products_own(database, passwords):
    await given_the_demo_tenants(database, passwords)
    await seed_demo_content(database, now=utcnow())

    drafts = await all_rows(database, Draft)
    by_status = {Status(d.status): d for d in drafts}
    approved_with_choice = [
        d for d in drafts if d.status == Status.APPROVED and (d.approved_wording or 0) > 0
    ]
    assert approved_with_choice, "an approver chose an alternative wording"
    assert max(d.revision_count for d in drafts) >= 2, "a draft with two revisions"
    decisions = await all_rows(database, Decision)
    for status, decision in (
        (Status.REJECTED, "reject"),
        (Status.CHANGES_REQUESTED, "request_changes"),
    ):
        reasons = [
            x.comment
            for x in decisions
            if x.draft_id == by_status[status].id and x.decision == decision
        ]
        assert any(reasons), f"{decision} carries a comment"
    assert {d.role for d in decisions} <= {"approver", "executive"}
    crisis_approved = [d for d in drafts if (d.status, d.severity) == ("approved", "crisis")]
    assert crisis_approved, "a crisis statement approved by an executive alone"
    assert [x.role for x in decisions if x.draft_id == crisis_approved[0].id] == ["executive"]
    comments = await all_rows(database, Comment)
    assert {c.visibility for c in comments} == {"shared", "internal"}
    revisions = await all_rows(database, Revision)
    assert max(len(r.wordings) for r in revisions) >= 2

    events = Counter(e.type for e in await all_rows(database, Event))
    for kind in (
        "channel.created",
        "inbound.received",
        "draft.created",
        "revision.created",
        "draft.submitted",
        "draft.approved",
        "draft.rejected",
        "draft.changes_requested",
        "draft.resubmitted",
        "draft.withdrawn",
        "comment.added",
    ):
        assert events[kind] > 0, kind
    assert all(
        e.actor_user_id is not None
        for e in await all_rows(database, Event)
        if e.type.startswith(("draft.", "revision.", "comment.", "channel.", "inbound."))
    )


async def test_a_second_run_seeds_nothing(database, passwords):
    await given_the_demo_tenants(database, passwords)
    await seed_demo_content(database, now=utcnow())
    before = {model: await count(database, model) for model in (Draft, InboundItem, Event)}

    again = await seed_demo_content(database, now=utcnow())

    assert again.seeded == ()
    assert {s.reason for s in again.skipped} == {"already has drafts"}
    assert len(again.skipped) == 3
    assert {model: await count(database, model) for model in before} == before
    assert again.summary() == "demo content: nothing to seed (3 client(s) kept as they are)"


async def test_an_empty_database_is_left_alone(database):
    report = await seed_demo_content(database, now=utcnow())

    assert report.seeded == report.skipped == ()
    assert await count(database, Event) == 0


async def test_a_client_whose_people_are_gone_is_skipped_with_the_reason(database, passwords):
    await given_the_demo_tenants(database, passwords)
    bakery = DEMO_CONTENT[0]
    lonely = ClientSeed(
        agency=bakery.agency,
        client=bakery.client,
        connects_channels="nobody@nordlicht.example",
        records_inbound=bakery.records_inbound,
        channels=bakery.channels,
        inbound=bakery.inbound,
        drafts=(),
    )

    report = await seed_demo_content(database, now=utcnow(), content=[lonely])

    assert report.seeded == ()
    assert [s.reason for s in report.skipped] == ["no such user: nobody@nordlicht.example"]
    assert await count(database, Channel) == 0
