"""HTTP controllers of the tenancy feature: parse, call one service function, answer."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import structlog
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.config import Settings
from agencyhub.db import transaction
from agencyhub.errors import Forbidden, Unauthenticated
from agencyhub.tenancy import assignments, auth, invitations, rules, service
from agencyhub.tenancy.models import Agency, ApiToken, Client, Invitation, Membership, User
from agencyhub.tenancy.rules import Actor
from agencyhub.tenancy.schemas import (
    AgencyOut,
    ClientCreate,
    ClientList,
    ClientOut,
    ClientUpdate,
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    InvitationList,
    InvitationOut,
    InvitationPreview,
    LoginOut,
    LoginRequest,
    MemberList,
    MemberOut,
    MembershipOut,
    MembershipUpdate,
    MeOut,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenOut,
    UserOut,
    VerifiedDomainsUpdate,
)
from agencyhub.tenancy.secrets import Passwords, same_secret
from agencyhub.web import client_address, runtime_of

SESSION_COOKIE = "agencyhub_session"
CSRF_COOKIE = "agencyhub_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def provide_actor(
    request: Request[Any, Any, Any], session: NamedDependency[AsyncSession]
) -> Actor:
    """Who is calling: a Bearer token, or a session cookie plus CSRF token on writes."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Use 'Authorization: Bearer <token>'.")
        authenticated = await auth.authenticate_bearer(session, token.strip())
        route_scope = request.route_handler.opt.get("token_scope")
        needed = rules.scope_needed(request.method, route_scope)
        if not rules.token_may(authenticated.token_scopes, needed):
            raise Forbidden(token_refusal(needed))
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise Unauthenticated("Sign in first.")
        authenticated = await auth.authenticate_session_cookie(session, cookie)
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not (
                sent and authenticated.csrf_token and same_secret(sent, authenticated.csrf_token)
            ):
                raise Forbidden("The CSRF token is missing or wrong (header X-CSRF-Token).")
    structlog.contextvars.bind_contextvars(user_id=str(authenticated.user.id))
    return await auth.load_actor(session, authenticated.user.id)


def token_refusal(needed: str) -> str:
    if needed == rules.NEVER_BY_TOKEN:
        return "An API token cannot do this; sign in to the web app."
    return f"This API token lacks the '{needed}' scope."


# --- response builders --------------------------------------------------------------


def user_out(user: User) -> UserOut:
    return UserOut(id=user.id, email=user.email, name=user.name, locale=user.locale)


def client_out(client: Client) -> ClientOut:
    return ClientOut(
        id=client.id,
        agency_id=client.agency_id,
        slug=client.slug,
        name=client.name,
        timezone=client.timezone,
        locale=client.locale,
        archived_at=client.archived_at,
        created_at=client.created_at,
        verified_domains=list(client.verified_domains),
    )


def agency_out(agency: Agency) -> AgencyOut:
    return AgencyOut(
        id=agency.id,
        slug=agency.slug,
        name=agency.name,
        plan=agency.plan,
        subscription_status=agency.subscription_status,
    )


def token_out(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        scopes=token.scopes.split(),
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )


def member_out(member: service.Member) -> MemberOut:
    m = member.membership
    return MemberOut(
        id=m.id,
        user_id=m.user_id,
        email=member.user.email,
        name=member.user.name,
        role=m.role,
        agency_id=m.agency_id,
        client_id=m.client_id,
        created_at=m.created_at,
        invited_by_agency=m.invited_by_agency,
        confirmed=m.confirmed,
        confirmed_at=m.confirmed_at,
    )


def invitation_out(invitation: Invitation) -> InvitationOut:
    return InvitationOut(
        id=invitation.id,
        email=invitation.email,
        role=invitation.role,
        agency_id=invitation.agency_id,
        client_id=invitation.client_id,
        state=invitations.invitation_state(invitation),
        for_agency=invitation.for_agency,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
    )


def invitation_created(new: invitations.NewInvitation) -> InvitationCreated:
    return InvitationCreated(invitation=invitation_out(new.invitation), accept_url=new.accept_url)


