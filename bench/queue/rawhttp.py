"""A minimal HTTP/1.1 keep-alive client for the load generator.

httpx spent 6–10 ms of CPU per request in the load generator, on the same two cores
as the server it measures; this client spends a few hundred microseconds. It only
speaks what the benchmark needs: POST with a JSON body to one loopback host over
persistent connections, responses with ``Content-Length``.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class RawHttpError(Exception):
    """The connection broke or the answer was not HTTP/1.1 as expected."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def round_trip(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, _, headers = head.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise RawHttpError(f"not an HTTP answer: {status_line[:60]!r}")
        length = 0
        for line in headers.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        body = await self.reader.readexactly(length) if length else b""
        return int(parts[1]), body

    def usable(self) -> bool:
        return not (self.reader.at_eof() or self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()


class RawClient:
    """A pool of up to ``connections`` keep-alive connections to ``base_url``."""

    def __init__(self, base_url: str, connections: int) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or url.hostname is None or url.port is None:
            raise ValueError("http://host:port only")
        self.host, self.port = url.hostname, url.port
        self.host_header = f"{url.hostname}:{url.port}".encode()
        self.limit = connections
        self.opened = 0
        self.idle: list[_Connection] = []
        self.available = asyncio.Condition()

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        for connection in self.idle:
            connection.close()
        self.idle.clear()

    def build_post(self, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        lines = [
            f"POST {path} HTTP/1.1".encode(),
            b"Host: " + self.host_header,
            b"Content-Type: application/json",
            b"Content-Length: " + str(len(body)).encode(),
            *(f"{name}: {value}".encode() for name, value in headers.items()),
        ]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    async def send(self, request: bytes) -> tuple[int, bytes]:
        connection = await self._acquire()
        try:
            answer = await connection.round_trip(request)
        except BaseException:
            connection.close()  # a broken or cancelled exchange leaves it unusable
            async with self.available:
                self.opened -= 1
                self.available.notify()
            raise
        async with self.available:
            self.idle.append(connection)
            self.available.notify()
        return answer

    async def _acquire(self) -> _Connection:
        async with self.available:
            while not self.idle and self.opened >= self.limit:
                await self.available.wait()
            while self.idle:
                connection = self.idle.pop()
                if connection.usable():
                    return connection
                connection.close()  # the server closed it while idle (keep-alive timeout)
                self.opened -= 1
            self.opened += 1
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except BaseException:
            async with self.available:
                self.opened -= 1
                self.available.notify()
            raise
        return _Connection(reader, writer)
