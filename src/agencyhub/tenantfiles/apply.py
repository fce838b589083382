"""What tenant files declare (specs), applied to the database and read back from it.

Files themselves (parsing, validation with line numbers, rendering) and the public
entry points are in ``tenantfiles.files``; this module is the database side and knows no
TOML. It defines the spec types so that imports point one way: files -> apply.

Apply is a create-or-update of agencies, clients, users and memberships in one
system-scope transaction: all files or nothing. It deletes only when asked to
(``prune``): then, in the files' agencies, memberships, editor assignments and
pending invitations the files no longer name are removed, and clients they no longer
name are archived (a client's drafts and audit trail must outlive it). A dry run
does all of it and rolls back, so its report is exactly what a real run would do.
Concurrent applies are serialised (:func:`agencyhub.db.serialise_writers`): the
second one sees what the first committed, instead of failing on a unique key. Only
attributes that differ are assigned, so re-applying the same files writes nothing and
reports no changes (``updated_at`` has ``onupdate``: a same-value assignment would
still be an UPDATE). Every change is recorded as an audit event with
``"source": "tenant file"``.

A client's SLA policy, templates, emergency plan and rota are applied after its
people (they name them) by ``tenantfiles.escalation``, in the same transaction.

People's own settings win: an existing user's name is only filled in when empty, and
their locale is never changed (both are set from the file when the user is created).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.audit.record import record_event
from agencyhub.config import Settings
from agencyhub.db import Database, Scope, serialise_writers, transaction, utcnow
from agencyhub.errors import NotFound
from agencyhub.tenancy import invitations
from agencyhub.tenancy.models import (
    Agency,
    Client,
    ClientAssignment,
    Invitation,
    Membership,
    User,
)
from agencyhub.tenancy.rules import Role
from agencyhub.tenancy.secrets import (
    INVITATION_TOKEN_PREFIX,
    Passwords,
    new_token,
    token_digest,
)
from agencyhub.tenantfiles.escalation import (
    EscalationConflict,
    PlanSpec,
    RotaSpec,
    SlaPolicySpec,
    TemplateSpec,
    apply_escalation,
    file_label,
    read_escalation,
)

__all__ = [
    "AgencySpec",
    "ApplyReport",
    "ClientSpec",
    "PersonSpec",
    "Problem",
    "TenantFileConflict",
    "TenantFileInvalid",
    "TenantSpec",
    "apply_specs",
    "read_agency_spec",
]

log = structlog.get_logger(__name__)

SOURCE = "tenant file"
TENANT_APPLY_LOCK = 0x41485446  # "AHTF": one tenant-file apply at a time
DEFAULT_PLAN = "starter"
DEFAULT_LOCALE = "de"

# --- specs and problems -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a tenant file, where it is, and what to do."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class TenantFileInvalid(Exception):
    """The files have problems; nothing was applied."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class TenantFileConflict(TenantFileInvalid):
    """The files are valid but disagree with the database; nothing was applied."""


@dataclass(frozen=True, slots=True)
class PersonSpec:
    """A person and their role in one place. ``line`` is that of their e-mail."""

    email: str  # normalised
    role: str
    name: str = ""  # empty: not given
    locale: str | None = None  # None: the place's default
    line: int = 0
    clients: tuple[str, ...] = ()  # an agency editor's assigned clients, by slug


@dataclass(frozen=True, slots=True)
class ClientSpec:
    slug: str
    name: str
    timezone: str
    locale: str = DEFAULT_LOCALE
    people: tuple[PersonSpec, ...] = ()
    line: int = 0  # of the slug
    sla_policy: SlaPolicySpec | None = None  # None: leave the stored policy alone
    templates: tuple[TemplateSpec, ...] = ()
    emergency_plan: PlanSpec | None = None  # None: leave the stored plan alone
    rota: RotaSpec | None = None  # None: leave the stored rota alone
    # Where the agency may invite the client's first admin; None: leave the stored ones.
    verified_domains: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class AgencySpec:
    slug: str
    name: str
    plan: str | None = None  # None: leave billing's choice alone (new agencies: starter)
    line: int = 0  # of the slug


