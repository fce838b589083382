"""The tenant hook attaches criteria per table the statement names: guard its premise."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.orm import aliased

from agencyhub.approvals.models import Decision, Draft, Revision
from agencyhub.db import Base, _tables_in, _tenant_models
from agencyhub.tenancy.models import Client


def test_no_model_has_relationships() -> None:
    """With relationships, the ORM could join tables a statement does not name, and
    those tables would go without their tenant criteria."""
    _tenant_models()  # loads every feature's models
    with_relationships = [m.class_.__name__ for m in Base.registry.mappers if m.relationships]
    assert with_relationships == []


def test_tables_in_sees_joins_subqueries_aliases_and_updates() -> None:
    other = aliased(Draft)
    statement = (
        select(Draft, Client)
        .join(Client, Client.id == Draft.client_id)
        .join(other, other.id == Draft.id)
        .where(Draft.id.in_(select(Revision.draft_id).where(Revision.id == uuid.uuid4())))
    )
    assert _tables_in(statement) == {"drafts", "clients", "revisions"}
    assert _tables_in(update(Decision).where(Decision.id == uuid.uuid4()).values(comment="")) == {
        "decisions"
    }
