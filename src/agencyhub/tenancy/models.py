"""Agencies (the tenants), their client companies, people, and how people sign in."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    and_,
    exists,
    or_,
    text,
)
from sqlalchemy.orm import Mapped, aliased, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from agencyhub.db import (
    Base,
    IdMixin,
    Scope,
    TenantOwned,
    TenantScoped,
    TimestampMixin,
    tenant_criteria,
    utcnow,
)
from agencyhub.tenancy.rules import AGENCY_MANAGERS, AGENCY_ROLES, ALL_ROLES, CLIENT_ROLES


def _sql_in(values: frozenset[str]) -> str:
    return ", ".join(f"'{value}'" for value in sorted(values))


class Agency(IdMixin, TimestampMixin, TenantScoped, Base):
    """The tenant and billing customer."""

    __tablename__ = "agencies"

    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(String(32), default="starter")
    subscription_status: Mapped[str] = mapped_column(String(32), default="trialing")
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), default=None)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), default=None)

    @classmethod
    def scope_criteria(cls, scope: Scope) -> ColumnElement[bool]:
        return tenant_criteria(cls.id, scope)


class Client(IdMixin, TimestampMixin, TenantOwned, Base):
    """A client company inside an agency."""

    __tablename__ = "clients"
    __table_args__ = (UniqueConstraint("agency_id", "slug"),)

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    slug: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    locale: Mapped[str] = mapped_column(String(8), default="de")
    archived_at: Mapped[datetime | None] = mapped_column(default=None)
    # Where the agency may invite the client's first admin (tenancy.rules.address_allowed).
    verified_domains: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )


class User(IdMixin, TimestampMixin, Base):
    """A person; global (one login), holding memberships in agencies and clients."""

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    locale: Mapped[str] = mapped_column(String(8), default="de")
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    password_changed_at: Mapped[datetime | None] = mapped_column(default=None)
    is_active: Mapped[bool] = mapped_column(default=True)


class Membership(IdMixin, TimestampMixin, TenantOwned, Base):
    """A user's role in an agency (``client_id`` empty) or in one of its clients."""

    __tablename__ = "memberships"
    __table_args__ = (
        CheckConstraint(f"role IN ({_sql_in(ALL_ROLES)})", name="role_known"),
        CheckConstraint(
            f"(client_id IS NULL AND role IN ({_sql_in(AGENCY_ROLES)}))"
            f" OR (client_id IS NOT NULL AND role IN ({_sql_in(CLIENT_ROLES)}))",
            name="role_matches_scope",
        ),
        Index(
            "uq_memberships_agency_user",
            "agency_id",
            "user_id",
            unique=True,
            sqlite_where=text("client_id IS NULL"),
            postgresql_where=text("client_id IS NULL"),
        ),
        Index(
            "uq_memberships_client_user",
            "client_id",
            "user_id",
            unique=True,
            sqlite_where=text("client_id IS NOT NULL"),
            postgresql_where=text("client_id IS NOT NULL"),
        ),
    )

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), default=None, index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(32))
    # Created through an agency role (the client's first admin): decides only once
    # another client admin confirmed it (tenancy.rules.awaits_confirmation).
    invited_by_agency: Mapped[bool] = mapped_column(default=False, server_default=text("FALSE"))
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    confirmed_by_id: Mapped[uuid.UUID | None] = mapped_column(default=None)

    @property
    def confirmed(self) -> bool:
        return not self.invited_by_agency or self.confirmed_at is not None

    @classmethod
    def is_confirmed(cls) -> ColumnElement[bool]:
        """:attr:`confirmed` in SQL."""
        return or_(cls.invited_by_agency.is_(False), cls.confirmed_at.is_not(None))

    @classmethod
    def acts_in_client_role(cls) -> ColumnElement[bool]:
        """A client membership its person acts in (tenancy.rules.role_at_client): they
        hold no agency role reaching the client. Agency staff invited into a client keep
        acting as agency staff there, so such a membership never decides."""
        staff = aliased(Membership)
        reaches_client = or_(
            staff.role.in_(sorted(AGENCY_MANAGERS)),
            exists().where(
                ClientAssignment.membership_id == staff.id,
                ClientAssignment.client_id == cls.client_id,
            ),
        )
        agency_role = exists().where(
            staff.agency_id == cls.agency_id,
            staff.client_id.is_(None),
            staff.user_id == cls.user_id,
            reaches_client,
        )
        return ~agency_role

    @classmethod
    def can_decide(cls) -> ColumnElement[bool]:
        """A membership whose person can decide in its role today: confirmed, and not
        overshadowed by an agency role (the role itself is the caller's filter)."""
        return and_(cls.is_confirmed(), cls.acts_in_client_role())

    @classmethod
    def scope_criteria(cls, scope: Scope) -> ColumnElement[bool]:
        """A user always sees their own memberships, so sign-in can find them."""
        tenant = tenant_criteria(cls.agency_id, scope)
        if scope.user_id is None:
            return tenant
        return or_(cls.user_id == scope.user_id, tenant)


class ClientAssignment(IdMixin, TenantOwned, Base):
    """An agency editor assigned to one client: the editor sees and drafts for it.

    ``user_id`` repeats the membership's user so that sign-in reads a user's
    assignments with their memberships, under the same user-scope rule.
    """

    __tablename__ = "client_assignments"
    __table_args__ = (UniqueConstraint("membership_id", "client_id"),)

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    membership_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("memberships.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )

    @classmethod
    def scope_criteria(cls, scope: Scope) -> ColumnElement[bool]:
        """Like memberships: a user always sees their own assignments."""
        tenant = tenant_criteria(cls.agency_id, scope)
        if scope.user_id is None:
            return tenant
        return or_(cls.user_id == scope.user_id, tenant)


class Invitation(IdMixin, TenantOwned, Base):
    """An invitation by e-mail to take a role; the link sets the password."""

    __tablename__ = "invitations"
    __table_args__ = (CheckConstraint(f"role IN ({_sql_in(ALL_ROLES)})", name="role_known"),)

    agency_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("agencies.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), default=None
    )
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # Sent through an agency role: the link goes only to the address, never to the inviter.
    for_agency: Mapped[bool] = mapped_column(default=False, server_default=text("FALSE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiToken(IdMixin, Base):
    """A personal token for integrations; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Space-separated: "read", "decide", "manage" (tenancy.rules.TOKEN_SCOPES).
    scopes: Mapped[str] = mapped_column(String(64), default="read")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class UserSession(IdMixin, Base):
    """A server-side sign-in session; the cookie holds the secret, we its SHA-256."""

    __tablename__ = "user_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    ip_address: Mapped[str] = mapped_column(String(64), default="")


class LoginThrottle(Base):
    """Counted password checks for one key: an account at an address, or an address.

    The key is a SHA-256 of what it counts, so the table holds no e-mail address.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(default=None)
    last_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
