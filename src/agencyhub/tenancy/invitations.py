"""Invitations: an admin invites a person by e-mail with a role; the link sets the password.

Delivery is by e-mail once the notifications feature lands; until then the message goes
to the outbox folder (after commit), and the inviter's answer carries the link, except
for an invitation sent through an agency role (only the invited address gets that one).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agencyhub.audit.record import record_event
from agencyhub.config import Settings
from agencyhub.db import Scope, after_commit, set_scope, transaction, utcnow
from agencyhub.errors import Conflict, Gone, InvalidInput, NotFound
from agencyhub.outbox import write_message
from agencyhub.tenancy import rules, throttle
from agencyhub.tenancy.models import Agency, Client, Invitation, Membership, User
from agencyhub.tenancy.rules import Actor
from agencyhub.tenancy.secrets import (
    INVITATION_TOKEN_PREFIX,
    Passwords,
    new_token,
    token_digest,
)
from agencyhub.tenancy.service import (
    client_has_admin,
    enter_agency,
    get_agency_for,
    get_client_for,
    require,
    role_choices,
    same_place,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class NewInvitation:
    invitation: Invitation
    token: str
    # None when the invitation went out through an agency role: only the invited
    # address receives the link, so the agency cannot accept it in the person's name.
    accept_url: str | None


async def invite(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    *,
    agency_id: uuid.UUID,
    client_id: uuid.UUID | None,
    email: str,
    role: str,
    verified_domains: frozenset[str] = frozenset(),
) -> NewInvitation:
    """Invite a person by e-mail; the caller has already entered the tenant."""
    email = rules.normalize_email(email)
    if not rules.is_valid_email(email):
        raise InvalidInput("is not an e-mail address", field="email")
    if not rules.role_fits_scope(role, client_id):
        raise InvalidInput(role_choices(client_id), field="role")
    has_admin = await client_has_admin(session, client_id)
    require(
        rules.can_grant(actor, agency_id, client_id, role, client_has_admin=has_admin),
        _refusal_to_invite(role, client_id, has_admin),
    )
    if not rules.address_allowed(actor, agency_id, client_id, email, verified_domains):
        raise InvalidInput(_domains_hint(verified_domains), field="email")
    for_agency = rules.invites_for_agency(actor, agency_id, client_id)
    if await _has_membership(session, agency_id, client_id, email):
        raise Conflict(f"{email} already has a role here.", field="email")
    await _revoke_pending(session, agency_id, client_id, email)
    token = new_token(INVITATION_TOKEN_PREFIX)
    invitation = Invitation(
        agency_id=agency_id,
        client_id=client_id,
        email=email,
        role=role,
        token_hash=token_digest(token),
        invited_by_id=actor.user_id,
        for_agency=for_agency,
        expires_at=utcnow() + timedelta(hours=settings.invitation_ttl_hours),
    )
    session.add(invitation)
    await session.flush()
    await record_event(
        session,
        type="invitation.created",
        agency_id=agency_id,
        client_id=client_id,
        subject_type="invitation",
        subject_id=invitation.id,
        actor_user_id=actor.user_id,
        payload={"email": email, "role": role, "forAgency": for_agency},
    )
    accept_url = f"{settings.base_url.rstrip('/')}/invitations/{token}"
    after_commit(session, lambda: deliver_invitation(settings, invitation, accept_url))
    shown_url = accept_url if rules.inviter_sees_link(actor, agency_id, client_id) else None
    return NewInvitation(invitation=invitation, token=token, accept_url=shown_url)


def _refusal_to_invite(role: str, client_id: uuid.UUID | None, has_admin: bool) -> str:
    if client_id is None:
        return f"You may not invite {rules.role_phrase(role)}."
    if has_admin:
        return "Only the client's admins invite the client's people."
    return "The agency invites only the client's first admin (role client_admin)."


def _domains_hint(verified_domains: frozenset[str]) -> str:
    if not verified_domains:
        return (
            "must be on one of the client's verified domains, and this client has none yet:"
            " the operator sets them in the tenant file"
        )
    return "must be on one of the client's verified domains: " + ", ".join(sorted(verified_domains))


def deliver_invitation(settings: Settings, invitation: Invitation, accept_url: str) -> None:
    """Until the notifications feature sends mail, the message goes to the outbox folder."""
    outbox = settings.effective_outbox_dir
    if outbox is None:
        log.warning(
            "invitation.undeliverable",
            invitation_id=str(invitation.id),
            reason="no outbox folder (AGENCYHUB_OUTBOX_DIR) and no mail delivery yet",
        )
        return
    path = write_message(
        outbox,
        to=invitation.email,
        subject="Ihre Einladung zu AgencyHub / Your invitation to AgencyHub",
        body=_invitation_text(invitation, accept_url, settings.invitation_ttl_hours),
    )
    log.info("invitation.email", to=invitation.email, role=invitation.role, outbox_file=str(path))


def _invitation_text(invitation: Invitation, accept_url: str, ttl_hours: int) -> str:
    return (
        f"Sie wurden als {invitation.role} zu AgencyHub eingeladen.\n"
        f"Öffnen Sie diesen Link innerhalb von {ttl_hours} Stunden:\n\n{accept_url}\n\n"
        f"You were invited to AgencyHub as {invitation.role}.\n"
        f"Open this link within {ttl_hours} hours:\n\n{accept_url}\n"
    )


async def _has_membership(
    session: AsyncSession, agency_id: uuid.UUID, client_id: uuid.UUID | None, email: str
) -> bool:
    query = (
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(User.email == email, Membership.agency_id == agency_id)
    )
    query = query.where(same_place(Membership.client_id, client_id))
    return await session.scalar(query) is not None


async def _revoke_pending(
    session: AsyncSession, agency_id: uuid.UUID, client_id: uuid.UUID | None, email: str
) -> None:
    """A new invitation replaces an open one for the same person and place."""
    now = utcnow()
    pending = await session.scalars(
        select(Invitation).where(
            Invitation.agency_id == agency_id,
            same_place(Invitation.client_id, client_id),
            Invitation.email == email,
            Invitation.accepted_at.is_(None),
            Invitation.revoked_at.is_(None),
        )
    )
    for old in pending:
        old.revoked_at = now


async def invite_to_agency(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    agency_id: uuid.UUID,
    email: str,
    role: str,
) -> NewInvitation:
    await get_agency_for(session, actor, agency_id)
    return await invite(
        session, settings, actor, agency_id=agency_id, client_id=None, email=email, role=role
    )


async def invite_to_client(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    client_id: uuid.UUID,
    email: str,
    role: str,
) -> NewInvitation:
    client = await get_client_for(session, actor, client_id)
    return await invite(
        session,
        settings,
        actor,
        agency_id=client.agency_id,
        client_id=client.id,
        email=email,
        role=role,
        verified_domains=frozenset(client.verified_domains),
    )


async def list_agency_invitations(
    session: AsyncSession, actor: Actor, agency_id: uuid.UUID
) -> list[Invitation]:
    await get_agency_for(session, actor, agency_id)
    require(
        rules.can_manage_agency(actor, agency_id),
        "Only the agency's owner or admins can see invitations.",
    )
    return await _invitations(session, Invitation.agency_id == agency_id)


async def list_client_invitations(
    session: AsyncSession, actor: Actor, client_id: uuid.UUID
) -> list[Invitation]:
    client = await get_client_for(session, actor, client_id)
    require(
        _sees_invitations_of(actor, client.agency_id, client.id),
        "Only admins can see this client's invitations.",
    )
    return await _invitations(session, Invitation.client_id == client.id)


async def _invitations(session: AsyncSession, condition: object) -> list[Invitation]:
    rows = await session.scalars(
        select(Invitation).where(condition).order_by(Invitation.created_at.desc())  # type: ignore[arg-type]
    )
    return list(rows)


async def revoke_invitation(
    session: AsyncSession, actor: Actor, invitation_id: uuid.UUID
) -> Invitation:
    invitation = await session.scalar(select(Invitation).where(Invitation.id == invitation_id))
    if invitation is None or not _sees_invitations(actor, invitation):
        raise NotFound("No such invitation.")
    await enter_agency(session, invitation.agency_id)
    require(_may_revoke(actor, invitation), "You may not revoke this invitation.")
    if invitation_state(invitation) != "pending":
        raise Conflict(f"The invitation is already {invitation_state(invitation)}.")
    invitation.revoked_at = utcnow()
    await record_event(
        session,
        type="invitation.revoked",
        agency_id=invitation.agency_id,
        client_id=invitation.client_id,
        subject_type="invitation",
        subject_id=invitation.id,
        actor_user_id=actor.user_id,
        payload={"email": invitation.email, "role": invitation.role},
    )
    return invitation


def _sees_invitations(actor: Actor, invitation: Invitation) -> bool:
    return _sees_invitations_of(actor, invitation.agency_id, invitation.client_id)


def _sees_invitations_of(actor: Actor, agency_id: uuid.UUID, client_id: uuid.UUID | None) -> bool:
    """The client's admins see its invitations; the agency's owner and admins see all."""
    if client_id is not None and rules.is_client_admin(actor, agency_id, client_id):
        return True
    return rules.can_manage_agency(actor, agency_id)


def _may_revoke(actor: Actor, invitation: Invitation) -> bool:
    """Whoever could send it takes it back; the agency also its own first-admin invitation
    after the client got an admin (withdrawing adds no authority)."""
    agency_id, client_id = invitation.agency_id, invitation.client_id
    if client_id is None:
        return rules.can_grant(actor, agency_id, None, invitation.role, client_has_admin=False)
    if rules.is_client_admin(actor, agency_id, client_id):
        return True
    return invitation.for_agency and rules.can_manage_agency(actor, agency_id)


def invitation_state(invitation: Invitation) -> str:
    return rules.invitation_state(
        now=utcnow(),
        expires_at=invitation.expires_at,
        accepted_at=invitation.accepted_at,
        revoked_at=invitation.revoked_at,
    )


@dataclass(frozen=True, slots=True)
class InvitationDetails:
    invitation: Invitation
    agency: Agency
    client: Client | None
    existing_user: User | None


async def open_invitation(session: AsyncSession, token: str) -> InvitationDetails:
    """Find a pending invitation by its secret, across tenants (named system scope)."""
    await set_scope(session, Scope.for_system("invitation.open"))
    invitation = await session.scalar(
        select(Invitation).where(Invitation.token_hash == token_digest(token))
    )
    if invitation is None:
        raise NotFound("This invitation link is not valid.")
    state = invitation_state(invitation)
    if state != "pending":
        raise Gone(f"This invitation is {state}. Ask for a new one.")
    agency = await session.get(Agency, invitation.agency_id)
    client = await session.get(Client, invitation.client_id) if invitation.client_id else None
    user = await session.scalar(select(User).where(User.email == invitation.email))
    assert agency is not None
    return InvitationDetails(
        invitation=invitation, agency=agency, client=client, existing_user=user
    )


@dataclass(frozen=True, slots=True)
class PasswordProof:
    """What the first step of accepting settled about the password."""

    proven_hash: str | None  # the existing account's hash the password matched
    new_hash: str | None  # the new account's hash


async def settle_password(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    passwords: Passwords,
    *,
    token: str,
    password: str,
    ip_address: str,
) -> PasswordProof:
    """The first step of accepting: prove or hash the password, holding no database
    connection while argon2 runs.

    An account that already has a password must prove it: the link alone must never
    take over an existing account. Such proofs count as sign-in attempts.
    """
    async with transaction(sessions) as session:
        details = await open_invitation(session, token)
    email, user = details.invitation.email, details.existing_user
    if user is not None and user.password_hash:
        async with passwords.admission():
            async with transaction(sessions) as session:
                await throttle.admit(session, settings, email, ip_address, utcnow())
            ok = await passwords.verify_in_worker(user.password_hash, password)
        if not ok:
            log.info("auth.login_failed", ip_address=ip_address)
            raise InvalidInput(
                "does not match the password of your existing account", field="password"
            )
        return PasswordProof(proven_hash=user.password_hash, new_hash=None)
    problem = rules.password_problem(password)
    if problem:
        raise InvalidInput(problem, field="password")
    async with passwords.admission():
        return PasswordProof(proven_hash=None, new_hash=await passwords.hash_in_worker(password))


async def accept_invitation_link(
    session: AsyncSession,
    settings: Settings,
    proof: PasswordProof,
    *,
    token: str,
    name: str,
    ip_address: str,
) -> User:
    """Accept an invitation: create or complete the account, grant the membership once."""
    details = await open_invitation(session, token)
    invitation, user = details.invitation, details.existing_user
    existing_hash = user.password_hash if user is not None else None
    if existing_hash != proof.proven_hash:
        # The account got or changed its password between the two steps.
        raise Conflict("The account changed meanwhile. Please try again.")
    if user is not None and existing_hash:
        await throttle.forgive(session, settings, invitation.email, ip_address)
    else:
        if user is None:
            user = User(email=invitation.email)
            session.add(user)
        user.password_hash = proof.new_hash
        user.password_changed_at = utcnow()
    if name.strip() and not user.name:
        user.name = name.strip()
    await session.flush()
    membership = await _grant_membership(session, invitation, user)
    invitation.accepted_at = utcnow()
    for event_type, subject_type, subject_id in (
        ("invitation.accepted", "invitation", invitation.id),
        ("membership.created", "membership", membership.id),
    ):
        await record_event(
            session,
            type=event_type,
            agency_id=invitation.agency_id,
            client_id=invitation.client_id,
            subject_type=subject_type,
            subject_id=subject_id,
            actor_user_id=user.id,
            # userId: the person's open live connections re-read their grants at once.
            payload={"email": invitation.email, "role": invitation.role, "userId": str(user.id)},
        )
    return user


async def _grant_membership(
    session: AsyncSession, invitation: Invitation, user: User
) -> Membership:
    query = select(Membership).where(
        Membership.user_id == user.id, Membership.agency_id == invitation.agency_id
    )
    membership = await session.scalar(
        query.where(same_place(Membership.client_id, invitation.client_id))
    )
    if membership is None:
        membership = Membership(
            agency_id=invitation.agency_id,
            client_id=invitation.client_id,
            user_id=user.id,
            role=invitation.role,
            invited_by_agency=invitation.for_agency,
        )
        session.add(membership)
    else:
        membership.role = invitation.role
        if invitation.for_agency:
            # A role the agency handed out needs a client admin's word again.
            membership.invited_by_agency, membership.confirmed_at = True, None
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent accept of the same invitation
        raise Conflict("This invitation was just accepted.") from exc
    return membership
