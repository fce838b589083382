"""HTTP helpers for tests: sign in and call the API like the web app does."""

from __future__ import annotations

import re
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from tests.factories import PASSWORD


class Caller:
    """A signed-in browser session: cookie plus CSRF header on writes.

    Each caller has its own cookie jar over the app's transport, so signing in someone
    else later never turns an earlier caller into that person.
    """

    def __init__(self, client: httpx.AsyncClient, csrf: str) -> None:
        self.client = client
        self.csrf = csrf

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}) or {})
        if method not in ("GET", "HEAD"):
            headers.setdefault("x-csrf-token", self.csrf)
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> Any:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Any:
        return await self.request("POST", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> Any:
        return await self.request("PATCH", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> Any:
        return await self.request("PUT", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> Any:
        return await self.request("DELETE", path, **kwargs)


async def sign_in(client: AsyncTestClient, email: str, password: str = PASSWORD) -> Caller:  # type: ignore[type-arg]
    """A new caller signed in as ``email``; ``client`` itself stays as it was."""
    own = httpx.AsyncClient(transport=client._transport, base_url=client.base_url)
    response = await own.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return Caller(own, response.json()["csrfToken"])


async def sign_in_client(
    client: AsyncTestClient,  # type: ignore[type-arg]
    email: str,
    password: str = PASSWORD,
) -> Caller:
    """Sign the test client itself in (for its websockets and raw cookie tests); a
    later call replaces the person, so use one such caller at a time."""
    client.cookies.clear()
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return Caller(client, response.json()["csrfToken"])


def outbox_link(outbox: Path, email: str) -> str:
    """The invitation link of the newest message to ``email`` in an outbox folder: what
    the invited person finds in their mailbox."""
    for path in sorted(outbox.glob("*.eml"), reverse=True):
        message = BytesParser(policy=default_policy).parsebytes(path.read_bytes())
        if message["To"] == email:
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            found = re.search(r"https?://\S+/invitations/\S+", body.get_content())
            assert found, path
            return found.group(0)
    raise AssertionError(f"no message to {email} in {outbox}")
