"""The client keeps authority over its own people (issue #13, item 3), as a property.

A hostile agency drives every account it controls (its owner and admin, and any client
account it manages to get) through invite, accept, change role, remove, confirm and
"set the client's domains", in any order, while the client's own admin acts honestly
beside it. The agency controls every mailbox except those on the client's real domain,
and accepts every invitation whose link it holds. No sequence ends with an
agency-controlled account that may decide for the client.

Each step asks exactly the rules the service asks (``tenancy.rules``); the model only
keeps the state the database would keep.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from agencyhub.approvals.rules import DECIDING_ROLES
from agencyhub.tenancy import rules
from agencyhub.tenancy.rules import CLIENT_ROLES, Actor, Grant, Role

AGENCY = uuid.UUID(int=1)
CLIENT = uuid.UUID(int=11)
CLIENT_DOMAIN = "kunde.example"
ADDRESSES = (
    "chefin@kunde.example",
    "anna@kunde.example",
    "puppet@agentur.example",
    "puppet@kunde-gmbh.example",  # a look-alike the agency registered
)
DOMAIN_CHOICES = ("kunde.example", "agentur.example", "kunde-gmbh.example")


@dataclass(frozen=True)
class Account:
    user_id: uuid.UUID
    email: str
    by_agency: bool  # who controls it: the agency, or the client


@dataclass(frozen=True)
class Invitation:
    email: str
    role: str
    for_agency: bool
    link_with_agency: bool  # the agency holds the link (its mailbox, or shown to it)


def mailbox_is_agencys(email: str) -> bool:
    return rules.email_domain(email) != CLIENT_DOMAIN


class ClientAuthority(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[str, Account] = {}
        self.staff: dict[uuid.UUID, Grant] = {}  # agency-level grants
        self.people: dict[uuid.UUID, Grant] = {}  # client grants, by user
        self.invitations: list[Invitation] = []
        self.domains: frozenset[str] = frozenset()

    @initialize(
        has_admin=st.booleans(),
        domains=st.sets(st.just(CLIENT_DOMAIN)),
        agency_role=st.sampled_from([Role.OWNER, Role.ADMIN]),
    )
    def start(self, has_admin: bool, domains: set[str], agency_role: str) -> None:
        """The operator's tenant file: agency staff, maybe the client's admin, maybe its
        verified domain."""
        self.domains = frozenset(domains)
        for role in {Role.OWNER, agency_role}:
            account = self.account(f"{role}@agentur.example", by_agency=True)
            self.staff[account.user_id] = Grant(uuid.uuid4(), AGENCY, None, role)
        if has_admin:
            admin = self.account("it@kunde.example", by_agency=False)
            self.people[admin.user_id] = Grant(uuid.uuid4(), AGENCY, CLIENT, Role.CLIENT_ADMIN)

    # --- the model's bookkeeping -----------------------------------------------------

    def account(self, email: str, *, by_agency: bool) -> Account:
        if email not in self.accounts:
            self.accounts[email] = Account(uuid.uuid4(), email, by_agency)
        return self.accounts[email]

    def actor(self, account: Account) -> Actor:
        grants = tuple(
            g for g in (self.staff.get(account.user_id), self.people.get(account.user_id)) if g
        )
        return Actor(user_id=account.user_id, grants=grants)

    def agency_accounts(self) -> list[Account]:
        return sorted((a for a in self.accounts.values() if a.by_agency), key=lambda a: a.email)

    def client_accounts(self) -> list[Account]:
        return sorted((a for a in self.accounts.values() if not a.by_agency), key=lambda a: a.email)

    def has_admin(self) -> bool:
        return any(g.role == Role.CLIENT_ADMIN for g in self.people.values())

    def member_of(self, email: str) -> bool:
        account = self.accounts.get(email)
        return account is not None and account.user_id in self.people

    def invite(self, inviter: Account, email: str, role: str) -> None:
        """What ``invitations.invite`` checks, in its order."""
        actor = self.actor(inviter)
        if not rules.can_grant(actor, AGENCY, CLIENT, role, client_has_admin=self.has_admin()):
            return
        if not rules.address_allowed(actor, AGENCY, CLIENT, email, self.domains):
            return
        if self.member_of(email):
            return
        shown = rules.inviter_sees_link(actor, AGENCY, CLIENT)
        self.invitations.append(
            Invitation(
                email=email,
                role=role,
                for_agency=rules.invites_for_agency(actor, AGENCY, CLIENT),
                link_with_agency=mailbox_is_agencys(email) or (shown and inviter.by_agency),
            )
        )

    def grant_of(self, account: Account) -> Grant:
        return self.people[account.user_id]

    def change(self, who: Account, target: Account, new_role: str | None) -> None:
        """What ``service.change_membership`` checks."""
        grant = self.grant_of(target)
        if not rules.can_change_membership(
            self.actor(who), grant, new_role, client_has_admin=self.has_admin()
        ):
            return
        if new_role is None:
            del self.people[target.user_id]
        else:
            self.people[target.user_id] = replace(grant, role=new_role)

    def confirm(self, who: Account, target: Account) -> None:
        grant = self.grant_of(target)
        if rules.can_confirm_membership(self.actor(who), grant):
            self.people[target.user_id] = replace(grant, confirmed=True)

    # --- the agency's moves ------------------------------------------------------------

    @rule(
        data=st.data(), email=st.sampled_from(ADDRESSES), role=st.sampled_from(sorted(CLIENT_ROLES))
    )
    def agency_invites(self, data: st.DataObject, email: str, role: str) -> None:
        inviter = data.draw(st.sampled_from(self.agency_accounts()))
        self.invite(inviter, email, role)

    @rule(data=st.data())
    def someone_accepts(self, data: st.DataObject) -> None:
        """Whoever holds the link accepts; the agency, whenever it holds it."""
        if not self.invitations:
            return
        invitation = data.draw(st.sampled_from(self.invitations))
        self.invitations.remove(invitation)
        if self.member_of(invitation.email):
            return
        account = self.account(invitation.email, by_agency=invitation.link_with_agency)
        if invitation.link_with_agency and not account.by_agency:
            # The agency opened the link of an existing client account: it must still
            # prove that account's password, which it does not know.
            return
        self.people[account.user_id] = Grant(
            uuid.uuid4(),
            AGENCY,
            CLIENT,
            invitation.role,
            confirmed=not invitation.for_agency,
        )

    @rule(data=st.data(), new_role=st.sampled_from([None, *sorted(CLIENT_ROLES)]))
    def agency_changes_someone(self, data: st.DataObject, new_role: str | None) -> None:
        members = [a for a in self.accounts.values() if a.user_id in self.people]
        if not members:
            return
        who = data.draw(st.sampled_from(self.agency_accounts()))
        self.change(
            who, data.draw(st.sampled_from(sorted(members, key=lambda a: a.email))), new_role
        )

    @rule(data=st.data())
    def agency_confirms(self, data: st.DataObject) -> None:
        members = [a for a in self.accounts.values() if a.user_id in self.people]
        if not members:
            return
        who = data.draw(st.sampled_from(self.agency_accounts()))
        self.confirm(who, data.draw(st.sampled_from(sorted(members, key=lambda a: a.email))))

    @rule(data=st.data(), domain=st.sampled_from(DOMAIN_CHOICES))
    def agency_sets_the_domains(self, data: st.DataObject, domain: str) -> None:
        who = data.draw(st.sampled_from(self.agency_accounts()))
        if rules.can_set_verified_domains(self.actor(who), AGENCY, CLIENT):
            self.domains = self.domains | {domain}

    # --- the client's own admin, acting honestly ---------------------------------------

    @rule(
        data=st.data(),
        email=st.sampled_from(ADDRESSES[:2]),
        role=st.sampled_from(sorted(CLIENT_ROLES)),
    )
    def client_admin_invites_a_colleague(self, data: st.DataObject, email: str, role: str) -> None:
        admins = self.client_accounts()
        if admins:
            self.invite(data.draw(st.sampled_from(admins)), email, role)

    @rule(data=st.data())
    def client_admin_confirms_a_colleague(self, data: st.DataObject) -> None:
        """The client vouches only for people it knows: its own."""
        colleagues = [a for a in self.client_accounts() if a.user_id in self.people]
        if len(colleagues) >= 2:
            who, target = data.draw(st.permutations(colleagues))[:2]
            self.confirm(who, target)

    # --- the property ------------------------------------------------------------------

    @invariant()
    def no_agency_account_may_decide_for_the_client(self) -> None:
        for account in self.agency_accounts():
            grant = self.people.get(account.user_id)
            if grant is None or grant.role not in DECIDING_ROLES:
                continue
            assert rules.awaits_confirmation(self.actor(account), AGENCY, CLIENT), (
                f"{account.email} decides as {grant.role}"
            )

    @invariant()
    def the_agency_never_holds_a_client_admin(self) -> None:
        for account in self.agency_accounts():
            grant = self.people.get(account.user_id)
            assert grant is None or grant.role != Role.CLIENT_ADMIN, account.email


ClientAuthority.TestCase.settings = settings(
    max_examples=300, stateful_step_count=30, deadline=None
)
test_no_sequence_of_agency_actions_yields_an_agency_controlled_decision = ClientAuthority.TestCase
