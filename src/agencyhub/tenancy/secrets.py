"""Password hashing (argon2id) and opaque tokens stored only as SHA-256.

argon2 is meant to be slow (tens of milliseconds of CPU and 64 MiB each). Run on the
event loop it stalls every other request; run without bound, a burst of sign-ins
takes every core and every database connection. So the request paths hash in worker
threads (argon2-cffi releases the GIL), no more at once than ``password_check_workers``,
and a sign-in that finds ``password_check_queue`` others already waiting is refused
at once with 503 rather than queued behind them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
import anyio.to_thread
import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from agencyhub.config import Settings
from agencyhub.errors import Busy

log = structlog.get_logger(__name__)

T = TypeVar("T")

SESSION_TOKEN_PREFIX = "ahs_"
API_TOKEN_PREFIX = "aht_"
INVITATION_TOKEN_PREFIX = "ahi_"


class Passwords:
    """argon2id with parameters from settings (tests lower the memory cost)."""

    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.password_hash_time_cost,
            memory_cost=settings.password_hash_memory_kib,
        )
        # Verifying against this keeps unknown-user sign-ins as slow as known ones.
        self._decoy = self._hasher.hash(secrets.token_urlsafe(16))
        self.workers = settings.password_check_workers or default_workers()
        self.queue = settings.password_check_queue
        self._limiter: anyio.CapacityLimiter | None = None
        self._admitted = 0

    @asynccontextmanager
    async def admission(self) -> AsyncIterator[None]:
        """A place among the sign-ins in progress, or :class:`Busy` at once.

        Held for the whole sign-in (its database reads included), so the sign-ins in
        progress also bound the database connections they use.
        """
        if self._admitted >= self.workers + self.queue:
            log.warning("auth.password_checks_busy", in_progress=self._admitted)
            raise Busy("Too many sign-ins at once. Try again in a moment.", retry_after=1)
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    async def verify_in_worker(self, password_hash: str | None, password: str) -> bool:
        return await self._in_worker(lambda: self.verify(password_hash, password))

    async def hash_in_worker(self, password: str) -> str:
        return await self._in_worker(lambda: self.hash(password))

    async def _in_worker(self, work: Callable[[], T]) -> T:
        if self._limiter is None:
            # Made on first use: a limiter belongs to the event loop that runs it.
            self._limiter = anyio.CapacityLimiter(self.workers)
        return await anyio.to_thread.run_sync(work, limiter=self._limiter)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._decoy, password) and bool(
                password_hash
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def default_workers() -> int:
    """One per core but one: the event loop and the database keep a core of their own
    (measured in bench/signin: `/me` p99 under 50 attackers 216 ms with two workers on
    two cores, 64 ms with one, at the same rate of password checks)."""
    return max(1, (os.cpu_count() or 1) - 1)


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
