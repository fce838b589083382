"""Roles and what they may do (DESIGN §2), as pure functions of memberships.

No I/O here: the service loads the caller's memberships once and asks these
functions. Anything not granted is refused; the service turns a refusal on a
foreign object into "not found" so ids cannot be probed.
"""

from __future__ import annotations

import functools
import math
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import available_timezones


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    EDITOR = "editor"
    CLIENT_ADMIN = "client_admin"
    APPROVER = "approver"
    EXECUTIVE = "executive"
    VIEWER = "viewer"


AGENCY_ROLES: frozenset[str] = frozenset({Role.OWNER, Role.ADMIN, Role.EDITOR})
CLIENT_ROLES: frozenset[str] = frozenset(
    {Role.CLIENT_ADMIN, Role.APPROVER, Role.EXECUTIVE, Role.VIEWER}
)
ALL_ROLES: frozenset[str] = AGENCY_ROLES | CLIENT_ROLES
AGENCY_MANAGERS: frozenset[str] = frozenset({Role.OWNER, Role.ADMIN})
SUPPORTED_LOCALES: frozenset[str] = frozenset({"de", "en"})
SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD_LENGTH = 10
DOMAIN_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MAX_VERIFIED_DOMAINS = 20


@dataclass(frozen=True, slots=True)
class Grant:
    """One membership as the rules see it."""

    membership_id: uuid.UUID
    agency_id: uuid.UUID
    client_id: uuid.UUID | None
    role: str
    # An agency editor works only for the clients assigned to them.
    assigned_client_ids: frozenset[uuid.UUID] = frozenset()
    # A client membership the agency created (its first admin) counts for deciding only
    # once another of the client's admins confirmed it.
    confirmed: bool = True

    @property
    def is_agency_level(self) -> bool:
        return self.client_id is None

    @property
    def sees_every_client(self) -> bool:
        return self.is_agency_level and self.role in AGENCY_MANAGERS

    def covers_client(self, client_id: uuid.UUID) -> bool:
        """An agency-level grant that acts for this client (managers: every client)."""
        return self.is_agency_level and (
            self.role in AGENCY_MANAGERS or client_id in self.assigned_client_ids
        )


@dataclass(frozen=True, slots=True)
class Actor:
    """The signed-in caller and everything they hold."""

    user_id: uuid.UUID
    grants: tuple[Grant, ...]

    @property
    def agency_ids(self) -> frozenset[uuid.UUID]:
        return frozenset(grant.agency_id for grant in self.grants)

    def agency_grant(self, agency_id: uuid.UUID) -> Grant | None:
        for grant in self.grants:
            if grant.agency_id == agency_id and grant.is_agency_level:
                return grant
        return None

    def agency_role(self, agency_id: uuid.UUID) -> str | None:
        grant = self.agency_grant(agency_id)
        return grant.role if grant else None

    def client_grant(self, agency_id: uuid.UUID, client_id: uuid.UUID) -> Grant | None:
        for grant in self.grants:
            if grant.agency_id == agency_id and grant.client_id == client_id:
                return grant
        return None

    def client_role(self, agency_id: uuid.UUID, client_id: uuid.UUID) -> str | None:
        grant = self.client_grant(agency_id, client_id)
        return grant.role if grant else None


def agency_role_at_client(actor: Actor, agency_id: uuid.UUID, client_id: uuid.UUID) -> str | None:
    """The actor's agency role, if it acts for this client: owners and admins act for
    every client of the agency, an editor only for the clients assigned to them."""
    grant = actor.agency_grant(agency_id)
    return grant.role if grant is not None and grant.covers_client(client_id) else None


def role_at_client(actor: Actor, agency_id: uuid.UUID, client_id: uuid.UUID) -> str | None:
    """The role the actor acts in for this client: their agency role where it reaches
    the client, else their client role."""
    return agency_role_at_client(actor, agency_id, client_id) or actor.client_role(
        agency_id, client_id
    )


def can_view_agency(actor: Actor, agency_id: uuid.UUID) -> bool:
    """Agency staff see their agency (its own page, its people, agency-wide events);
    which of its clients they see is :func:`can_view_client`'s answer."""
    return actor.agency_role(agency_id) is not None


def can_assign_editors(actor: Actor, agency_id: uuid.UUID) -> bool:
    """Who assigns editors to clients: the agency's owner and admins."""
    return can_manage_agency(actor, agency_id)


def is_assignable(role: str, client_id: uuid.UUID | None) -> bool:
    """Only agency editors are assigned; owners and admins see every client anyway."""
    return client_id is None and role == Role.EDITOR


def can_manage_agency(actor: Actor, agency_id: uuid.UUID) -> bool:
    return actor.agency_role(agency_id) in AGENCY_MANAGERS


def can_view_client(actor: Actor, agency_id: uuid.UUID, client_id: uuid.UUID) -> bool:
    return role_at_client(actor, agency_id, client_id) is not None


