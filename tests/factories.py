"""Test data builders. They write through the ORM in a named system scope."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

from agencyhub.db import Database, Scope, transaction
from agencyhub.tenancy.models import Agency, Client, ClientAssignment, Membership, User
from agencyhub.tenancy.secrets import Passwords

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


@dataclass
class World:
    """Two agencies, each with clients and one person per role."""

    agencies: dict[str, Agency] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    memberships: dict[str, Membership] = field(default_factory=dict)

    def user_id(self, key: str) -> uuid.UUID:
        return self.users[key].id


async def make_agency(db: Database, slug: str | None = None, name: str = "") -> Agency:
    slug = slug or f"agency-{next(_counter)}"
    async with transaction(db.sessions, Scope.for_system("tests.factory")) as session:
        agency = Agency(slug=slug, name=name or slug.title())
        session.add(agency)
    return agency


async def make_client(db: Database, agency: Agency, slug: str | None = None) -> Client:
    slug = slug or f"client-{next(_counter)}"
    async with transaction(db.sessions, Scope.for_system("tests.factory")) as session:
        client = Client(agency_id=agency.id, slug=slug, name=slug.title(), timezone="Europe/Berlin")
        session.add(client)
    return client


async def make_user(
    db: Database, passwords: Passwords, email: str | None = None, password: str = PASSWORD
) -> User:
    email = email or f"person{next(_counter)}@example.com"
    async with transaction(db.sessions, Scope.for_system("tests.factory")) as session:
        user = User(email=email, name=email.split("@")[0], password_hash=passwords.hash(password))
        session.add(user)
    return user


async def grant(
    db: Database, user: User, agency: Agency, role: str, client: Client | None = None
) -> Membership:
    async with transaction(db.sessions, Scope.for_system("tests.factory")) as session:
        membership = Membership(
            agency_id=agency.id,
            client_id=client.id if client else None,
            user_id=user.id,
            role=role,
        )
        session.add(membership)
    return membership


AGENCY_ROLE_KEYS = ("owner", "admin", "editor")
CLIENT_ROLE_KEYS = ("client_admin", "approver", "executive", "viewer")


async def make_world(db: Database, passwords: Passwords) -> World:
    """Agencies "a" and "b"; clients a1, a2 (in a) and b1 (in b); people like "a.owner",
    "a1.approver", "b.owner", "b1.approver". Each agency's editor is assigned to its
    first client only (a1, b1): a.editor does not see a2."""
    world = World()
    for agency_key, client_keys in (("a", ("a1", "a2")), ("b", ("b1",))):
        agency = await make_agency(db, f"agency-{agency_key}-{next(_counter)}")
        world.agencies[agency_key] = agency
        for role in AGENCY_ROLE_KEYS:
            key = f"{agency_key}.{role}"
            user = await make_user(db, passwords, f"{key}.{next(_counter)}@example.com")
            world.users[key] = user
            world.memberships[key] = await grant(db, user, agency, role)
        for client_key in client_keys:
            client = await make_client(db, agency, f"{client_key}-{next(_counter)}")
            world.clients[client_key] = client
            for role in CLIENT_ROLE_KEYS:
                key = f"{client_key}.{role}"
                user = await make_user(db, passwords, f"{key}.{next(_counter)}@example.com")
                world.users[key] = user
                world.memberships[key] = await grant(db, user, agency, role, client)
        await assign(db, world.memberships[f"{agency_key}.editor"], world.clients[client_keys[0]])
    return world


async def assign(db: Database, editor: Membership, client: Client) -> ClientAssignment:
    """Assign an agency editor's membership to a client of the same agency."""
    async with transaction(db.sessions, Scope.for_system("tests.factory")) as session:
        assignment = ClientAssignment(
            agency_id=editor.agency_id,
            client_id=client.id,
            membership_id=editor.id,
            user_id=editor.user_id,
        )
        session.add(assignment)
    return assignment


async def set_verified_domains(db: Database, client_id: uuid.UUID, domains: list[str]) -> None:
    """What a tenant file does: the operator names the client's own domains."""
    async with transaction(db.sessions, Scope.for_system("tests.factory")) as session:
        client = await session.get(Client, client_id)
        assert client is not None
        client.verified_domains = domains
