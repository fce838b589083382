"""Sign-in: passwords, server-side sessions, API tokens, and the failed-login limit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Table, and_, bindparam, delete, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agencyhub.config import Settings
from agencyhub.db import (
    ANONYMOUS,
    Scope,
    adopt,
    execute_core,
    member_agencies_setting,
    scope_written_by_statement,
    set_scope,
    transaction,
    user_scope_setting,
    utcnow,
    writes_scope_in_statements,
)
from agencyhub.errors import InvalidInput, NotFound, Unauthenticated
from agencyhub.tenancy import rules, throttle
from agencyhub.tenancy.models import (
    ApiToken,
    ClientAssignment,
    Membership,
    User,
    UserSession,
)
from agencyhub.tenancy.rules import Actor, Grant
from agencyhub.tenancy.secrets import (
    API_TOKEN_PREFIX,
    SESSION_TOKEN_PREFIX,
    Passwords,
    new_token,
    token_digest,
)

log = structlog.get_logger(__name__)

# Writing last_used_at on every request would turn reads into writes.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str
    csrf_token: str
    expires_at: datetime
    user: User


@dataclass(frozen=True, slots=True)
class Authenticated:
    user: User
    via: str  # "session" or "token"
    csrf_token: str | None
    token_scopes: frozenset[str] = frozenset()


_users: Table = User.__table__  # type: ignore[assignment]
_user_sessions: Table = UserSession.__table__  # type: ignore[assignment]
_memberships: Table = Membership.__table__  # type: ignore[assignment]
_assignments: Table = ClientAssignment.__table__  # type: ignore[assignment]

# The two statements of every signed-in request, prebuilt in Core (an ORM statement
# cost several times the CPU). Neither table of the first is tenant-owned.
_SESSION_AND_USER = (
    select(_user_sessions.c.expires_at, _user_sessions.c.csrf_token, *_users.c)
    .join_from(_user_sessions, _users, _users.c.id == _user_sessions.c.user_id)
    .where(_user_sessions.c.token_hash == bindparam("token_hash"))
)
# On PostgreSQL the same statement writes the user scope for the statements after it,
# on the same condition under which it is accepted below: one round trip less.
_SESSION_AND_USER_WRITING_SCOPE = _SESSION_AND_USER.add_columns(
    user_scope_setting(
        _users.c.id, and_(_users.c.is_active, _user_sessions.c.expires_at > bindparam("now"))
    ).label("scope_written")
)
# A user's own memberships, one row per client assigned to an editor: exactly the rows
# the tenant criteria of the user scope allow (``user_id = :user_id OR <no agency>``) on
# both tables, and RLS checks the same.
_MEMBERSHIPS = (
    select(
        _memberships.c.id,
        _memberships.c.agency_id,
        _memberships.c.client_id,
        _memberships.c.role,
        _memberships.c.invited_by_agency,
        _memberships.c.confirmed_at,
        _assignments.c.client_id.label("assigned_client_id"),
    )
    .outerjoin(
        _assignments,
        and_(
            _assignments.c.membership_id == _memberships.c.id,
            _assignments.c.user_id == bindparam("user_id"),
        ),
    )
    .where(_memberships.c.user_id == bindparam("user_id"))
    .order_by(_memberships.c.created_at, _memberships.c.id)
)
# ... and, on PostgreSQL, the user's agencies for the statements after it.
_MEMBERSHIPS_WRITING_SCOPE = _MEMBERSHIPS.add_columns(
    member_agencies_setting(_memberships.c.agency_id).label("scope_written")
)


async def load_actor(session: AsyncSession, user_id: uuid.UUID) -> Actor:
    """The user's memberships, and the user scope that lets them see their agencies."""
    user_scope = Scope(user_id=user_id)
    await set_scope(session, user_scope)
    writes_scope = writes_scope_in_statements(session, user_scope)
    statement = _MEMBERSHIPS_WRITING_SCOPE if writes_scope else _MEMBERSHIPS
    rows = await execute_core(session, statement, {"user_id": user_id})
    actor = Actor(user_id=user_id, grants=grants_of(rows))
    member_scope = Scope(user_id=user_id, member_agency_ids=actor.agency_ids)
    if writes_scope:
        scope_written_by_statement(session, member_scope)
    else:
        await set_scope(session, member_scope)
    return actor


def grants_of(rows: Any) -> tuple[Grant, ...]:
    """One grant per membership, with the clients assigned to it gathered."""
    memberships: dict[uuid.UUID, Any] = {}
    assigned: dict[uuid.UUID, set[uuid.UUID]] = {}
    for row in rows:
        memberships.setdefault(row.id, row)
        clients = assigned.setdefault(row.id, set())
        if row.assigned_client_id is not None:
            clients.add(row.assigned_client_id)
    return tuple(
        Grant(
            membership_id=m.id,
            agency_id=m.agency_id,
            client_id=m.client_id,
            role=m.role,
            assigned_client_ids=frozenset(assigned[m.id]),
            confirmed=not m.invited_by_agency or m.confirmed_at is not None,
        )
        for m in memberships.values()
    )


@dataclass(frozen=True, slots=True)
class PasswordOf:
    user_id: uuid.UUID
    password_hash: str | None
    is_active: bool