def can_manage_client_record(actor: Actor, agency_id: uuid.UUID) -> bool:
    """Create, rename, archive a client company: the agency's owner and admins."""
    return can_manage_agency(actor, agency_id)


def invitable_roles(
    actor: Actor, agency_id: uuid.UUID, client_id: uuid.UUID | None, *, client_has_admin: bool
) -> frozenset[str]:
    """Which roles the actor may hand out at agency level or for one client.

    The client keeps authority over its own people: its admins invite anyone, the
    agency's owner and admins only the client's first admin (and only while it has none).
    """
    agency_role = actor.agency_role(agency_id)
    if client_id is None:
        if agency_role == Role.OWNER:
            return AGENCY_ROLES
        if agency_role == Role.ADMIN:
            return frozenset({Role.ADMIN, Role.EDITOR})
        return frozenset()
    if is_client_admin(actor, agency_id, client_id):
        return CLIENT_ROLES
    if agency_role in AGENCY_MANAGERS and not client_has_admin:
        return frozenset({Role.CLIENT_ADMIN})
    return frozenset()


def is_client_admin(actor: Actor, agency_id: uuid.UUID, client_id: uuid.UUID) -> bool:
    return actor.client_role(agency_id, client_id) == Role.CLIENT_ADMIN


def can_grant(
    actor: Actor,
    agency_id: uuid.UUID,
    client_id: uuid.UUID | None,
    role: str,
    *,
    client_has_admin: bool,
) -> bool:
    return role in invitable_roles(actor, agency_id, client_id, client_has_admin=client_has_admin)


def invites_for_agency(actor: Actor, agency_id: uuid.UUID, client_id: uuid.UUID | None) -> bool:
    """A client invitation sent through the actor's agency role, not as the client's admin:
    the membership it creates is marked and awaits a client admin's confirmation."""
    return client_id is not None and not is_client_admin(actor, agency_id, client_id)


def inviter_sees_link(actor: Actor, agency_id: uuid.UUID, client_id: uuid.UUID | None) -> bool:
    """Whether the answer to the inviter carries the invitation link. Not for the agency's
    client invitations: a link the agency could open itself would let it accept in the
    client admin's name."""
    return not invites_for_agency(actor, agency_id, client_id)


def address_allowed(
    actor: Actor,
    agency_id: uuid.UUID,
    client_id: uuid.UUID | None,
    email: str,
    verified_domains: frozenset[str],
) -> bool:
    """The agency invites a client's first admin only to the client's own domains, so the
    link reaches a mailbox the client controls; the client's admins invite anyone."""
    if not invites_for_agency(actor, agency_id, client_id):
        return True
    return email_domain(email) in verified_domains


def can_change_membership(
    actor: Actor, target: Grant, new_role: str | None, *, client_has_admin: bool
) -> bool:
    """Change (``new_role``) or remove (``None``) someone's membership.

    At a client, its admins change anyone; the agency's owner and admins may only remove
    people, and only while the client has no admin of its own.
    """
    if target.client_id is None:
        granting = functools.partial(
            can_grant, actor, target.agency_id, None, client_has_admin=False
        )
        return granting(target.role) and (new_role is None or granting(new_role))
    if is_client_admin(actor, target.agency_id, target.client_id):
        return True
    return new_role is None and not client_has_admin and can_manage_agency(actor, target.agency_id)


def can_confirm_membership(actor: Actor, target: Grant) -> bool:
    """A client admin, confirmed themselves, vouches for a membership the agency created;
    nobody confirms their own."""
    if target.client_id is None or target.confirmed:
        return False
    own = actor.client_grant(target.agency_id, target.client_id)
    return (
        own is not None
        and own.role == Role.CLIENT_ADMIN
        and own.confirmed
        and own.membership_id != target.membership_id
    )


def can_set_verified_domains(actor: Actor, agency_id: uuid.UUID, client_id: uuid.UUID) -> bool:
    """The domains decide where the agency may invite the client's first admin, so the
    agency never sets them: the client's admins do (and the operator, in tenant files)."""
    return is_client_admin(actor, agency_id, client_id)


def awaits_confirmation(actor: Actor, agency_id: uuid.UUID, client_id: uuid.UUID) -> bool:
    """The actor acts at this client through a membership the agency created that no
    client admin confirmed yet: it may not decide."""
    if agency_role_at_client(actor, agency_id, client_id) is not None:
        return False
    grant = actor.client_grant(agency_id, client_id)
    return grant is not None and not grant.confirmed


def would_orphan_agency(target: Grant, new_role: str | None, owner_count: int) -> bool:
    """An agency must keep at least one owner."""
    losing_owner = target.role == Role.OWNER and new_role != Role.OWNER
    return losing_owner and owner_count <= 1


def role_fits_scope(role: str, client_id: uuid.UUID | None) -> bool:
    return role in (AGENCY_ROLES if client_id is None else CLIENT_ROLES)


