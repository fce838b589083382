"""Engine, sessions, the declarative base and the tenant boundary.

The tenant boundary is enforced twice, in one place each:

1. Application: every ORM statement on a :class:`TenantOwned` model gets the criteria
   of the session's :class:`Scope` added by a ``do_orm_execute`` hook. A session with
   no scope sees no tenant-owned rows at all (fail closed).
2. PostgreSQL: row-level security policies (see the first migration) read the same
   scope from transaction-local settings written by an ``after_begin`` hook with
   ``set_config(..., is_local => true)``, so a forgotten filter still cannot leak.

Work that must see every tenant runs in an explicit, named system scope, which is
logged.

The modules, by concern: ``base`` (declarative base, ids, timestamps), ``scope``
(:class:`Scope` and the ORM criteria), ``rls`` (PostgreSQL's settings in step with
the scope, the criteria hook, Core statements), ``hooks`` (after-commit callbacks),
``engine`` (engines, sessions, transactions). Import from ``agencyhub.db``.

Hot paths (sign-in, deciding on a draft) use prebuilt Core statements through
:func:`execute_core` instead of the ORM: those name their tenant columns themselves
(:func:`visible_agency_ids`), and the same RLS settings are written before them.
"""

from __future__ import annotations

from agencyhub.db.base import (
    NAMING_CONVENTION,
    Base,
    IdMixin,
    TimestampMixin,
    new_id,
    utcnow,
)
from agencyhub.db.engine import (
    Database,
    create_engine,
    create_sessionmaker,
    flush_or_conflict,
    serialise_writers,
    transaction,
    writing_session,
)
from agencyhub.db.hooks import (
    after_commit,
    inside_savepoint,
)
from agencyhub.db.rls import (
    ModelT,
    adopt,
    execute_core,
    member_agencies_setting,
    rls_connection,
    scope_written_by_statement,
    user_scope_setting,
    write_connection_scope,
    writes_scope_in_statements,
)
from agencyhub.db.scope import (
    ANONYMOUS,
    Scope,
    TenantOwned,
    TenantScoped,
    TenantSession,
    _tables_in,
    _tenant_models,
    enter_tenant,
    scope_of,
    set_scope,
    tenant_criteria,
    visible_agency_ids,
)

__all__ = [
    "ANONYMOUS",
    "NAMING_CONVENTION",
    "Base",
    "Database",
    "IdMixin",
    "ModelT",
    "Scope",
    "TenantOwned",
    "TenantScoped",
    "TenantSession",
    "TimestampMixin",
    "_tables_in",
    "_tenant_models",
    "adopt",
    "after_commit",
    "create_engine",
    "create_sessionmaker",
    "enter_tenant",
    "execute_core",
    "flush_or_conflict",
    "inside_savepoint",
    "member_agencies_setting",
    "new_id",
    "rls_connection",
    "scope_of",
    "scope_written_by_statement",
    "serialise_writers",
    "set_scope",
    "tenant_criteria",
    "transaction",
    "user_scope_setting",
    "utcnow",
    "visible_agency_ids",
    "write_connection_scope",
    "writes_scope_in_statements",
    "writing_session",
]
