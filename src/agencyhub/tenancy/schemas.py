"""Request and response structures of the tenancy API (camelCase on the wire)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from agencyhub.errors import InvalidInput

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*$")]
RoleName = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
Locale = Annotated[str, msgspec.Meta(min_length=2, max_length=8)]
TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


# Dates and times the service accepts: far beyond any shift, holiday or SLA, and far
# enough inside the calendar that adding a rota's weeks or an SLA never overflows it.
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)
MOMENT_RANGE = f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}"


def outside_calendar(value: object) -> bool:
    return isinstance(value, date) and not (EARLIEST.year <= value.year <= LATEST.year)


def check_moment(value: datetime | None, field: str) -> datetime | None:
    """A date-time query parameter within :data:`MOMENT_RANGE`, else a 422 naming it."""
    if outside_calendar(value):
        raise InvalidInput(MOMENT_RANGE, field=field)
    return value


class Camel(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Base for request bodies: unknown fields are an error, not silently dropped; a
    date or date-time outside :data:`MOMENT_RANGE` is refused."""

    def __post_init__(self) -> None:
        for name, wire_name in zip(
            self.__struct_fields__, self.__struct_encode_fields__, strict=True
        ):
            value = getattr(self, name)
            values = value if isinstance(value, list | tuple | set | frozenset) else (value,)
            if any(outside_calendar(item) for item in values):
                raise ValueError(f"{wire_name} {MOMENT_RANGE}")


class Out(msgspec.Struct, rename="camel"):
    """Base for responses."""


class LoginRequest(Camel):
    email: Email
    password: Password


class MembershipOut(Out):
    id: uuid.UUID
    agency_id: uuid.UUID
    agency_slug: str
    agency_name: str
    role: str
    client_id: uuid.UUID | None = None
    client_slug: str | None = None
    client_name: str | None = None


class UserOut(Out):
    id: uuid.UUID
    email: str
    name: str
    locale: str


class MeOut(Out):
    user: UserOut
    memberships: list[MembershipOut]


class LoginOut(Out):
    user: UserOut
    memberships: list[MembershipOut]
    csrf_token: str
    expires_at: datetime


# The column holds 100 characters (ApiToken.name).
TokenName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


TokenScope = Literal["read", "decide", "manage"]


class TokenCreate(Camel):
    name: TokenName
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=365)] | None = None
    # Least privilege by default: a token reads unless it is given more.
    scopes: Annotated[list[TokenScope], msgspec.Meta(max_length=3)] = msgspec.field(
        default_factory=lambda: ["read"]
    )


class TokenOut(Out):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(Out):
    token: str
    details: TokenOut


class AgencyOut(Out):
    id: uuid.UUID
    slug: str
    name: str
    plan: str
    subscription_status: str


class ClientCreate(Camel):
    slug: Slug
    name: Name
    timezone: TimeZone = "Europe/Berlin"
    locale: Locale = "de"


class ClientUpdate(Camel):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    timezone: TimeZone | msgspec.UnsetType = msgspec.UNSET
    locale: Locale | msgspec.UnsetType = msgspec.UNSET


class ClientOut(Out):
    id: uuid.UUID
    agency_id: uuid.UUID
    slug: str
    name: str
    timezone: str
    locale: str
    archived_at: datetime | None
    created_at: datetime
    # Where the agency may invite the client's first admin; set by the client's admins.
    verified_domains: list[str] = msgspec.field(default_factory=list)


class VerifiedDomainsUpdate(Camel):
    """The client's own domains, e.g. ``["baeckerei-sonnenschein.de"]`` (at most 20)."""

    domains: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=253)]],
        msgspec.Meta(max_length=20),
    ]


class MemberOut(Out):
    id: uuid.UUID
    user_id: uuid.UUID
    email: str
    name: str
    role: str
    agency_id: uuid.UUID
    client_id: uuid.UUID | None
    created_at: datetime
    # A client membership the agency created: it decides only once confirmed.
    invited_by_agency: bool = False
    confirmed: bool = True
    confirmed_at: datetime | None = None


class MembershipUpdate(Camel):
    role: RoleName


class InvitationCreate(Camel):
    email: Email
    role: RoleName


class InvitationOut(Out):
    id: uuid.UUID
    email: str
    role: str
    agency_id: uuid.UUID
    client_id: uuid.UUID | None
    state: str
    created_at: datetime
    expires_at: datetime
    for_agency: bool = False


class InvitationCreated(Out):
    invitation: InvitationOut
    # Null when the invitation went out through an agency role: the link goes only to
    # the invited address (by e-mail; in the demo, the server log).
    accept_url: str | None


class InvitationPreview(Out):
    email: str
    role: str
    agency_name: str
    client_name: str | None
    expires_at: datetime
    account_exists: bool


class InvitationAccept(Camel):
    password: Password
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""


class ClientList(Out):
    items: list[ClientOut]
    total: int


class MemberList(Out):
    items: list[MemberOut]


class InvitationList(Out):
    items: list[InvitationOut]


class TokenList(Out):
    items: list[TokenOut]
