"""Use cases of the tenancy feature: agencies, clients, memberships, invitations.

Every lookup of a tenant-owned object goes through a ``get_<thing>_for(actor, id)``
access function that answers the same :class:`NotFound` for missing and foreign,
and enters the object's tenant for the rest of the transaction. A visible object
acted on without the role for it answers :class:`Forbidden`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from agencyhub.approvals.policy_store import impossible_after_change
from agencyhub.audit.record import record_event
from agencyhub.db import enter_tenant, utcnow
from agencyhub.errors import Conflict, Forbidden, InvalidInput, NotFound, PolicyWouldBreak
from agencyhub.tenancy import rules
from agencyhub.tenancy.models import Agency, Client, Membership, User
from agencyhub.tenancy.rules import Actor, Grant, Role
from agencyhub.tenancy.schemas import ClientCreate, ClientUpdate

log = structlog.get_logger(__name__)


# --- access functions -------------------------------------------------------------


async def get_agency_for(session: AsyncSession, actor: Actor, agency_id: uuid.UUID) -> Agency:
    """The agency, if the actor belongs to it at all (client people included)."""
    if agency_id not in actor.agency_ids:
        raise NotFound("No such agency.")
    await enter_agency(session, agency_id)
    agency = await session.get(Agency, agency_id)
    if agency is None:
        raise NotFound("No such agency.")
    return agency


async def get_client_for(session: AsyncSession, actor: Actor, client_id: uuid.UUID) -> Client:
    client = await session.scalar(select(Client).where(Client.id == client_id))
    if client is None or not rules.can_view_client(actor, client.agency_id, client.id):
        raise NotFound("No such client.")
    await enter_agency(session, client.agency_id)
    return client


async def enter_agency(session: AsyncSession, agency_id: uuid.UUID) -> None:
    await enter_tenant(session, agency_id)
    structlog.contextvars.bind_contextvars(agency_id=str(agency_id))


def require(allowed: bool, detail: str) -> None:
    if not allowed:
        raise Forbidden(detail)


# --- agencies and clients -----------------------------------------------------------


async def get_agency(session: AsyncSession, actor: Actor, agency_id: uuid.UUID) -> Agency:
    agency = await get_agency_for(session, actor, agency_id)
    require(rules.can_view_agency(actor, agency_id), "Only agency staff can see the agency.")
    return agency


async def list_clients(
    session: AsyncSession, actor: Actor, agency_id: uuid.UUID, *, include_archived: bool
) -> list[Client]:
    await get_agency_for(session, actor, agency_id)
    query = select(Client).where(Client.agency_id == agency_id).order_by(Client.name)
    if not include_archived:
        query = query.where(Client.archived_at.is_(None))
    clients = (await session.scalars(query)).all()
    return [c for c in clients if rules.can_view_client(actor, agency_id, c.id)]


async def create_client(
    session: AsyncSession, actor: Actor, agency_id: uuid.UUID, data: ClientCreate
) -> Client:
    await get_agency_for(session, actor, agency_id)
    require(
        rules.can_manage_client_record(actor, agency_id),
        "Only the agency's owner or admins can add clients.",
    )
    _check_client_fields(timezone=data.timezone, locale=data.locale, name=data.name)
    taken = await session.scalar(
        select(Client.id).where(Client.agency_id == agency_id, Client.slug == data.slug)
    )
    if taken is not None:
        raise Conflict(f"A client with the slug '{data.slug}' already exists.", field="slug")
    client = Client(
        agency_id=agency_id,
        slug=data.slug,
        name=data.name.strip(),
        timezone=data.timezone,
        locale=data.locale,
    )
    session.add(client)
    await session.flush()
    await record_event(
        session,
        type="client.created",
        agency_id=agency_id,
        client_id=client.id,
        subject_type="client",
        subject_id=client.id,
        actor_user_id=actor.user_id,
        payload={"slug": client.slug, "name": client.name},
    )
    return client


async def update_client(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, data: ClientUpdate
) -> Client:
    client = await get_client_for(session, actor, client_id)
    require(
        rules.can_manage_client_record(actor, client.agency_id),
        "Only the agency's owner or admins can change a client.",
    )
    changes = {
        name: value
        for name, value in msgspec.structs.asdict(data).items()
        if value is not msgspec.UNSET and getattr(client, name) != value
    }
    _check_client_fields(
        timezone=changes.get("timezone"), locale=changes.get("locale"), name=changes.get("name")
    )
    if not changes:
        return client
    for name, value in changes.items():
        setattr(client, name, value.strip() if name == "name" else value)
    await record_event(
        session,
        type="client.updated",
        agency_id=client.agency_id,
        client_id=client.id,
        subject_type="client",
        subject_id=client.id,
        actor_user_id=actor.user_id,
        payload={"changes": changes},
    )
    return client


async def set_client_archived(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, *, archived: bool
) -> Client:
    client = await get_client_for(session, actor, client_id)
    require(
        rules.can_manage_client_record(actor, client.agency_id),
        "Only the agency's owner or admins can archive a client.",
    )
    if (client.archived_at is not None) == archived:
        return client
    client.archived_at = utcnow() if archived else None
    await record_event(
        session,
        type="client.archived" if archived else "client.restored",
        agency_id=client.agency_id,
        client_id=client.id,
        subject_type="client",
        subject_id=client.id,
        actor_user_id=actor.user_id,
    )
    return client


def _check_client_fields(*, timezone: str | None, locale: str | None, name: str | None) -> None:
    if timezone is not None and not rules.is_known_timezone(timezone):
        raise InvalidInput(f"'{timezone}' is not an IANA time zone", field="timezone")
    if locale is not None and locale not in rules.SUPPORTED_LOCALES:
        supported = ", ".join(sorted(rules.SUPPORTED_LOCALES))
        raise InvalidInput(f"must be one of {supported}", field="locale")
    if name is not None and not name.strip():
        raise InvalidInput("must not be blank", field="name")


# --- memberships ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    membership: Membership
    user: User


async def list_agency_members(
    session: AsyncSession, actor: Actor, agency_id: uuid.UUID
) -> list[Member]:
    await get_agency_for(session, actor, agency_id)
    require(
        rules.can_view_agency(actor, agency_id), "Only agency staff can list the agency's people."
    )
    members = await _members(session, Membership.agency_id == agency_id)
    # An editor sees the people of the clients assigned to them, not of every client.
    return [m for m in members if _can_see_membership(actor, m.membership)]


async def list_client_members(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID
) -> list[Member]:
    client = await get_client_for(session, actor, client_id)
    return await _members(session, Membership.client_id == client.id)


async def _members(session: AsyncSession, condition: object) -> list[Member]:
    rows = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(condition)  # type: ignore[arg-type]
        .order_by(Membership.client_id.is_not(None), User.email)
    )
    return [Member(membership=m, user=u) for m, u in rows]


async def get_membership_for(
    session: AsyncSession, actor: Actor, membership_id: uuid.UUID
) -> Membership:
    membership = await session.scalar(select(Membership).where(Membership.id == membership_id))
    if membership is None or not _can_see_membership(actor, membership):
        raise NotFound("No such membership.")
    await enter_agency(session, membership.agency_id)
    return membership


def _can_see_membership(actor: Actor, membership: Membership) -> bool:
    if membership.user_id == actor.user_id:
        return True
    if membership.client_id is None:
        return rules.can_view_agency(actor, membership.agency_id)
    return rules.can_view_client(actor, membership.agency_id, membership.client_id)


async def client_has_admin(session: AsyncSession, client_id: uuid.UUID | None) -> bool:
    """Whether the client has an admin of its own: from then on only they manage its people."""
    if client_id is None:
        return False
    query = select(Membership.id).where(
        Membership.client_id == client_id, Membership.role == Role.CLIENT_ADMIN
    )
    return await session.scalar(query.limit(1)) is not None


async def change_membership(
    session: AsyncSession,
    actor: Actor,
    membership_id: uuid.UUID,
    new_role: str | None,
    *,
    force: bool = False,
) -> Membership | None:
    """Change someone's role, or remove the membership when ``new_role`` is None.

    A change that would leave the client's approval policy impossible is refused with a
    warning naming what breaks, unless ``force``: the admin may fix the policy next.
    """
    membership = await get_membership_for(session, actor, membership_id)
    target = _grant_of(membership)
    if new_role is not None and not rules.role_fits_scope(new_role, membership.client_id):
        raise InvalidInput(role_choices(membership.client_id), field="role")
    has_admin = await client_has_admin(session, membership.client_id)
    require(
        rules.can_change_membership(actor, target, new_role, client_has_admin=has_admin),
        _refusal_to_change(membership),
    )
    owners = await _owner_count(session, membership.agency_id)
    if rules.would_orphan_agency(target, new_role, owners):
        raise Conflict("The agency must keep at least one owner.")
    if new_role != membership.role:
        await _warn_if_policy_breaks(session, membership, new_role, force=force)
    event_payload = {"userId": str(membership.user_id), "role": membership.role}
    if new_role is None:
        await session.delete(membership)
        event_type = "membership.removed"
    elif new_role == membership.role:
        return membership
    else:
        event_payload["newRole"] = new_role
        membership.role = new_role
        event_type = "membership.updated"
    await record_event(
        session,
        type=event_type,
        agency_id=target.agency_id,
        client_id=target.client_id,
        subject_type="membership",
        subject_id=target.membership_id,
        actor_user_id=actor.user_id,
        payload=event_payload,
    )
    return None if new_role is None else membership


async def _warn_if_policy_breaks(
    session: AsyncSession, membership: Membership, new_role: str | None, *, force: bool
) -> None:
    broken = await impossible_after_change(session, membership, new_role)
    if not broken:
        return
    severities = ", ".join(severity for severity, _ in broken)
    if force:
        log.info("membership.policy_left_impossible", severities=severities)
        return
    change = "Removing this person" if new_role is None else "This role change"
    raise PolicyWouldBreak(
        f"{change} leaves the approval policy impossible for {severities} items: "
        + "; ".join(f"{severity} {message}" for severity, message in broken)
        + ". Change the approval policy first, or repeat the change with force=true.",
        errors=[{"field": severity, "message": message} for severity, message in broken],
    )


async def _owner_count(session: AsyncSession, agency_id: uuid.UUID) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.agency_id == agency_id, Membership.role == Role.OWNER)
        )
        or 0
    )


def _refusal_to_change(membership: Membership) -> str:
    if membership.client_id is None:
        return "You may not change this person's role."
    return "Only the client's admins change or remove the client's people."


async def confirm_membership(
    session: AsyncSession, actor: Actor, membership_id: uuid.UUID
) -> Membership:
    """A client admin vouches for a membership the agency created: it may decide from now."""
    membership = await get_membership_for(session, actor, membership_id)
    if membership.confirmed:
        raise Conflict("This membership needs no confirmation.")
    require(
        rules.can_confirm_membership(actor, _grant_of(membership)),
        "Only another of the client's confirmed admins can confirm this membership.",
    )
    membership.confirmed_at = utcnow()
    membership.confirmed_by_id = actor.user_id
    await record_event(
        session,
        type="membership.confirmed",
        agency_id=membership.agency_id,
        client_id=membership.client_id,
        subject_type="membership",
        subject_id=membership.id,
        actor_user_id=actor.user_id,
        payload={"userId": str(membership.user_id), "role": membership.role},
    )
    return membership


def _grant_of(membership: Membership) -> Grant:
    return Grant(
        membership_id=membership.id,
        agency_id=membership.agency_id,
        client_id=membership.client_id,
        role=membership.role,
        confirmed=membership.confirmed,
    )


# --- verified domains ----------------------------------------------------------------


async def set_verified_domains(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID, domains: list[str]
) -> Client:
    """The client's admins name the domains where the agency may invite its first admin."""
    client = await get_client_for(session, actor, client_id)
    require(
        rules.can_set_verified_domains(actor, client.agency_id, client.id),
        "Only the client's admins set its verified domains.",
    )
    wanted = verified_domains_from(domains)
    if wanted == list(client.verified_domains):
        return client
    previous = list(client.verified_domains)
    client.verified_domains = wanted
    await record_event(
        session,
        type="client.domains_changed",
        agency_id=client.agency_id,
        client_id=client.id,
        subject_type="client",
        subject_id=client.id,
        actor_user_id=actor.user_id,
        payload={"domains": wanted, "previous": previous},
    )
    return client