async def check_password(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    passwords: Passwords,
    *,
    email: str,
    password: str,
    ip_address: str,
) -> uuid.UUID:
    """The user's id when the password is right, else :class:`Unauthenticated`.

    Counted by the throttle before the check; no database connection is held while
    it waits for a hashing worker or hashes (one short transaction before that).
    """
    async with passwords.admission():
        async with transaction(sessions) as session:
            await throttle.admit(session, settings, email, ip_address, utcnow())
            found = await _password_of(session, email)
        ok = await passwords.verify_in_worker(found.password_hash if found else None, password)
    if found is None or not ok or not found.is_active:
        log.info("auth.login_failed", ip_address=ip_address)
        raise Unauthenticated("E-mail or password is wrong.")
    return found.user_id


async def _password_of(session: AsyncSession, email: str) -> PasswordOf | None:
    query = select(_users.c.id, _users.c.password_hash, _users.c.is_active).where(
        _users.c.email == email
    )
    row = (await session.execute(query)).first()
    return PasswordOf(row.id, row.password_hash, row.is_active) if row is not None else None


async def sign_in(
    session: AsyncSession,
    settings: Settings,
    passwords: Passwords,
    user_id: uuid.UUID,
    *,
    password: str,
    ip_address: str,
) -> NewSession:
    """After :func:`check_password`: clear the throttle's count, start the session."""
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("E-mail or password is wrong.")
    if user.password_hash and passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash_in_worker(password)
    await throttle.forgive(session, settings, user.email, ip_address)
    return await start_session(session, settings, user, ip_address)


async def start_session(
    session: AsyncSession, settings: Settings, user: User, ip_address: str
) -> NewSession:
    """A fresh session id at every sign-in (no fixation); old ones stay until they expire."""
    token = new_token(SESSION_TOKEN_PREFIX)
    csrf = new_token("")
    expires_at = utcnow() + timedelta(seconds=settings.session_max_age_seconds)
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=token_digest(token),
            csrf_token=csrf,
            expires_at=expires_at,
            ip_address=ip_address,
        )
    )
    await session.execute(delete(UserSession).where(UserSession.expires_at < utcnow()))
    log.info("auth.login", user_id=str(user.id))
    return NewSession(token=token, csrf_token=csrf, expires_at=expires_at, user=user)


async def logout(session: AsyncSession, session_token: str) -> None:
    await session.execute(
        delete(UserSession).where(UserSession.token_hash == token_digest(session_token))
    )
    log.info("auth.logout")


async def authenticate_session_cookie(session: AsyncSession, token: str) -> Authenticated:
    """The session's user; on PostgreSQL the session scope is then the user's (see
    :func:`load_actor`), written by the same round trip."""
    # One round trip for both: this runs before every cookie-authenticated request.
    writes_scope = writes_scope_in_statements(session, ANONYMOUS)
    statement = _SESSION_AND_USER_WRITING_SCOPE if writes_scope else _SESSION_AND_USER
    now = utcnow()
    params = {"token_hash": token_digest(token), "now": now}
    found = (await execute_core(session, statement, params)).first()
    if found is None or found.expires_at <= now:
        raise Unauthenticated("Your session has ended. Please sign in again.")
    if not found.is_active:
        raise Unauthenticated("This account is disabled.")
    if writes_scope:
        scope_written_by_statement(session, Scope(user_id=found.id))
    user = await adopt(session, User, _user_columns(found._mapping))
    return Authenticated(user=user, via="session", csrf_token=found.csrf_token)


def _user_columns(row: RowMapping) -> dict[str, Any]:
    return {column.name: row[column.name] for column in _users.c}


async def authenticate_bearer(session: AsyncSession, token: str) -> Authenticated:
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("The API token is unknown or revoked.")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated("The API token has expired.")
    if row.last_used_at is None or now - row.last_used_at > TOKEN_TOUCH_INTERVAL:
        row.last_used_at = now
    user = await _active_user(session, row.user_id)
    return Authenticated(
        user=user, via="token", csrf_token=None, token_scopes=frozenset(row.scopes.split())
    )


async def _active_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("This account is disabled.")
    return user


async def create_api_token(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    name: str,
    days: int | None,
    scopes: Sequence[str],
) -> tuple[str, ApiToken]:
    """Returns the token text, which is shown once and never stored."""
    name = name.strip()
    if not name:
        raise InvalidInput("must not be blank", field="name")
    if not scopes:
        raise InvalidInput("name at least one scope: read, decide or manage", field="scopes")
    token = new_token(API_TOKEN_PREFIX)
    lifetime = days if days is not None else settings.api_token_default_ttl_days
    row = ApiToken(
        user_id=user_id,
        name=name,
        prefix=token[:10],
        token_hash=token_digest(token),
        scopes=" ".join(scope for scope in rules.TOKEN_SCOPES if scope in scopes),
        expires_at=utcnow() + timedelta(days=lifetime),
    )
    session.add(row)
    await session.flush()
    log.info("auth.token_created", token_id=str(row.id), user_id=str(user_id))
    return token, row


async def list_api_tokens(session: AsyncSession, user_id: uuid.UUID) -> list[ApiToken]:
    rows = await session.scalars(
        select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at.desc())
    )
    return list(rows)


async def revoke_api_token(session: AsyncSession, user_id: uuid.UUID, token_id: uuid.UUID) -> None:
    row = await session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
    )
    if row is None:
        raise NotFound("No such API token.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        log.info("auth.token_revoked", token_id=str(token_id), user_id=str(user_id))
