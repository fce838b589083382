"""The live feed over HTTP: WebSocket ``/api/v1/live``, SSE ``/api/v1/live/sse``, and
presence. Thin: authenticate, then hand the connection to a :class:`Feed`."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import structlog
from litestar import Controller, Request, WebSocket, get, post, websocket
from litestar.config.app import AppConfig
from litestar.di import NamedDependency, Provide
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath, QueryParameter
from litestar.plugins import InitPlugin
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.status_codes import HTTP_200_OK
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.config import Settings
from agencyhub.db import Database, utcnow
from agencyhub.errors import DomainError, Unauthenticated
from agencyhub.live import rules, service
from agencyhub.live.hub import Close, Feed, LiveHub, Message
from agencyhub.live.schemas import PresenceList, PresenceOut
from agencyhub.tenancy.api import SESSION_COOKIE
from agencyhub.tenancy.rules import Actor

log = structlog.get_logger(__name__)

CLOSE_SECONDS = 5.0
"""How long closing may wait for a socket that no longer drains."""


def presence_out(mark: rules.Presence) -> PresenceOut:
    return PresenceOut(
        draft_id=mark.draft_id, user_id=mark.user_id, name=mark.name, expires_at=mark.expires_at
    )


@websocket("/api/v1/live")
async def live_socket(socket: WebSocket[Any, Any, Any], live_hub: NamedDependency[LiveHub]) -> None:
    """Real-time events of every client the caller may see.

    Sign in with ``Authorization: Bearer …`` or the session cookie (then ``Origin`` must
    be the app's own). ``?last_event_id=N`` resumes after event N. Messages: ``ready``,
    ``event``, ``presence``, ``reload``, ``ping``; send ``{"type": "viewing",
    "draftId": …}`` to mark presence. Close codes: 4401 signed out, 4403 no membership
    left, 4008 too slow, 4400 bad input.
    """
    authorization = socket.headers.get("authorization")
    cookie = socket.cookies.get(SESSION_COOKIE)
    if not authorization and cookie:
        allowed = [live_hub.settings.base_url]
        if not rules.origin_allowed(socket.headers.get("origin"), allowed):
            log.info("live.origin_refused", origin=socket.headers.get("origin", "")[:200])
            await socket.close(code=rules.CLOSE_FORBIDDEN, reason="origin not allowed")
            return
    await socket.accept()
    try:
        credential = service.Credential.from_headers(authorization, cookie)
        actor = await live_hub.authenticate(credential)
        last_event_id = rules.parse_last_event_id(socket.query_params.get("last_event_id"))
    except Unauthenticated as exc:
        await socket.close(code=rules.CLOSE_UNAUTHENTICATED, reason=exc.detail[:120])
        return
    except DomainError as exc:
        await socket.close(code=rules.CLOSE_BAD_MESSAGE, reason=f"last_event_id {exc.detail}"[:120])
        return
    structlog.contextvars.bind_contextvars(user_id=str(actor.user_id))
    feed = Feed(live_hub, credential, actor, last_event_id)
    sender = asyncio.create_task(_send_feed(socket, feed))
    receiver = asyncio.create_task(_receive(socket, live_hub, feed))
    done, _pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    for task in (sender, receiver):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await task
    closing = sender.result() if sender in done and not sender.cancelled() else None
    if sender in done and sender.exception() is None and isinstance(closing, Close):
        log.info("live.closed", code=closing.code, reason=closing.reason)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_SECONDS):
                await socket.close(code=closing.code, reason=closing.reason)


async def _send_feed(socket: WebSocket[Any, Any, Any], feed: Feed) -> Close | None:
    """Write the feed to the socket. A send that blocks longer than the hub allows
    (:meth:`Feed.tick`) is cancelled: the client is too slow and is told so."""
    sender = asyncio.current_task()
    assert sender is not None
    loop = asyncio.get_running_loop()
    stream = feed.messages()
    try:
        async for message in stream:
            if isinstance(message, Close):
                return message
            feed.sending(sender, loop.time())
            await socket.send_text(message.text)
            feed.sent()
    except asyncio.CancelledError:
        if not feed.stalled:
            raise
        sender.uncancel()
        return Close(rules.CLOSE_SLOW_CONSUMER, "too slow; reconnect with last_event_id")
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return None


async def _receive(socket: WebSocket[Any, Any, Any], live_hub: LiveHub, feed: Feed) -> None:
    """Client messages: presence marks (``viewing``) and ``pong``; ends on disconnect."""
    while True:
        raw = await socket.receive_text()
        try:
            message = rules.parse_client_message(raw)
            if message.type == "viewing" and message.draft_id is not None:
                await live_hub.mark_viewing(feed.actor, message.draft_id)
        except DomainError as exc:
            await socket.send_json(
                {"type": "error", "status": exc.status_code, "detail": exc.detail}
            )


@get("/api/v1/live/sse", media_type="text/event-stream", opt={"signed_in": True})
async def live_sse(
    request: Request[Any, Any, Any],
    live_hub: NamedDependency[LiveHub],
    last_event_id: Annotated[
        str | None, QueryParameter(name="last_event_id", max_length=20)
    ] = None,
) -> ServerSentEvent:
    """The same feed as Server-Sent Events (``Last-Event-ID`` header or
    ``?last_event_id=``), for networks that break WebSockets. No database session
    stays open while it streams."""
    credential = service.Credential.from_headers(
        request.headers.get("authorization"), request.cookies.get(SESSION_COOKIE)
    )
    resume = rules.parse_last_event_id(
        request.headers.get("last-event-id") or last_event_id, field="Last-Event-ID"
    )
    actor = await live_hub.authenticate(credential)
    feed = Feed(live_hub, credential, actor, resume)
    return ServerSentEvent(_sse_messages(feed), headers={"cache-control": "no-store"})


async def _sse_messages(feed: Feed) -> AsyncIterator[ServerSentEventMessage]:
    async for message in feed.messages():
        if isinstance(message, Close):
            yield ServerSentEventMessage(
                event="close", data=f'{{"code": {message.code}, "reason": "{message.reason}"}}'
            )
            return
        yield _sse(message)


def _sse(message: Message) -> ServerSentEventMessage:
    if message.kind == "ping":
        # A comment alone: a data line, even empty, would fire a message in the browser.
        return ServerSentEventMessage(comment="ping", data=None)
    return ServerSentEventMessage(
        event=message.kind, data=message.text, id=str(message.id) if message.id else None
    )


class PresenceController(Controller):
    path = "/api/v1/clients/{client_id:uuid}"
    tags = ["live"]

    @post("/drafts/{draft_id:uuid}/presence", status_code=HTTP_200_OK)
    async def viewing(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        live_hub: NamedDependency[LiveHub],
        client_id: FromPath[uuid.UUID],
        draft_id: FromPath[uuid.UUID],
    ) -> PresenceOut:
        """ "I am looking at this draft" — lasts 45 s unless sent again."""
        mark = await service.viewing_mark(session, actor, draft_id, utcnow(), client_id)
        await live_hub.broadcast_presence(mark)
        return presence_out(mark)

    @get("/presence")
    async def list_presence(
        self,
        session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        live_hub: NamedDependency[LiveHub],
        client_id: FromPath[uuid.UUID],
        draft_id: Annotated[uuid.UUID | None, QueryParameter(name="draftId")] = None,
    ) -> PresenceList:
        """Who is looking at which of the client's drafts right now."""
        _agency, client = await service.presence_client(session, actor, client_id)
        marks = await live_hub.presence.of_client(client, utcnow())
        return PresenceList(
            items=[presence_out(m) for m in marks if draft_id is None or m.draft_id == draft_id]
        )


class LivePlugin(InitPlugin):
    """Wires the live feed into the app: channels plugin, relay, routes."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.hub = LiveHub(settings, db)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        self.hub.channels.on_app_init(app_config)  # its lifespan first: started before ours
        app_config.lifespan.append(self._running)
        app_config.dependencies["live_hub"] = Provide(
            lambda: self.hub, use_cache=True, sync_to_thread=False
        )
        app_config.route_handlers.extend([live_socket, live_sse, PresenceController])
        app_config.signature_namespace.update(LiveHub=LiveHub)
        return app_config

    def _running(self, _app: Any) -> contextlib.AbstractAsyncContextManager[None]:
        return self.hub.running()