@dataclass(frozen=True, slots=True)
class TenantSpec:
    """Everything one tenant file declares."""

    file: str
    agency: AgencySpec
    people: tuple[PersonSpec, ...] = ()
    clients: tuple[ClientSpec, ...] = ()
    demo_password: str | None = None


@dataclass
class ApplyReport:
    """What an apply changed, in words, and the invitations it sent."""

    changes: list[str] = field(default_factory=list)
    invitations: list[tuple[str, str]] = field(default_factory=list)  # (email, accept_url)
    removals: list[str] = field(default_factory=list)  # what prune removed (also in changes)
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.changes)


class _RolledBack(Exception):
    """Ends a dry run's transaction without committing it."""


async def apply_specs(
    db: Database,
    passwords: Passwords,
    settings: Settings,
    specs: Sequence[TenantSpec],
    *,
    prune: bool = False,
    dry_run: bool = False,
) -> ApplyReport:
    """Create or update everything the (validated) specs declare, in one transaction;
    with ``prune``, remove what they no longer name; with ``dry_run``, roll back."""
    applier: _Applier | None = None
    try:
        async with transaction(db.sessions, Scope.for_system("tenants.apply")) as session:
            await serialise_writers(session, TENANT_APPLY_LOCK)
            applier = _Applier(session, passwords, settings, prune=prune)
            await applier.apply(specs)
            if dry_run:
                raise _RolledBack
    except _RolledBack:
        pass
    assert applier is not None
    report = applier.report
    report.dry_run = dry_run
    if dry_run:
        # Nothing was committed: the links of a dry run's invitations lead nowhere.
        report.invitations = [(email, "(dry run: not created)") for email, _ in report.invitations]
    else:
        # Only after commit: an invitation that rolled back must never reach anyone.
        for invitation, accept_url in applier.deliveries:
            invitations.deliver_invitation(settings, invitation, accept_url)
    log.info(
        "tenants.dry_run" if dry_run else "tenants.applied",
        agencies=[spec.agency.slug for spec in specs],
        changes=len(report.changes),
        removals=len(report.removals),
        invitations=len(report.invitations),
    )
    return report


@dataclass
class _Place:
    """One spec's agency as it is in the database, loaded once."""

    spec: TenantSpec
    agency: Agency
    clients: dict[str, Client] = field(default_factory=dict)  # by slug, archived too
    # by (user, client) and (email, client); client None is the agency itself
    memberships: dict[tuple[uuid.UUID, uuid.UUID | None], Membership] = field(default_factory=dict)
    pending: dict[tuple[str, uuid.UUID | None], Invitation] = field(default_factory=dict)
    # (membership id, client id) of every editor assignment
    assignments: set[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=set)

    def name(self, client: Client | None) -> str:
        return self.agency.slug if client is None else f"{self.agency.slug}/{client.slug}"


