"""Two people deciding the same draft at once, on both backends (issue #14, item 11).

The embedded SQLite database once answered the loser with 500 (``database is locked``):
a transaction that read first could not upgrade to a write once the other had
committed. Writers now start their transaction with the write lock, so the loser waits,
sees the new version and gets the promised 409.
"""

from __future__ import annotations

import asyncio

from agencyhub.app import create_app
from tests.factories import make_world
from tests.integration.test_draft_races import pending_drafts, signed_in


async def test_two_approvers_deciding_at_once_get_200_and_409(any_database, database, passwords):
    world = await make_world(database, passwords)
    app = create_app(any_database.settings)
    owner = await signed_in(app, world.users["a.owner"].email)
    approver = await signed_in(app, world.users["a1.approver"].email)
    executive = await signed_in(app, world.users["a1.executive"].email)
    drafts = await pending_drafts(owner, world.clients["a1"].id, 8)

    for draft in drafts:
        approve = {"decision": "approve", "version": draft["version"]}
        reject = {"decision": "reject", "version": draft["version"], "comment": "Nein"}
        first, second = await asyncio.gather(
            approver.post(f"/api/v1/drafts/{draft['id']}/decisions", json=approve),
            executive.post(f"/api/v1/drafts/{draft['id']}/decisions", json=reject),
        )
        assert sorted([first.status_code, second.status_code]) == [200, 409], (
            first.text,
            second.text,
        )
        loser = first if first.status_code == 409 else second
        assert loser.headers["content-type"].startswith("application/problem+json")
        detail = (await owner.get(f"/api/v1/drafts/{draft['id']}")).json()
        assert len(detail["decisions"]) == 1

    for caller in (owner, approver, executive):
        await caller.aclose()
    await app.state.runtime.db.dispose()
