"""Issue #14, item 14: the demo names whoever is on duty now, so a reader watches the
inbox the emergency plan pages first."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from agencyhub.cli import _duty_now
from agencyhub.db import Scope, transaction, utcnow
from agencyhub.escalation.rota import on_duty_at
from agencyhub.tenancy.models import Client
from tests.integration.test_tenantfile_apply import DEMO_FILES, apply_files


async def test_the_demo_logins_name_the_approver_on_duty_now(any_database, database, passwords):
    await apply_files(database, passwords, DEMO_FILES)
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        bakery = await session.scalar(select(Client).where(Client.slug == "baeckerei-sonnenschein"))
        assert bakery is not None
        duty = await on_duty_at(session, bakery, utcnow())
    assert duty.person is not None

    # The command runs its own event loop, as `agencyhub demo` does.
    notes = await asyncio.to_thread(_duty_now, any_database.settings)

    assert notes[duty.person.email].startswith("ON DUTY now, until ")
    assert duty.until is not None
    assert duty.until - utcnow() <= timedelta(days=7)
    [deputy] = duty.deputies
    assert notes[deputy.email] == "deputy now"