class _Applier:
    """One apply run: the session, what it changed, and invitations to deliver."""

    def __init__(
        self, session: AsyncSession, passwords: Passwords, settings: Settings, *, prune: bool
    ) -> None:
        self.prune = prune
        self.session = session
        self.passwords = passwords
        self.settings = settings
        self.report = ApplyReport()
        self.deliveries: list[tuple[Invitation, str]] = []
        self.users: dict[str, User] = {}
        self.demo_checked: set[str] = set()  # argon2 is slow: verify each user once

    async def apply(self, specs: Sequence[TenantSpec]) -> None:
        emails = {person.email for spec in specs for person, _ in _people_with_client(spec)}
        found = await self.session.scalars(select(User).where(User.email.in_(sorted(emails))))
        self.users = {user.email: user for user in found}
        for spec in specs:
            await self.apply_tenant(spec)

    async def apply_tenant(self, spec: TenantSpec) -> None:
        place = await self.agency(spec)
        for person in spec.people:
            await self.person(place, person, client=None)
        for client_spec in spec.clients:
            client = await self.client(place, client_spec)
            for person in client_spec.people:
                await self.person(place, person, client=client)
            await self.escalation(place, client_spec, client)
        for person in spec.people:
            await self.assignments(place, person)
        if self.prune:
            await self.remove_unnamed(place)

    # --- agency and clients ---

    async def agency(self, spec: TenantSpec) -> _Place:
        wanted = spec.agency
        agency = await self.session.scalar(select(Agency).where(Agency.slug == wanted.slug))
        if agency is None:
            agency = Agency(slug=wanted.slug, name=wanted.name, plan=wanted.plan or DEFAULT_PLAN)
            self.session.add(agency)
            await self.session.flush()  # events need the agency's id
            place = _Place(spec, agency)
            await self.event(place, "agency.created", agency, slug=agency.slug)
            self.change(f"created agency {agency.slug}")
            return place
        place = await self.load_place(spec, agency)
        fields: dict[str, object] = {"name": wanted.name}
        if wanted.plan is not None:  # no plan in the file: billing's choice stands
            fields["plan"] = wanted.plan
        if changes := _assign_differences(agency, fields):
            await self.event(place, "agency.updated", agency, changes=changes)
            self.change(f"updated agency {agency.slug}: {', '.join(changes)}")
        return place

    async def load_place(self, spec: TenantSpec, agency: Agency) -> _Place:
        clients = await self.session.scalars(select(Client).where(Client.agency_id == agency.id))
        memberships = await self.session.scalars(
            select(Membership).where(Membership.agency_id == agency.id)
        )
        pending = await self.session.scalars(
            select(Invitation)
            .where(
                Invitation.agency_id == agency.id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(Invitation.created_at)  # the newest wins below
        )
        assigned = await self.session.execute(
            select(ClientAssignment.membership_id, ClientAssignment.client_id).where(
                ClientAssignment.agency_id == agency.id
            )
        )
        return _Place(
            spec=spec,
            agency=agency,
            clients={client.slug: client for client in clients},
            memberships={(m.user_id, m.client_id): m for m in memberships},
            pending={(i.email, i.client_id): i for i in pending},
            assignments={(row.membership_id, row.client_id) for row in assigned},
        )

    async def client(self, place: _Place, wanted: ClientSpec) -> Client:
        client = place.clients.get(wanted.slug)
        fields: dict[str, object] = {
            "name": wanted.name,
            "timezone": wanted.timezone,
            "locale": wanted.locale,
        }
        if wanted.verified_domains is not None:
            fields["verified_domains"] = list(wanted.verified_domains)
        if client is None:
            client = Client(agency_id=place.agency.id, slug=wanted.slug, **fields)
            self.session.add(client)
            await self.session.flush()
            place.clients[client.slug] = client
            await self.event(
                place, "client.created", client, at=client, slug=client.slug, name=client.name
            )
            self.change(f"created client {place.name(client)}")
            return client
        if client.archived_at is not None:
            # Archiving happened in the app; silently restoring it would undo that.
            raise TenantFileConflict(
                [
                    Problem(
                        place.spec.file,
                        wanted.line,
                        f'clients: client "{wanted.slug}" is archived in the app; '
                        "restore it there or remove it from this file",
                    )
                ]
            )
        if changes := _assign_differences(client, fields):
            await self.event(place, "client.updated", client, at=client, changes=changes)
            self.change(f"updated client {place.name(client)}: {', '.join(changes)}")
        return client

    async def escalation(self, place: _Place, wanted: ClientSpec, client: Client) -> None:
        """SLA policy, templates, emergency plan and rota, after the people they name."""
        try:
            changes = await apply_escalation(
                self.session,
                client,
                where=place.name(client),
                file=place.spec.file,
                users=self.users,
                roles={person.email: person.role for person in wanted.people},
                sla_policy=wanted.sla_policy,
                templates=wanted.templates,
                emergency_plan=wanted.emergency_plan,
                rota=wanted.rota,
            )
        except EscalationConflict as conflict:
            line = conflict.line or wanted.line
            raise TenantFileConflict([Problem(place.spec.file, line, conflict.message)]) from None
        self.report.changes.extend(changes)

    # --- people ---

    async def person(self, place: _Place, person: PersonSpec, *, client: Client | None) -> None:
        user = await self.user(place, person, client)
        await self.membership(place, person, user, client)
        if place.spec.demo_password is not None:
            await self.demo_password(place, user, client, place.spec.demo_password)
        elif not user.password_hash:
            await self.invite(place, person, client)

    async def user(self, place: _Place, person: PersonSpec, client: Client | None) -> User:
        user = self.users.get(person.email)
        if user is None:
            locale = person.locale or (client.locale if client else DEFAULT_LOCALE)
            user = User(email=person.email, name=person.name, locale=locale)
            self.session.add(user)
            await self.session.flush()
            self.users[user.email] = user
            await self.event(place, "user.created", user, at=client, email=user.email)
            self.change(f"created user {user.email}")
        elif person.name and not user.name:
            user.name = person.name
            await self.event(
                place,
                "user.updated",
                user,
                at=client,
                email=user.email,
                changes={"name": user.name},
            )
            self.change(f"filled in the name of {user.email}")
        return user

    async def demo_password(
        self, place: _Place, user: User, client: Client | None, password: str
    ) -> None:
        if user.email in self.demo_checked:
            return
        self.demo_checked.add(user.email)
        if user.password_hash and self.passwords.verify(user.password_hash, password):
            return
        user.password_hash = self.passwords.hash(password)
        user.password_changed_at = utcnow()
        await self.event(place, "user.password_set", user, at=client, email=user.email)
        self.change(f"set the demo password of {user.email}")

    async def membership(
        self, place: _Place, person: PersonSpec, user: User, client: Client | None
    ) -> None:
        client_id = client.id if client else None
        membership = place.memberships.get((user.id, client_id))
        if membership is None:
            membership = Membership(
                agency_id=place.agency.id, client_id=client_id, user_id=user.id, role=person.role
            )
            self.session.add(membership)
            await self.session.flush()
            place.memberships[(user.id, client_id)] = membership
            await self.event(
                place,
                "membership.created",
                membership,
                at=client,
                email=user.email,
                role=person.role,
                userId=str(user.id),
            )
            self.change(f"added {user.email} to {place.name(client)} as {person.role}")
        elif membership.role != person.role:
            old_role, membership.role = membership.role, person.role
            await self.event(
                place,
                "membership.updated",
                membership,
                at=client,
                email=user.email,
                role=old_role,
                newRole=person.role,
                userId=str(user.id),
            )
            self.change(
                f"changed {user.email} in {place.name(client)} from {old_role} to {person.role}"
            )

    async def assignments(self, place: _Place, person: PersonSpec) -> None:
        """The clients an agency editor works for (validated: editors only, known slugs)."""
        if not person.clients:
            return
        user = self.users[person.email]
        membership = place.memberships[(user.id, None)]
        for slug in person.clients:
            client = place.clients[slug]
            if (membership.id, client.id) in place.assignments:
                continue
            self.session.add(
                ClientAssignment(
                    agency_id=place.agency.id,
                    client_id=client.id,
                    membership_id=membership.id,
                    user_id=user.id,
                )
            )
            place.assignments.add((membership.id, client.id))
            await self.event(
                place, "assignment.created", membership, at=client, userId=str(user.id)
            )
            self.change(f"assigned {user.email} to {place.name(client)}")

    async def invite(self, place: _Place, person: PersonSpec, client: Client | None) -> None:
        """A person without a password sets one through an invitation, once per place."""
        key = (person.email, client.id if client else None)
        pending = place.pending.get(key)
        if pending is not None and pending.role == person.role:
            return
        if pending is not None:
            # Accepting grants the invitation's role, so one with an old role must go.
            pending.revoked_at = utcnow()
            await self.event(
                place,
                "invitation.revoked",
                pending,
                at=client,
                email=person.email,
                role=pending.role,
            )
        token = new_token(INVITATION_TOKEN_PREFIX)
        invitation = Invitation(
            agency_id=place.agency.id,
            client_id=key[1],
            email=person.email,
            role=person.role,
            token_hash=token_digest(token),
            expires_at=utcnow() + timedelta(hours=self.settings.invitation_ttl_hours),
        )
        self.session.add(invitation)
        await self.session.flush()
        place.pending[key] = invitation
        await self.event(
            place, "invitation.created", invitation, at=client, email=person.email, role=person.role
        )
        accept_url = f"{self.settings.base_url.rstrip('/')}/invitations/{token}"
        self.deliveries.append((invitation, accept_url))
        self.report.invitations.append((person.email, accept_url))
        self.change(f"invited {person.email} to {place.name(client)} as {person.role}")

    # --- prune: what the file no longer names ---

    async def remove_unnamed(self, place: _Place) -> None:
        spec = place.spec
        named_clients = {client.slug for client in spec.clients}
        wanted: set[tuple[str, str | None]] = {(p.email, None) for p in spec.people}
        wanted |= {(p.email, c.slug) for c in spec.clients for p in c.people}
        slug_of = {client.id: slug for slug, client in place.clients.items()}
        for client_slug, unnamed in sorted(place.clients.items()):
            if client_slug not in named_clients and unnamed.archived_at is None:
                unnamed.archived_at = utcnow()
                await self.event(place, "client.archived", unnamed, at=unnamed, slug=client_slug)
                self.removal(f"archived client {place.name(unnamed)} (not in the file)")
        emails = await self.emails_of({user_id for user_id, _ in place.memberships})
        for (user_id, client_id), membership in sorted(
            place.memberships.items(),
            key=lambda item: (
                item[0][1] is not None,
                slug_of.get(item[0][1], "") if item[0][1] else "",
                emails[item[0][0]],
            ),
        ):
            slug = slug_of.get(client_id) if client_id else None
            if client_id is not None and slug not in named_clients:
                continue  # the client is archived with its people, who keep their history
            if (emails[user_id], slug) in wanted:
                continue
            client = place.clients[slug] if slug else None
            await self.session.delete(membership)
            await self.event(
                place,
                "membership.removed",
                membership,
                at=client,
                email=emails[user_id],
                role=membership.role,
                userId=str(user_id),
            )
            self.removal(f"removed {emails[user_id]} ({membership.role}) from {place.name(client)}")
        await self.remove_unnamed_assignments(place, emails, slug_of)
        await self.revoke_unnamed_invitations(place, wanted, slug_of)

    async def remove_unnamed_assignments(
        self, place: _Place, emails: dict[uuid.UUID, str], slug_of: dict[uuid.UUID, str]
    ) -> None:
        listed = {person.email: set(person.clients) for person in place.spec.people}
        by_id = {m.id: m for (_, client_id), m in place.memberships.items() if client_id is None}
        for membership_id, client_id in sorted(place.assignments, key=str):
            membership = by_id.get(membership_id)
            if membership is None:
                continue  # the membership went, and its assignments with it
            email = emails[membership.user_id]
            if email not in listed or slug_of[client_id] in listed[email]:
                continue  # removed above, or still named
            if place.clients[slug_of[client_id]].archived_at is not None:
                continue
            await self.session.execute(
                delete(ClientAssignment).where(
                    ClientAssignment.membership_id == membership_id,
                    ClientAssignment.client_id == client_id,
                )
            )
            client = place.clients[slug_of[client_id]]
            await self.event(
                place,
                "assignment.removed",
                membership,
                at=client,
                userId=str(membership.user_id),
            )
            self.removal(f"took {email} off {place.name(client)}")

    async def revoke_unnamed_invitations(
        self,
        place: _Place,
        wanted: set[tuple[str, str | None]],
        slug_of: dict[uuid.UUID, str],
    ) -> None:
        for (email, client_id), invitation in sorted(
            place.pending.items(), key=lambda item: (item[0][0], str(item[0][1]))
        ):
            slug = slug_of.get(client_id) if client_id else None
            if (email, slug) in wanted or invitation.revoked_at is not None:
                continue
            invitation.revoked_at = utcnow()
            client = place.clients[slug] if slug else None
            await self.event(
                place,
                "invitation.revoked",
                invitation,
                at=client,
                email=email,
                role=invitation.role,
            )
            self.removal(f"revoked the invitation of {email} to {place.name(client)}")

    async def emails_of(self, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
        rows = await self.session.execute(
            select(User.id, User.email).where(User.id.in_(sorted(user_ids, key=str)))
        )
        return {user_id: email for user_id, email in rows}

    def removal(self, description: str) -> None:
        self.report.removals.append(description)
        self.change(description)

    # --- bookkeeping ---

    async def event(
        self,
        place: _Place,
        event_type: str,
        subject: Agency | Client | User | Membership | Invitation,
        *,
        at: Client | None = None,
        **payload: Any,
    ) -> None:
        """An audit event about ``subject``, in the agency or ``at`` one of its clients."""
        await record_event(
            self.session,
            type=event_type,
            agency_id=place.agency.id,
            client_id=at.id if at else None,
            subject_type=_SUBJECT_TYPES[type(subject)],
            subject_id=subject.id,
            actor_user_id=None,
            actor_kind="system",
            payload={**payload, "source": SOURCE, "file": file_label(place.spec.file)},
        )

    def change(self, description: str) -> None:
        self.report.changes.append(description)


_SUBJECT_TYPES: dict[type[object], str] = {
    Agency: "agency",
    Client: "client",
    User: "user",
    Membership: "membership",
    Invitation: "invitation",
}


def _assign_differences(row: object, wanted: dict[str, object]) -> dict[str, object]:
    """Set only what differs, so an unchanged row stays clean (no UPDATE, no onupdate)."""
    changes = {name: value for name, value in wanted.items() if getattr(row, name) != value}
    for name, value in changes.items():
        setattr(row, name, value)
    return changes


def _people_with_client(spec: TenantSpec) -> Iterable[tuple[PersonSpec, ClientSpec | None]]:
    for person in spec.people:
        yield person, None
    for client in spec.clients:
        for person in client.people:
            yield person, client


# --- export -------------------------------------------------------------------------------

ROLE_ORDER = [Role.OWNER, Role.ADMIN, Role.EDITOR, Role.CLIENT_ADMIN, Role.APPROVER]
ROLE_ORDER += [Role.EXECUTIVE, Role.VIEWER]


async def read_agency_spec(db: Database, slug: str) -> TenantSpec:
    """The agency as it is now: active clients and people with roles, no passwords."""
    async with transaction(db.sessions, Scope.for_system("tenants.export")) as session:
        return await _current_spec(session, slug)


async def _current_spec(session: AsyncSession, slug: str) -> TenantSpec:
    agency = await session.scalar(select(Agency).where(Agency.slug == slug))
    if agency is None:
        raise NotFound(f'No agency with the slug "{slug}".')
    clients = await session.scalars(
        select(Client)
        .where(Client.agency_id == agency.id, Client.archived_at.is_(None))
        .order_by(Client.slug)
    )
    rows = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.agency_id == agency.id)
    )
    assigned: dict[uuid.UUID, list[str]] = {}
    for membership_id, client_slug in await session.execute(
        select(ClientAssignment.membership_id, Client.slug)
        .join(Client, Client.id == ClientAssignment.client_id)
        .where(ClientAssignment.agency_id == agency.id, Client.archived_at.is_(None))
        .order_by(Client.slug)
    ):
        assigned.setdefault(membership_id, []).append(client_slug)
    people: dict[uuid.UUID | None, list[PersonSpec]] = {}
    for membership, user in rows:
        slugs = assigned.get(membership.id, []) if membership.role == Role.EDITOR else []
        person = PersonSpec(
            email=user.email,
            role=membership.role,
            name=user.name,
            locale=user.locale,
            clients=tuple(slugs),
        )
        people.setdefault(membership.client_id, []).append(person)
    client_specs = []
    for client in clients:
        escalation = await read_escalation(session, client)
        client_specs.append(
            ClientSpec(
                slug=client.slug,
                name=client.name,
                timezone=client.timezone,
                locale=client.locale,
                verified_domains=tuple(client.verified_domains) or None,
                people=_sorted_people(people.get(client.id, [])),
                sla_policy=escalation.sla_policy,
                templates=escalation.templates,
                emergency_plan=escalation.emergency_plan,
                rota=escalation.rota,
            )
        )
    return TenantSpec(
        file=f"export of {slug}",
        agency=AgencySpec(slug=agency.slug, name=agency.name, plan=agency.plan),
        people=_sorted_people(people.get(None, [])),
        clients=tuple(client_specs),
    )


def _sorted_people(people: list[PersonSpec]) -> tuple[PersonSpec, ...]:
    """Owners first, then by rank and e-mail: a stable, readable order."""
    return tuple(sorted(people, key=lambda p: (ROLE_ORDER.index(Role(p.role)), p.email)))
