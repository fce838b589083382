"""Imports every feature's models so that metadata (Alembic, tests) sees all tables."""

from __future__ import annotations


def load_all_models() -> None:
    import agencyhub.approvals.models
    import agencyhub.audit.models
    import agencyhub.escalation.models
    import agencyhub.publishing.models
    import agencyhub.tenancy.models  # noqa: F401
