"""The statements of a decision (approve, reject, request changes) in SQLAlchemy Core.

A decision is the hottest write of the product (issue #3: 300 approves a second on two
cores). Through the ORM each statement cost ~0.3–0.5 ms of CPU (criteria options,
cache keys, the unit of work, loading); these prebuilt Core statements cost a fraction.
The rules, the version check and the events stay in :mod:`agencyhub.approvals.service`;
what the draft row becomes is :mod:`agencyhub.approvals.lifecycle`'s answer, saved here.

Core statements get no tenant criteria from the session hook, so every one of them
names its tenant column itself: ``agency_id IN (...)`` on each table it touches, with
the ids of :func:`agencyhub.db.visible_agency_ids` (the rows the criteria would allow).
They run through :func:`agencyhub.db.execute_core`, so PostgreSQL's row-level security
still applies below them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import Row, Table, and_, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.approvals.models import ApprovalPolicy, Decision, Draft, Revision
from agencyhub.approvals.rules import Action
from agencyhub.db import adopt, execute_core, scope_of, visible_agency_ids
from agencyhub.tenancy.models import Client

AnyRow: TypeAlias = Row[*tuple[Any, ...]]

_draft: Table = Draft.__table__  # type: ignore[assignment]
_client: Table = Client.__table__  # type: ignore[assignment]
_revision: Table = Revision.__table__  # type: ignore[assignment]
_policy: Table = ApprovalPolicy.__table__  # type: ignore[assignment]
_decision: Table = Decision.__table__  # type: ignore[assignment]


def _visible(table: Table) -> Any:
    """The tenant filter of ``table``; its ids go in as ``<table>_agencies``."""
    return table.c.agency_id.in_(bindparam(f"{table.name}_agencies", expanding=True))


def _tenant_params(session: AsyncSession, *tables: Table) -> dict[str, Any]:
    ids = visible_agency_ids(scope_of(session))
    return {f"{table.name}_agencies": ids for table in tables}


# The draft row locked, with what deciding needs of its client, its current revision,
# the client's policy and the approvals of the current revision, in one round trip:
# one row per approval (or one row without). Only the draft row is locked.
#
# The approvals are read in the statement's snapshot, taken before the lock is granted;
# that is enough because every decision bumps the draft's version in its transaction:
# a decision committed while this waited for the lock left a newer version, and the
# caller's version check then answers 409.
_LOCK_TARGET = (
    select(
        _draft.c.id,
        _draft.c.agency_id,
        _draft.c.client_id,
        _draft.c.status,
        _draft.c.severity,
        _draft.c.version,
        _draft.c.current_revision_id,
        _draft.c.scheduled_for,
        _draft.c.created_by_id,
        _draft.c.submitted_at,
        _draft.c.sla_due_at,
        _draft.c.decided_at,
        _draft.c.approved_wording,
        _draft.c.paused_at,
        _client.c.agency_id.label("client_agency_id"),
        _revision.c.author_id.label("revision_author_id"),
        _revision.c.alternatives.label("revision_alternatives"),
        _policy.c.id.label("policy_id"),
        _policy.c.requirements.label("policy_requirements"),
        _policy.c.four_eyes.label("policy_four_eyes"),
        _decision.c.id.label("approval_id"),
        _decision.c.user_id.label("approval_user_id"),
        _decision.c.role.label("approval_role"),
        _decision.c.wording.label("approval_wording"),
    )
    .select_from(
        _draft.join(_client, and_(_client.c.id == _draft.c.client_id, _visible(_client)))
        .outerjoin(
            _revision,
            and_(_revision.c.id == _draft.c.current_revision_id, _visible(_revision)),
        )
        .outerjoin(_policy, and_(_policy.c.client_id == _draft.c.client_id, _visible(_policy)))
        .outerjoin(
            _decision,
            and_(
                # draft_id first: it leads the decisions index.
                _decision.c.draft_id == _draft.c.id,
                _decision.c.revision_id == _draft.c.current_revision_id,
                _decision.c.decision == Action.APPROVE.value,
                _visible(_decision),
            ),
        )
    )
    .where(_draft.c.id == bindparam("draft_id"), _visible(_draft))
    .with_for_update(of=_draft)
)

# The columns a decision's life-cycle change can touch (a decision never starts an SLA
# clock: only submit and revise enter the queue); every column comes back for the
# answer, nothing is read again.
DRAFT_CHANGES = ("status", "version", "decided_at", "approved_wording")
_UPDATE_DRAFT = (
    update(_draft)
    .where(_draft.c.id == bindparam("draft_id"), _visible(_draft))
    .values(
        {
            **{name: bindparam(f"new_{name}") for name in DRAFT_CHANGES},
            "updated_at": bindparam("new_updated_at"),
        }
    )
    .returning(*_draft.c)
)
_INSERT_DECISION = insert(_decision).values(
    {column.name: bindparam(f"decision_{column.name}") for column in _decision.c}
)
# PostgreSQL: the decision rides along with the update as a data-modifying CTE, which
# runs exactly once whether or not the update reads it. SQLite has no such CTEs.
_INSERT_DECISION_AND_UPDATE_DRAFT = _UPDATE_DRAFT.add_cte(_INSERT_DECISION.cte("decision"))


@dataclass(frozen=True, slots=True)
class Target:
    """The locked draft as a decision sees it."""

    row: AnyRow  # the draft's, client's, revision's and policy's columns
    approvals: tuple[AnyRow, ...]  # approval_user_id, approval_role, approval_wording


async def lock_target(session: AsyncSession, draft_id: uuid.UUID) -> Target | None:
    """The draft locked for update, with its client, current revision, policy and the
    revision's approvals (see :data:`_LOCK_TARGET`); None when the session's tenants
    hold no such draft."""
    params = _tenant_params(session, _draft, _client, _revision, _policy, _decision)
    rows = (await execute_core(session, _LOCK_TARGET, {"draft_id": draft_id, **params})).all()
    if not rows:
        return None
    return Target(rows[0], tuple(row for row in rows if row.approval_id is not None))


async def record(
    session: AsyncSession,
    decision: dict[str, Any],
    row: AnyRow,
    changes: Mapping[str, Any],
    now: datetime,
) -> Draft:
    """Insert the decision (every column) and save ``changes`` — the life cycle's
    answer, :attr:`agencyhub.approvals.lifecycle.Change.values` — on the locked draft
    ``row``; the draft as it is now.

    The draft comes back as the session's own instance (refreshed if the session held
    it already, never marked as changed), so later ORM work sees the new state.
    """
    unexpected = changes.keys() - set(DRAFT_CHANGES)
    if unexpected:
        raise ValueError(f"a decision does not change {sorted(unexpected)}")
    params = {
        "draft_id": row.id,
        **{f"decision_{name}": value for name, value in decision.items()},
        **{f"new_{name}": changes.get(name, getattr(row, name)) for name in DRAFT_CHANGES},
        "new_updated_at": now,
        **_tenant_params(session, _draft),
    }
    if session.sync_session.get_bind().dialect.name == "postgresql":
        result = await execute_core(session, _INSERT_DECISION_AND_UPDATE_DRAFT, params)
    else:
        await execute_core(session, _INSERT_DECISION, params)
        result = await execute_core(session, _UPDATE_DRAFT, params)
    return await adopt(session, Draft, result.one()._mapping)
