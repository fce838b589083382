"""Side effects run after the real commit only, and not for rolled-back savepoints."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from agencyhub.db import Scope, after_commit, transaction
from agencyhub.tenancy.models import Agency


async def test_callbacks_wait_for_the_outer_commit_and_skip_failed_savepoints(database):
    calls: list[str] = []
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        after_commit(session, lambda: calls.append("outer"))
        async with session.begin_nested():
            after_commit(session, lambda: calls.append("released savepoint"))
        assert calls == []  # releasing a savepoint is not the commit
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                after_commit(session, lambda: calls.append("rolled back savepoint"))
                raise RuntimeError("refused")
        assert calls == []
    assert calls == ["outer", "released savepoint"]


async def test_nothing_runs_when_the_transaction_rolls_back(database):
    calls: list[str] = []
    with pytest.raises(RuntimeError):
        async with transaction(database.sessions, Scope.for_system("tests")) as session:
            after_commit(session, lambda: calls.append("never"))
            raise RuntimeError("boom")
    assert calls == []


async def test_a_released_savepoint_does_not_commit_the_transaction(database):
    """On SQLite too: a rollback after a released savepoint undoes the savepoint's work."""
    with pytest.raises(RuntimeError):
        async with transaction(database.sessions, Scope.for_system("tests")) as session:
            async with session.begin_nested():
                session.add(Agency(slug="savepoint-test", name="S"))
            raise RuntimeError("the request fails after the savepoint")
    async with transaction(database.sessions, Scope.for_system("tests")) as session:
        assert await session.scalar(select(func.count()).select_from(Agency)) == 0
