"""The sign-in throttle's bookkeeping; what it decides is in :mod:`tenancy.rules`.

Two counters per password check: the account at this address, and the address across
accounts (credential stuffing). Both are counted in the caller's short transaction,
which then holds a lock on exactly those counters, so parallel guesses are counted
one after the other and none is checked beyond the free ones without its wait.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from agencyhub.config import Settings
from agencyhub.db import serialise_writers
from agencyhub.errors import TooManyRequests
from agencyhub.tenancy import rules
from agencyhub.tenancy.models import LoginThrottle
from agencyhub.tenancy.rules import Admitted, ThrottlePolicy, ThrottleState

log = structlog.get_logger(__name__)


def account_key(email: str, ip_address: str) -> str:
    return _digest("account", email, ip_address)


def address_key(ip_address: str) -> str:
    return _digest("address", ip_address)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def account_policy(settings: Settings) -> ThrottlePolicy:
    return _policy(settings, settings.login_free_attempts_per_account)


def address_policy(settings: Settings) -> ThrottlePolicy:
    return _policy(settings, settings.login_free_attempts_per_address)


def _policy(settings: Settings, free: int) -> ThrottlePolicy:
    return ThrottlePolicy(
        free=free,
        max_delay=timedelta(seconds=settings.login_max_delay_seconds),
        forget_after=timedelta(seconds=settings.login_forget_after_seconds),
    )


async def admit(
    session: AsyncSession, settings: Settings, email: str, ip_address: str, now: datetime
) -> None:
    """Count one password check, or raise :class:`TooManyRequests` (nothing counted:
    the caller's transaction rolls back)."""
    counters = {
        account_key(email, ip_address): account_policy(settings),
        address_key(ip_address): address_policy(settings),
    }
    states = await _locked_states(session, sorted(counters))
    decisions = {key: rules.admit_attempt(states[key], counters[key], now) for key in counters}
    waits = [d.retry_after_seconds for d in decisions.values() if not isinstance(d, Admitted)]
    if waits:
        log.warning("auth.login_throttled", ip_address=ip_address, retry_after=max(waits))
        raise TooManyRequests("Too many sign-in attempts. Try again later.", retry_after=max(waits))
    for key, decision in decisions.items():
        assert isinstance(decision, Admitted)
        await _save(session, key, decision.state)


async def forgive(session: AsyncSession, settings: Settings, email: str, ip_address: str) -> None:
    """The right password: the account starts afresh at this address, and the
    address's count takes this attempt back (signing in does not clear others' guesses)."""
    account, address = account_key(email, ip_address), address_key(ip_address)
    states = await _locked_states(session, sorted((account, address)))
    await _save(session, account, ThrottleState())
    await _save(session, address, rules.forgive_attempt(states[address], address_policy(settings)))


async def _locked_states(session: AsyncSession, keys: list[str]) -> dict[str, ThrottleState]:
    # Sorted keys: two sign-ins never wait on each other's second lock (no deadlock).
    for key in keys:
        await serialise_writers(session, int.from_bytes(bytes.fromhex(key)[:8], signed=True))
    states = {}
    for key in keys:
        row = await session.get(LoginThrottle, key, populate_existing=True)
        states[key] = (
            ThrottleState(row.attempts, row.blocked_until, row.last_attempt_at)
            if row is not None
            else ThrottleState()
        )
    return states


async def _save(session: AsyncSession, key: str, state: ThrottleState) -> None:
    row = await session.get(LoginThrottle, key)
    if state.attempts == 0 and state.blocked_until is None:
        if row is not None:
            await session.delete(row)
        return
    if row is None:
        row = LoginThrottle(key=key)
        session.add(row)
    row.attempts = state.attempts
    row.blocked_until = state.blocked_until
    row.last_attempt_at = state.last_attempt_at or row.last_attempt_at