def verified_domains_from(domains: list[str]) -> list[str]:
    """Normalised, sorted and unique; a precise error for the first bad one."""
    if len(domains) > rules.MAX_VERIFIED_DOMAINS:
        raise InvalidInput(f"at most {rules.MAX_VERIFIED_DOMAINS} domains", field="domains")
    normalised: set[str] = set()
    for index, text in enumerate(domains):
        domain = rules.normalize_domain(text)
        if domain is None:
            raise InvalidInput(
                f"'{text}' is not a domain name like 'example.com'", field=f"domains[{index}]"
            )
        normalised.add(domain)
    return sorted(normalised)


def same_place(client_column: Any, client_id: uuid.UUID | None) -> ColumnElement[bool]:
    """Agency level (no client) or exactly this client."""
    if client_id is None:
        return client_column.is_(None)  # type: ignore[no-any-return]
    return client_column == client_id  # type: ignore[no-any-return]


def role_choices(client_id: uuid.UUID | None) -> str:
    roles = rules.AGENCY_ROLES if client_id is None else rules.CLIENT_ROLES
    return "must be one of " + ", ".join(sorted(roles))


# --- the caller's own memberships ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class MembershipView:
    grant: Grant
    agency: Agency
    client: Client | None


async def describe_memberships(session: AsyncSession, actor: Actor) -> list[MembershipView]:
    """Each of the actor's grants with the names of its agency and client."""
    if not actor.grants:
        return []
    agencies = {
        a.id: a
        for a in await session.scalars(select(Agency).where(Agency.id.in_(actor.agency_ids)))
    }
    client_ids = [g.client_id for g in actor.grants if g.client_id is not None]
    clients = {
        c.id: c for c in await session.scalars(select(Client).where(Client.id.in_(client_ids)))
    }
    return [
        MembershipView(
            grant=g,
            agency=agencies[g.agency_id],
            client=clients.get(g.client_id) if g.client_id else None,
        )
        for g in actor.grants
        if g.agency_id in agencies
    ]
