"""Live-feed test helpers: `agencyhub serve` subprocesses and a WebSocket subscriber."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from agencyhub.config import Settings
from tests.factories import PASSWORD

HOST = "127.0.0.1"
REDIS_URL = os.environ.get("AGENCYHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/api/v1/live"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _launch(settings: Settings, log_path: Path, extra_env: dict[str, str]) -> Server:
    port = _free_port()
    env = {
        **os.environ,
        "AGENCYHUB_ENVIRONMENT": "test",
        # The key the database was migrated with: it admits the system scope's token.
        "AGENCYHUB_SECRET_KEY": settings.secret_key,
        "AGENCYHUB_DATABASE_URL": settings.database_url,
        "AGENCYHUB_DATABASE_POOL_SIZE": "3",
        "AGENCYHUB_REDIS_URL": REDIS_URL,
        "AGENCYHUB_LOG_LEVEL": "WARNING",
        "AGENCYHUB_BASE_URL": f"http://{HOST}:{port}",
        "AGENCYHUB_PASSWORD_HASH_TIME_COST": "1",
        "AGENCYHUB_PASSWORD_HASH_MEMORY_KIB": "1024",
        "AGENCYHUB_OUTBOX_DIR": str(log_path.parent / "outbox"),
        **extra_env,
    }
    command = [str(Path(sys.executable).with_name("agencyhub")), "serve", "--host", HOST]
    log = log_path.open("wb")
    process = subprocess.Popen(
        [*command, "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    return Server(process, f"http://{HOST}:{port}", log_path)


def _wait_healthy(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited: {server.log_path.read_text()[-3000:]}")
        try:
            if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become healthy")


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=15)


@contextmanager
def servers(
    settings: Settings, tmp_path: Path, count: int = 2, env: dict[str, str] | None = None
) -> Iterator[list[Server]]:
    """``count`` servers; ``env`` adds or overrides their environment variables."""
    started = [_launch(settings, tmp_path / f"server-{i}.log", env or {}) for i in range(count)]
    try:
        deadline = time.monotonic() + 60
        for server in started:
            _wait_healthy(server, deadline)
        yield started
    finally:
        for server in started:
            _stop(server)


@dataclass
class Login:
    cookie: str
    csrf: str

    def headers(self, origin: str | None = None) -> dict[str, str]:
        headers = {"cookie": self.cookie, "x-csrf-token": self.csrf}
        if origin:
            headers["origin"] = origin
        return headers


async def login(server: Server, email: str) -> Login:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        response = await http.post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD}
        )
        response.raise_for_status()
        token = response.cookies["agencyhub_session"]
        return Login(f"agencyhub_session={token}", response.json()["csrfToken"])


async def api(server: Server, who: Login, method: str, path: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        response = await http.request(method, path, headers=who.headers(), **kwargs)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


class Subscriber:
    """A WebSocket subscriber that has seen ``ready``."""

    def __init__(self, socket: ClientConnection, ready: dict[str, Any]) -> None:
        self.socket = socket
        self.ready = ready

    async def next(self, within: float = 5.0) -> dict[str, Any]:
        while True:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), within))
            if message["type"] != "ping":
                return dict(message)

    async def events(self, count: int, within: float = 10.0) -> list[dict[str, Any]]:
        return [await self.next(within) for _ in range(count)]

    async def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Everything that arrives within ``seconds`` (expected: nothing)."""
        got: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + seconds
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                got.append(await self.next(left))
            except TimeoutError:
                break
        return got

    async def close(self) -> None:
        await self.socket.close()


async def subscribe(server: Server, who: Login, last_event_id: int | None = None) -> Subscriber:
    url = server.ws_url + (f"?last_event_id={last_event_id}" if last_event_id is not None else "")
    socket = await connect(
        url, additional_headers={"cookie": who.cookie, "origin": server.base_url}
    )
    ready = json.loads(await asyncio.wait_for(socket.recv(), 5))
    assert ready["type"] == "ready", ready
    return Subscriber(socket, ready)
