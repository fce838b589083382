"""Web plumbing shared by every feature: per-request transaction, request ids, logs."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.config import Settings
from agencyhub.db import Database, writing_session
from agencyhub.errors import InvalidInput
from agencyhub.headers import security_headers
from agencyhub.tenancy.secrets import Passwords

log = structlog.get_logger("agencyhub.request")

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Secrets that travel in URLs (invitation links, calendar feeds): ahi_…, ahc_…, and any
# other of our token kinds. They never reach a log line.
_TOKEN_IN_PATH = re.compile(r"\bah[a-z]_[A-Za-z0-9_-]+")


def loggable_path(path: str) -> str:
    return _TOKEN_IN_PATH.sub("[redacted]", path)


@dataclass
class Runtime:
    """What the app holds for its lifetime; kept on ``app.state.runtime``."""

    settings: Settings
    db: Database
    passwords: Passwords


def runtime_of(state: State) -> Runtime:
    runtime = state.runtime
    assert isinstance(runtime, Runtime)
    return runtime


# Requests that only read: on SQLite they need not queue behind the writer.
_READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def provide_session(
    state: State, request: Request[Any, Any, Any]
) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns, else rolled back."""
    writes = request.method not in _READING_METHODS
    async with writing_session(runtime_of(state).db.sessions, writes) as session, session.begin():
        yield session


def provide_settings(state: State) -> Settings:
    return runtime_of(state).settings


def provide_passwords(state: State) -> Passwords:
    return runtime_of(state).passwords


def client_address(request: Request[Any, Any, Any], trusted_proxies: int) -> str:
    """The caller's address; behind N trusted proxies, the Nth from the right of XFF."""
    if trusted_proxies > 0:
        forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= trusted_proxies:
            return forwarded[-trusted_proxies]
    return request.client.host if request.client else "unknown"


def request_logging_middleware(app: ASGIApp) -> ASGIApp:
    """Bind a request id, answer it as a header, and log one line per request."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                method=scope["method"],
                path=loggable_path(scope["path"]),
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()

    return middleware


# --- security headers -------------------------------------------------------------------


def security_headers_middleware(settings: Settings) -> Callable[[ASGIApp], ASGIApp]:
    """Every answer gets ``nosniff``, a referrer policy and no framing; API answers a
    CSP that allows nothing; outside the demo and tests, HSTS. Headers a route set
    itself (the web app's own CSP) are kept."""
    production = settings.environment == "production"

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            wanted = [
                (name.encode(), value.encode())
                for name, value in security_headers(scope["path"], production=production).items()
            ]

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))
                    present = {name.lower() for name, _ in headers}
                    headers.extend(h for h in wanted if h[0] not in present)
                    message["headers"] = headers
                await send(message)

            await app(scope, receive, send_with_headers)

        return middleware

    return wrap


# --- the NUL character ------------------------------------------------------------------

NUL = "\x00"
_NUL_IN_JSON = b"\\u0000"  # JSON must escape U+0000, so a raw body shows it like this
NUL_REFUSED = "must not contain the NUL character (U+0000)"


def nul_path(value: object, path: str = "") -> str | None:
    """Where in decoded JSON a string (or a key) holds U+0000, e.g. ``items[0].body``."""
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                return where
            found = nul_path(item, where)
            if found is not None:
                return found
    return None


async def refuse_nul_characters(request: Request[Any, Any, Any]) -> None:
    """No text we store may hold U+0000: PostgreSQL refuses it mid-statement (a 500),
    and no person means it. Checked once, before any handler, for every route."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and NUL in value:
            raise InvalidInput(NUL_REFUSED, field=name)
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            raise InvalidInput(NUL_REFUSED, field=name.replace(NUL, "\\u0000"))
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    body = await request.body()
    if _NUL_IN_JSON not in body:
        return
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return  # malformed JSON: the body's own parser answers 400
    where = nul_path(decoded)
    if where is not None:
        raise InvalidInput(NUL_REFUSED, field=where or "body")


def openapi_json(app: Litestar) -> str:
    """The app's OpenAPI document as stable JSON (sorted keys, one trailing newline):
    the committed ``frontend/openapi.json`` is this text, and the web app's types are
    generated from it."""
    return json.dumps(app.openapi_schema.to_schema(), indent=2, sort_keys=True) + "\n"