async def memberships_out(session: AsyncSession, actor: Actor) -> list[MembershipOut]:
    views = await service.describe_memberships(session, actor)
    return [
        MembershipOut(
            id=v.grant.membership_id,
            agency_id=v.agency.id,
            agency_slug=v.agency.slug,
            agency_name=v.agency.name,
            role=v.grant.role,
            client_id=v.client.id if v.client else None,
            client_slug=v.client.slug if v.client else None,
            client_name=v.client.name if v.client else None,
        )
        for v in views
    ]


def session_cookies(settings: Settings, new: auth.NewSession) -> list[Cookie]:
    common: dict[str, Any] = {
        "path": "/",
        "samesite": "lax",
        "secure": settings.secure_cookies,
        "max_age": settings.session_max_age_seconds,
    }
    return [
        Cookie(key=SESSION_COOKIE, value=new.token, httponly=True, **common),
        Cookie(key=CSRF_COOKIE, value=new.csrf_token, httponly=False, **common),
    ]


async def signed_in_response(
    session: AsyncSession, settings: Settings, new: auth.NewSession
) -> Response[LoginOut]:
    actor = await auth.load_actor(session, new.user.id)
    body = LoginOut(
        user=user_out(new.user),
        memberships=await memberships_out(session, actor),
        csrf_token=new.csrf_token,
        expires_at=new.expires_at,
    )
    return Response(body, cookies=session_cookies(settings, new))


# --- controllers -----------------------------------------------------------------------