def role_phrase(role: str | None, *, start: bool = False) -> str:
    """A role in a sentence: "an owner", "a client admin" ("An …" to start one)."""
    if not role:
        phrase = "someone without a role here"
    else:
        words = role.replace("_", " ")
        phrase = f"{'an' if words[0] in 'aeiou' else 'a'} {words}"
    return phrase[0].upper() + phrase[1:] if start else phrase


def normalize_email(email: str) -> str:
    return email.strip().lower()


def is_valid_email(email: str) -> bool:
    return len(email) <= 320 and EMAIL_PATTERN.match(email) is not None


def email_domain(email: str) -> str | None:
    """The normalised domain of an address (IDNA, lower case), or ``None``."""
    _, at, domain = email.rpartition("@")
    return normalize_domain(domain) if at else None


def normalize_domain(text: str) -> str | None:
    """``Bäckerei.example.`` → ``xn--bckerei-5wa.example``; ``None`` if not a host name
    with at least two labels."""
    name = text.strip().rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2:
        return None
    return name if all(DOMAIN_LABEL.match(label) for label in labels) else None


def is_valid_slug(slug: str) -> bool:
    return SLUG_PATTERN.match(slug) is not None


def is_known_timezone(name: str) -> bool:
    return name in _timezones()


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or ``None``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters long"
    if len(password) > 1024:
        return "must be at most 1024 characters long"
    return None


# --- API token scopes ------------------------------------------------------------------
#
# A token can always read; every write needs ``manage``, except the routes that decide
# on a draft, which need ``decide``; no token creates tokens (a leaked token must not
# outlive its own revocation by minting another).

TOKEN_SCOPES = ("read", "decide", "manage")
NEVER_BY_TOKEN = "never"
SAFE_HTTP_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def scope_needed(method: str, route_scope: str | None) -> str:
    """The scope a token needs for this route: what the route names, else by method."""
    if route_scope is not None:
        return route_scope
    return "read" if method in SAFE_HTTP_METHODS else "manage"


def token_may(scopes: frozenset[str], needed: str) -> bool:
    if needed == NEVER_BY_TOKEN:
        return False
    return needed == "read" or needed in scopes


# --- the sign-in throttle -----------------------------------------------------------
#
# Each password check is counted *before* it runs, as if it failed; a successful
# sign-in takes its own count back. After ``free`` counted attempts each further one
# waits twice as long as the one before (1 s, 2 s, 4 s … up to ``max_delay``), and a
# quiet ``forget_after`` clears the count. Nothing locks an account: the counts are
# kept per account *and address*, so guesses from elsewhere never slow the owner down
# at her own address.


@dataclass(frozen=True, slots=True)
class ThrottleState:
    attempts: int = 0
    blocked_until: datetime | None = None
    last_attempt_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    free: int
    max_delay: timedelta
    forget_after: timedelta


@dataclass(frozen=True, slots=True)
class Admitted:
    state: ThrottleState


@dataclass(frozen=True, slots=True)
class Refused:
    retry_after_seconds: int


def throttle_delay(attempts: int, policy: ThrottlePolicy) -> timedelta:
    """How long the next attempt waits after ``attempts`` counted ones."""
    if attempts < policy.free:
        return timedelta(0)
    # Capped exponent: 2**40 s is far past any sensible max_delay already.
    doubling = timedelta(seconds=2 ** min(attempts - policy.free, 40))
    return min(doubling, policy.max_delay)


def admit_attempt(
    state: ThrottleState, policy: ThrottlePolicy, now: datetime
) -> Admitted | Refused:
    """Count one more password check, or say how long to wait before the next."""
    if state.last_attempt_at is not None and now - state.last_attempt_at >= policy.forget_after:
        state = ThrottleState()
    if state.blocked_until is not None and now < state.blocked_until:
        wait = (state.blocked_until - now).total_seconds()
        return Refused(retry_after_seconds=max(1, math.ceil(wait)))
    attempts = state.attempts + 1
    delay = throttle_delay(attempts, policy)
    return Admitted(
        ThrottleState(
            attempts=attempts,
            blocked_until=now + delay if delay else None,
            last_attempt_at=now,
        )
    )


def forgive_attempt(state: ThrottleState, policy: ThrottlePolicy) -> ThrottleState:
    """The count after a counted attempt turned out to be the right password."""
    attempts = max(0, state.attempts - 1)
    blocked_until = state.blocked_until if throttle_delay(attempts, policy) else None
    return ThrottleState(attempts, blocked_until, state.last_attempt_at)


def invitation_state(
    *,
    now: datetime,
    expires_at: datetime,
    accepted_at: datetime | None,
    revoked_at: datetime | None,
) -> str:
    """``pending``, ``accepted``, ``revoked`` or ``expired``."""
    if accepted_at is not None:
        return "accepted"
    if revoked_at is not None:
        return "revoked"
    if now >= expires_at:
        return "expired"
    return "pending"
