"""Counts failed sign-ins and locks out the guesser, never the owner; and limits how often people may do costly things.

Failed sign-ins are counted three ways, as expiring keys in the shared cache (Redis) so every
web process sees the same counts and nothing needs cleaning up:
- per client address, for guessing across many accounts (LOGIN_ADDRESS_FAILURE_LIMIT);
- per account and address, for guessing one account from one place (LOGIN_FAILURE_LIMIT);
- per account, for guessing one account from many places (LOGIN_FAILURE_LIMIT). Usernames are
  public, so this one must not let anyone lock an owner out: it refuses only the addresses that
  have already failed on that account. Each new address still gets its tries, which a spread-out
  guesser pays for with one more address each time, while the owner signs in from theirs.
The first failure starts a window of LOGIN_LOCKOUT_SECONDS; reaching a limit within it locks for a
full LOGIN_LOCKOUT_SECONDS from the failure that reached it. Checks of the current password
(password and email changes) count and are refused like sign-ins.

`rate_limit_take` counts requests per person or address in fixed windows (signup, password reset,
comments, previews).

When the cache cannot be reached, everything keeps working without limits: a locked-out
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


def _account_digest(username: str) -> str:
    # Hashed so any username makes a short, safe key; lower-cased so case variants share one counter.
    return hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]


def _account_key(username: str) -> str:
    return f"login-failures:account:{_account_digest(username)}"


def _address_key(address: str) -> str:
    return f"login-failures:address:{address}"


def _pair_key(username: str, address: str) -> str:
    return f"login-failures:pair:{_account_digest(username)}:{address}"


def _limits(*, username: str | None, address: str | None) -> dict[str, int]:
    """Each counter that applies to this attempt, with the count that locks it."""
    limits = {}
    if address:
        limits[_address_key(address)] = settings.LOGIN_ADDRESS_FAILURE_LIMIT
    if username and address:
        limits[_pair_key(username, address)] = settings.LOGIN_FAILURE_LIMIT
    if username:
        limits[_account_key(username)] = settings.LOGIN_FAILURE_LIMIT
    return limits


def login_lockout_seconds(*, username: str | None, address: str | None) -> int:
    """Seconds until this account and address may try to sign in again; 0 when they may now."""
    limits = _limits(username=username, address=address)
    try:
        counts = cache.get_many(list(limits))
        locked = [key for key, count in counts.items() if count >= limits[key]]
        if username and address and _account_key(username) in locked and not counts.get(_pair_key(username, address)):
            # The account is under attack, but not from here: the owner may still sign in.
            locked.remove(_account_key(username))
        return max((math.ceil((cache.pttl(key) or 0) / 1000) for key in locked), default=0)
    except CACHE_ERRORS:
        logger.warning("Sign-in throttling is off: the cache cannot be reached.", exc_info=True)
        return 0


def login_failure_record(*, username: str | None, address: str | None) -> None:
    """Count one failed sign-in (or current-password check) against the account and the address."""
    window = settings.LOGIN_LOCKOUT_SECONDS
    try:
        for key, limit in _limits(username=username, address=address).items():
            cache.add(key, 0, timeout=window)
            count = cache.incr(key)
            if count >= limit:
                # The lockout lasts a full window from the failure that reached the limit.
                cache.touch(key, timeout=window)
            if count == limit:
                logger.warning("Sign-in locked for %s s after %s failures: %s", window, count, key)
    except CACHE_ERRORS:
        logger.warning("A failed sign-in was not counted: the cache cannot be reached.", exc_info=True)


def login_failures_clear(*, username: str, address: str | None = None) -> None:
    """Forget an account's failures, and those of `address` on it, once its owner has proved who they are.

    The address counter is left alone, so one correct password cannot reset a guessing run
    made from the same address against other accounts.
    """
    keys = [_account_key(username)] + ([_pair_key(username, address)] if address else [])
    try:
        cache.delete_many(keys)
    except CACHE_ERRORS:
        logger.warning("Failed sign-ins were not cleared: the cache cannot be reached.", exc_info=True)


class PasswordChecksPaused(Exception):
    """Too many wrong passwords for this account from this address (or from it at all); the message is for a person."""


def password_check(*, user, password: str, address: str | None) -> bool:
    """Whether `password` is a signed-in person's current password, throttled like sign-in.

    A session in someone else's hands must not become a way to guess the password, so wrong
    answers count as failed sign-ins. Raises PasswordChecksPaused while locked out, including
    after the wrong answer that reaches the limit.
    """
    username = user.get_username()
    if seconds := login_lockout_seconds(username=username, address=address):
        raise PasswordChecksPaused(lockout_message(seconds))
    if user.check_password(password or ""):
        login_failures_clear(username=username, address=address)
        return True
    login_failure_record(username=username, address=address)
    if seconds := login_lockout_seconds(username=username, address=address):
        raise PasswordChecksPaused(lockout_message(seconds))
    return False


def rate_limit_take(*, scope: str, key) -> int:
    """Count one request of `scope` (a key of settings.RATE_LIMITS) by `key` (a user id, an address).

    0 when it may go ahead; otherwise the seconds until the window that the limit's requests
    filled ends. Fixed windows that start at the first request: one atomic increment per
    request, exact enough here.
    """
    limit, window = settings.RATE_LIMITS[scope]
    cache_key = f"rate:{scope}:{hashlib.sha256(str(key).encode()).hexdigest()[:32]}"
    try:
        cache.add(cache_key, 0, timeout=window)
        if cache.incr(cache_key) <= limit:
            return 0
        return max(1, math.ceil((cache.pttl(cache_key) or 0) / 1000))
    except CACHE_ERRORS:
        logger.warning("A %s request was not rate-limited: the cache cannot be reached.", scope, exc_info=True)
        return 0
    except ValueError:  # the key expired between add and incr: a new window starts
        return 0


def rate_limit_message(what: str, seconds: int) -> str:
    """'Too many comments in a short time. Try again in 45 seconds.'"""
    return f"Too many {what} in a short time. Try again in {wait_text(seconds)}."


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