class AuthController(Controller):
    path = "/api/v1"
    tags = ["auth"]

    @post("/auth/login", status_code=200, opt={"problems": (401, 429, 503)})
    async def login(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        passwords: NamedDependency[Passwords],
        data: JSONBody[LoginRequest],
    ) -> Response[LoginOut]:
        """Sign in with e-mail and password; sets the session and CSRF cookies.

        Repeated wrong passwords from one address wait longer each time (429 with
        ``Retry-After``); 503 when too many sign-ins are in progress at once.
        """
        # No request-wide transaction: a sign-in holds a database connection only for
        # its short reads and writes, never while it waits for or runs argon2.
        db = runtime_of(request.app.state).db
        email = rules.normalize_email(data.email)
        ip_address = client_address(request, settings.trusted_proxy_count)
        user_id = await auth.check_password(
            db.sessions,
            settings,
            passwords,
            email=email,
            password=data.password,
            ip_address=ip_address,
        )
        async with transaction(db.sessions) as session:
            new = await auth.sign_in(
                session, settings, passwords, user_id, password=data.password, ip_address=ip_address
            )
            return await signed_in_response(session, settings, new)

    @post(
        "/auth/logout",
        status_code=HTTP_204_NO_CONTENT,
        # Always expire both cookies (Max-Age=0; no Expires date, so the OpenAPI document
        # stays the same from one build to the next): a 204 has no body, so the schema
        # promises none.
        response_cookies=[
            Cookie(key=SESSION_COOKIE, value="", path="/", max_age=0),
            Cookie(key=CSRF_COOKIE, value="", path="/", max_age=0),
        ],
    )
    async def logout(
        self,
        request: Request[Any, Any, Any],
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
    ) -> None:
        """End this session (the cookie stops working everywhere)."""
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await auth.logout(session, token)

    @get("/me")
    async def me(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> MeOut:
        """The signed-in user with every membership."""
        user = await session.get(User, actor.user_id)
        assert user is not None
        return MeOut(user=user_out(user), memberships=await memberships_out(session, actor))

    @get("/tokens")
    async def list_tokens(
        self, session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> TokenList:
        tokens = await auth.list_api_tokens(session, actor.user_id)
        return TokenList(items=[token_out(t) for t in tokens])

    @post("/tokens", status_code=HTTP_201_CREATED, opt={"token_scope": rules.NEVER_BY_TOKEN})
    async def create_token(
        self,
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        actor: NamedDependency[Actor],
        data: JSONBody[TokenCreate],
    ) -> TokenCreated:
        """A personal API token for integrations; the token text is shown only now."""
        token, row = await auth.create_api_token(
            session, settings, actor.user_id, data.name, data.expires_in_days, data.scopes
        )
        return TokenCreated(token=token, details=token_out(row))

    @delete("/tokens/{token_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def revoke_token(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        token_id: FromPath[uuid.UUID],
    ) -> None:
        await auth.revoke_api_token(session, actor.user_id, token_id)


class AgencyController(Controller):
    path = "/api/v1/agencies/{agency_id:uuid}"
    tags = ["agencies"]

    @get("")
    async def get_agency(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        agency_id: FromPath[uuid.UUID],
    ) -> AgencyOut:
        return agency_out(await service.get_agency(session, actor, agency_id))

    @get("/clients")
    async def list_clients(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        agency_id: FromPath[uuid.UUID],
        include_archived: Annotated[bool, QueryParameter(name="includeArchived")] = False,
    ) -> ClientList:
        """The client companies the caller may see (client people: only their own)."""
        clients = await service.list_clients(
            session, actor, agency_id, include_archived=include_archived
        )
        return ClientList(items=[client_out(c) for c in clients], total=len(clients))

    @post("/clients", status_code=HTTP_201_CREATED)
    async def create_client(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        agency_id: FromPath[uuid.UUID],
        data: JSONBody[ClientCreate],
    ) -> ClientOut:
        return client_out(await service.create_client(session, actor, agency_id, data))

    @get("/memberships")
    async def list_members(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        agency_id: FromPath[uuid.UUID],
    ) -> MemberList:
        members = await service.list_agency_members(session, actor, agency_id)
        return MemberList(items=[member_out(m) for m in members])

    @get("/invitations")
    async def list_invitations(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        agency_id: FromPath[uuid.UUID],
    ) -> InvitationList:
        rows = await invitations.list_agency_invitations(session, actor, agency_id)
        return InvitationList(items=[invitation_out(i) for i in rows])

    @post("/invitations", status_code=HTTP_201_CREATED)
    async def invite(
        self,
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        actor: NamedDependency[Actor],
        agency_id: FromPath[uuid.UUID],
        data: JSONBody[InvitationCreate],
    ) -> InvitationCreated:
        """Invite agency staff (owner, admin, editor) by e-mail."""
        new = await invitations.invite_to_agency(
            session, settings, actor, agency_id, data.email, data.role
        )
        return invitation_created(new)


class ClientController(Controller):
    path = "/api/v1/clients/{client_id:uuid}"
    tags = ["clients"]

    @get("")
    async def get_client(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
    ) -> ClientOut:
        return client_out(await service.get_client_for(session, actor, client_id))

    @patch("")
    async def update_client(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[ClientUpdate],
    ) -> ClientOut:
        return client_out(await service.update_client(session, actor, client_id, data))

    @post("/archive", status_code=200)
    async def archive(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
    ) -> ClientOut:
        client = await service.set_client_archived(session, actor, client_id, archived=True)
        return client_out(client)

    @post("/restore", status_code=200)
    async def restore(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
    ) -> ClientOut:
        client = await service.set_client_archived(session, actor, client_id, archived=False)
        return client_out(client)

    @put("/verified-domains", status_code=200)
    async def set_verified_domains(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[VerifiedDomainsUpdate],
    ) -> ClientOut:
        """The client's admins name its domains: the agency may invite the client's first
        admin only to an address there (the agency never sets them)."""
        client = await service.set_verified_domains(session, actor, client_id, data.domains)
        return client_out(client)

    @get("/memberships")
    async def list_members(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
    ) -> MemberList:
        members = await service.list_client_members(session, actor, client_id)
        return MemberList(items=[member_out(m) for m in members])

    @get("/invitations")
    async def list_invitations(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
    ) -> InvitationList:
        rows = await invitations.list_client_invitations(session, actor, client_id)
        return InvitationList(items=[invitation_out(i) for i in rows])

    @post("/invitations", status_code=HTTP_201_CREATED)
    async def invite(
        self,
        session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        data: JSONBody[InvitationCreate],
    ) -> InvitationCreated:
        """Invite a client employee (client_admin, approver, executive, viewer).

        The client's admins invite anyone. The agency's owner and admins invite only the
        client's first admin, only while it has none, and only to an address on the
        client's verified domains; the answer then carries no link (only the invited
        address receives it), and the membership decides only once another client admin
        confirms it."""
        new = await invitations.invite_to_client(
            session, settings, actor, client_id, data.email, data.role
        )
        return invitation_created(new)

    @get("/assignments")
    async def list_assignments(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
    ) -> MemberList:
        """The agency editors assigned to this client (owners and admins see every client)."""
        members = await assignments.list_assigned_editors(session, actor, client_id)
        return MemberList(items=[member_out(m) for m in members])

    @put("/assignments/{membership_id:uuid}", status_code=200)
    async def assign(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        membership_id: FromPath[uuid.UUID],
    ) -> MemberOut:
        """Assign an agency editor (by agency membership id) to this client."""
        member = await assignments.assign_editor(session, actor, client_id, membership_id)
        return member_out(member)

    @delete("/assignments/{membership_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def unassign(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        client_id: FromPath[uuid.UUID],
        membership_id: FromPath[uuid.UUID],
    ) -> None:
        await assignments.unassign_editor(session, actor, client_id, membership_id)


_Force = Annotated[
    bool,
    QueryParameter(
        description="Go ahead although the client's approval policy could then no longer be met."
    ),
]


class MembershipController(Controller):
    path = "/api/v1/memberships/{membership_id:uuid}"
    tags = ["memberships"]

    @patch("")
    async def change_role(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        membership_id: FromPath[uuid.UUID],
        data: JSONBody[MembershipUpdate],
        force: _Force = False,
    ) -> MemberOut:
        """Change a role; 409 ``policy-impossible`` when the client's approval policy could
        no longer be met, unless ``force``."""
        membership = await service.change_membership(
            session, actor, membership_id, data.role, force=force
        )
        assert membership is not None
        return await _member_of(session, membership)

    @delete("", status_code=HTTP_204_NO_CONTENT)
    async def remove(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        membership_id: FromPath[uuid.UUID],
        force: _Force = False,
    ) -> None:
        """Remove someone; 409 ``policy-impossible`` when the client's approval policy could
        no longer be met, unless ``force``."""
        await service.change_membership(session, actor, membership_id, None, force=force)

    @post("/confirm", status_code=200)
    async def confirm(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        membership_id: FromPath[uuid.UUID],
    ) -> MemberOut:
        """A client admin confirms a client membership the agency created, so that it may
        decide; nobody confirms their own."""
        membership = await service.confirm_membership(session, actor, membership_id)
        return await _member_of(session, membership)


async def _member_of(session: AsyncSession, membership: Membership) -> MemberOut:
    """A membership as the API shows it, with its person."""
    user = await session.get(User, membership.user_id)
    assert user is not None
    return member_out(service.Member(membership=membership, user=user))


class InvitationController(Controller):
    path = "/api/v1"
    tags = ["invitations"]

    @post("/invitations/{invitation_id:uuid}/revoke", status_code=200)
    async def revoke(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        invitation_id: FromPath[uuid.UUID],
    ) -> InvitationOut:
        return invitation_out(await invitations.revoke_invitation(session, actor, invitation_id))

    @get("/invitation-links/{token:str}", opt={"problems": (410,)})
    async def preview(
        self, session: NamedDependency[AsyncSession], token: FromPath[str]
    ) -> InvitationPreview:
        """What an invitation link offers, before accepting it (no sign-in needed)."""
        details = await invitations.open_invitation(session, token)
        return InvitationPreview(
            email=details.invitation.email,
            role=details.invitation.role,
            agency_name=details.agency.name,
            client_name=details.client.name if details.client else None,
            expires_at=details.invitation.expires_at,
            account_exists=bool(details.existing_user and details.existing_user.password_hash),
        )

    @post(
        "/invitation-links/{token:str}/accept",
        status_code=200,
        opt={"problems": (409, 410, 429, 503)},
    )
    async def accept(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        passwords: NamedDependency[Passwords],
        token: FromPath[str],
        data: JSONBody[InvitationAccept],
    ) -> Response[LoginOut]:
        """Accept: set a password (new account) or confirm it (existing), and sign in."""
        ip_address = client_address(request, settings.trusted_proxy_count)
        # Like sign-in: no transaction is open while the password is checked or hashed.
        db = runtime_of(request.app.state).db
        proof = await invitations.settle_password(
            db.sessions,
            settings,
            passwords,
            token=token,
            password=data.password,
            ip_address=ip_address,
        )
        async with transaction(db.sessions) as session:
            user = await invitations.accept_invitation_link(
                session, settings, proof, token=token, name=data.name, ip_address=ip_address
            )
            new = await auth.start_session(session, settings, user, ip_address)
            return await signed_in_response(session, settings, new)
