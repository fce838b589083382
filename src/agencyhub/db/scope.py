"""What a session may see (:class:`Scope`), and the ORM criteria that enforce it."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from sqlalchemy import false
from sqlalchemy.ext.asyncio import (
    AsyncSession,
)
from sqlalchemy.orm import (
    Mapped,
    Session,
    with_loader_criteria,
)
from sqlalchemy.sql import util as sql_util
from sqlalchemy.sql.elements import ColumnElement

from agencyhub.db.base import Base

log = structlog.get_logger("agencyhub.db")


class TenantScoped:
    """Marker for models whose visibility depends on the session's scope."""

    @classmethod
    def scope_criteria(cls, scope: Scope) -> ColumnElement[bool]:
        raise NotImplementedError


class TenantOwned(TenantScoped):
    """Rows that belong to one agency (the tenant), keyed by ``agency_id``."""

    agency_id: Mapped[uuid.UUID]

    @classmethod
    def scope_criteria(cls, scope: Scope) -> ColumnElement[bool]:
        return tenant_criteria(cls.agency_id, scope)


def tenant_criteria(agency_column: Any, scope: Scope) -> ColumnElement[bool]:
    """Rows of the current tenant, else of the user's agencies, else none."""
    if scope.agency_id is not None:
        return agency_column == scope.agency_id  # type: ignore[no-any-return]
    if scope.member_agency_ids:
        return agency_column.in_(sorted(scope.member_agency_ids))  # type: ignore[no-any-return]
    return false()


def visible_agency_ids(scope: Scope) -> list[uuid.UUID]:
    """The agencies whose rows ``scope`` sees, for Core statements that filter by tenant
    themselves (``agency_id IN :ids``); the same rows as :func:`tenant_criteria`.

    A system scope has no such list: Core statements are for user-facing paths only.
    """
    if scope.system is not None:
        raise RuntimeError(f"no tenant list in the system scope {scope.system!r}")
    if scope.agency_id is not None:
        return [scope.agency_id]
    return sorted(scope.member_agency_ids)  # empty: nothing is visible


@dataclass(frozen=True, slots=True)
class Scope:
    """What a session may see: a user's agencies, one current tenant, or everything.

    ``system`` names the reason for a cross-tenant scope; it is ``None`` for every
    user-facing path.
    """

    user_id: uuid.UUID | None = None
    member_agency_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    agency_id: uuid.UUID | None = None
    system: str | None = None

    @classmethod
    def for_system(cls, reason: str) -> Scope:
        return cls(system=reason)


ANONYMOUS = Scope()


class TenantSession(Session):
    """The sync session class behind every AsyncSession; carries the scope hooks."""


def scope_of(session: AsyncSession | Session) -> Scope:
    scope = session.info.get("scope", ANONYMOUS)
    assert isinstance(scope, Scope)
    return scope


async def set_scope(session: AsyncSession, scope: Scope) -> None:
    """Change the scope; takes effect for the ORM and for RLS at once.

    The RLS settings follow lazily, right before the next statement or flush (see
    :func:`_sync_rls_settings`), so scope changes in a row cost one round trip at most.
    """
    if scope.system is not None:
        log.info("db.system_scope", reason=scope.system)
    session.info["scope"] = scope


async def enter_tenant(session: AsyncSession, agency_id: uuid.UUID) -> None:
    await set_scope(session, replace(scope_of(session), agency_id=agency_id))


def _tables_in(statement: Any) -> set[str]:
    """Names of every table the statement reads or writes, subqueries and joins included.

    Only the criteria of those tables' models are attached: attaching all of them to
    every statement cost more than the query itself (their cache keys are computed
    on every execution). Sound because no model has relationships, so the ORM never
    joins a table the statement does not name.
    """
    names = set()
    for found in sql_util.find_tables(
        statement, include_aliases=True, include_joins=True, include_crud=True
    ):
        table = getattr(found, "element", found)  # an alias names its table
        name = getattr(table, "name", None)
        if isinstance(name, str):
            names.add(name)
    return names


def _criteria_for(session: Session, scope: Scope) -> dict[str, Any]:
    """The criteria option per tenant table for this scope (see :func:`_criteria_of`)."""
    cached = session.info.get("_tenant_criteria")
    if cached is not None and cached[0] is scope:
        return cached[1]  # type: ignore[no-any-return]
    options = _criteria_of(scope)
    session.info["_tenant_criteria"] = (scope, options)
    return options


@functools.lru_cache(maxsize=4096)
def _criteria_of(scope: Scope) -> dict[str, Any]:
    """with_loader_criteria also reaches subqueries and joins of its model.

    Built once per distinct scope and shared by every session: building them costs
    more than the rest of a short request, and the options are immutable.
    """
    return {
        model.__table__.name: with_loader_criteria(
            model, model.scope_criteria(scope), include_aliases=True
        )
        for model in _tenant_models()
    }


@functools.cache
def _tenant_models() -> tuple[type[Any], ...]:
    # Import every feature's models first: a model missing from this (cached) list
    # would silently go unfiltered.
    from agencyhub.models import load_all_models

    load_all_models()
    return tuple(
        mapper.class_ for mapper in Base.registry.mappers if issubclass(mapper.class_, TenantScoped)
    )
