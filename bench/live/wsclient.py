"""A minimal WebSocket client for the benchmark's subscribers.

The `websockets` client costs tens of microseconds per message in the load generator
(a task per ``recv`` with ``wait_for``, JSON parsing, datetime parsing), on the same two
cores as the servers it measures: at 1,000 subscribers and 20 events per second that is
20,000 messages per second. This client stamps each chunk's arrival time in
``data_received``, keeps the raw frames, and leaves parsing until after the run.
It speaks just what the benchmark needs: the client handshake, unfragmented text
frames from the server, pings (answered) and close.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import time
from urllib.parse import urlsplit

TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


class WebSocketError(Exception):
    pass


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.first_text: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        # Two flat lists, not a list of tuples: a million tracked tuples would make the
        # load generator's own garbage collections pause it (and delay the stamps).
        self.times: list[float] = []
        self.payloads: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        for future in (self.upgraded, self.first_text):
            if not future.done():
                future.set_exception(WebSocketError(f"connection lost: {exc}"))
        if not self.closed.done():
            self.closed.set_result(1006)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            del self.buffer[: end + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(WebSocketError(head.split(b"\r\n", 1)[0].decode()))
                return
            self.upgraded.set_result(None)
        self._frames(now)

    def _frames(self, now: float) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            if opcode == TEXT:
                if not self.first_text.done():
                    self.first_text.set_result(payload)
                else:
                    self.times.append(now)
                    self.payloads.append(payload)
            elif opcode == PING:
                self.send_frame(PONG, payload)
            elif opcode == CLOSE:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if not self.closed.done():
                    self.closed.set_result(code)
                self.send_frame(CLOSE, payload[:2])
                assert self.transport is not None
                self.transport.close()
                return

    def send_frame(self, opcode: int, payload: bytes) -> None:
        """Client frames must be masked (RFC 6455 §5.3)."""
        if self.transport is None or self.transport.is_closing():
            return
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        header = bytes([0x80 | opcode])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        else:
            header += bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
        self.transport.write(header + mask + masked)


class Subscriber:
    """One connection: ``ready`` text first, then every text frame with its arrival time."""

    def __init__(self, protocol: _Protocol, ready: bytes) -> None:
        self._protocol = protocol
        self.ready = ready

    @property
    def texts(self) -> list[tuple[float, bytes]]:
        """Every text frame after ``ready``, with its arrival time (build after the run)."""
        return list(zip(self._protocol.times, self._protocol.payloads, strict=True))

    @property
    def close_code(self) -> int | None:
        closed = self._protocol.closed
        return closed.result() if closed.done() else None

    async def close(self) -> None:
        protocol = self._protocol
        if not protocol.closed.done():
            protocol.send_frame(CLOSE, (1000).to_bytes(2, "big"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(protocol.closed), 5)
        if protocol.transport is not None:
            protocol.transport.close()


async def connect(url: str, headers: dict[str, str], within: float = 120) -> Subscriber:
    parts = urlsplit(url)
    if parts.scheme != "ws" or parts.hostname is None or parts.port is None:
        raise ValueError("ws://host:port/path only")
    loop = asyncio.get_running_loop()
    _transport, protocol = await loop.create_connection(_Protocol, parts.hostname, parts.port)
    key = base64.b64encode(os.urandom(16)).decode()
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {parts.hostname}:{parts.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    assert protocol.transport is not None
    protocol.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    async with asyncio.timeout(within):
        await protocol.upgraded
        ready = await protocol.first_text
    return Subscriber(protocol, ready)
