"""Counts failed sign-ins per account and per client address, and locks both out for a while.

Counters are expiring keys in the shared cache (Redis), so every web process sees the same
counts and nothing needs cleaning up. The first failure starts a window of
LOGIN_LOCKOUT_SECONDS; reaching LOGIN_FAILURE_LIMIT within it locks sign-in for that account
or address for a full LOGIN_LOCKOUT_SECONDS from the failure that reached the limit.

When the cache cannot be reached, sign-in keeps working without throttling: a locked-out
attacker is a smaller harm than nobody being able to sign in.
"""

import hashlib
import ipaddress
import logging
import math

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

CACHE_ERRORS = (RedisError, ConnectionInterrupted, OSError)


def client_address(request: HttpRequest | None) -> str | None:
    """The address failures are counted against.

    REMOTE_ADDR is used as is: behind a proxy, run daphne with --proxy-headers so it holds the
    client's address; a header read here could be forged by the client. IPv6 clients usually
    hold a whole /64, so they are counted per /64.
    """
    raw = request.META.get("REMOTE_ADDR") if request is not None else None
    try:
        address = ipaddress.ip_address(raw or "")
    except ValueError:
        return None
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def _account_key(username: str) -> str:
    # Hashed so any username makes a short, safe key; lower-cased so case variants share one counter.
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return f"login-failures:account:{digest}"


def _address_key(address: str) -> str:
    return f"login-failures:address:{address}"


def _keys(*, username: str | None, address: str | None) -> list[str]:
    keys = [_account_key(username)] if username else []
    if address:
        keys.append(_address_key(address))
    return keys


def login_lockout_seconds(*, username: str | None, address: str | None) -> int:
    """Seconds until this account and address may try to sign in again; 0 when they may now."""
    keys = _keys(username=username, address=address)
    try:
        counts = cache.get_many(keys)
        locked = [key for key, count in counts.items() if count >= settings.LOGIN_FAILURE_LIMIT]
        return max((math.ceil((cache.pttl(key) or 0) / 1000) for key in locked), default=0)
    except CACHE_ERRORS:
        logger.warning("Sign-in throttling is off: the cache cannot be reached.", exc_info=True)
        return 0


def login_failure_record(*, username: str | None, address: str | None) -> None:
    """Count one failed sign-in against the account and the address."""
    window = settings.LOGIN_LOCKOUT_SECONDS
    try:
        for key in _keys(username=username, address=address):
            cache.add(key, 0, timeout=window)
            count = cache.incr(key)
            if count >= settings.LOGIN_FAILURE_LIMIT:
                # The lockout lasts a full window from the failure that reached the limit.
                cache.touch(key, timeout=window)
            if count == settings.LOGIN_FAILURE_LIMIT:
                logger.warning("Sign-in locked for %s s after %s failures: %s", window, count, key)
    except CACHE_ERRORS:
        logger.warning("A failed sign-in was not counted: the cache cannot be reached.", exc_info=True)


def login_failures_clear(*, username: str) -> None:
    """Forget an account's failures once its owner has proved who they are.

    The address counter is left alone, so one correct password cannot reset a guessing run
    made from the same address against other accounts.
    """
    try:
        cache.delete(_account_key(username))
    except CACHE_ERRORS:
        logger.warning("Failed sign-ins were not cleared: the cache cannot be reached.", exc_info=True)


def wait_text(seconds: int) -> str:
    """'45 seconds', '1 minute', '15 minutes': how long to wait, rounded up."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def lockout_message(seconds: int) -> str:
    return (
        "Too many failed sign-in attempts for this account or from your network. "
        f"Sign-in is paused; try again in {wait_text(seconds)}, or reset your password."
    )
