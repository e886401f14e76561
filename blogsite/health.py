"""Liveness and readiness endpoints for load balancers and orchestrators.

/healthz answers as long as the process can run a view; it calls nothing else, so a
slow dependency never gets a healthy process restarted. /readyz runs the checks named
in settings.READINESS_CHECKS (dotted paths to `def check() -> dict`, sync or async) at
the same time, each with a deadline, and answers 503 only when one of them is "down":
the site can still serve readers with Redis or Ollama gone, only slower or without AI.
Where /metrics is restricted (production), only the callers it would serve see each check's
details (addresses, models, errors); others see each dependency's state, enough for a probe.
"""

import asyncio
import inspect
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import redis
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache

from .metrics import metrics_access_allowed

STATUS_ORDER = {"ok": 0, "degraded": 1, "down": 2}
REDIS_TIMEOUT_SECONDS = 0.5
# Sync checks run here, not on Django's single sync thread nor on the loop's default executor
# (which a closing event loop waits for): a hung check holds up neither requests nor the answer,
# and a few hung ones cannot pile up more threads than this.
_CHECK_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="readiness")


def check_database() -> dict:
    """A round trip to the default database; without it no page can be rendered."""
    # A connection of its own, opened and closed here: it proves the database takes new
    # connections now, and leaves nothing open on the pool thread.
    connection = connections.create_connection("default")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"name": "database", "status": "ok", "vendor": connection.vendor}
    except Exception as error:  # any driver error means the same thing here: unreachable
        return {"name": "database", "status": "down", "vendor": connection.vendor, "error": _describe(error)}
    finally:
        connection.close()


check_database.critical = True  # a check that misses its deadline counts as down, not degraded


def check_redis() -> dict:
    """Redis holds the page cache, sessions' cache and the channel layer; pages still render without it."""
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
    )
    try:
        client.ping()
        return {"name": "redis", "status": "ok"}
    except redis.RedisError as error:
        return {"name": "redis", "status": "degraded", "error": _describe(error)}
    finally:
        client.close()


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:300]


async def _run_check(check: Callable[[], dict], *, timeout: float) -> dict:
    """One check's result; a check that raises or misses the deadline is reported, never raised."""
    name = getattr(check, "__name__", str(check)).removeprefix("check_")
    started = time.monotonic()
    try:
        if inspect.iscoroutinefunction(check):
            result = await asyncio.wait_for(check(), timeout)
        else:
            result = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(_CHECK_POOL, check), timeout)
    except TimeoutError:
        status = "down" if getattr(check, "critical", False) else "degraded"
        result = {"name": name, "status": status, "error": f"no answer within {timeout:g} s"}
    except Exception as error:
        result = {"name": name, "status": "down", "error": _describe(error)}
    if not isinstance(result, dict) or result.get("status") not in STATUS_ORDER:
        result = {"status": "down", "error": f"the check answered {result!r}, not a status"[:300]}
    return {"name": name, **result, "duration_ms": round((time.monotonic() - started) * 1000, 1)}


async def run_readiness_checks() -> list[dict]:
    checks = [import_string(path) for path in settings.READINESS_CHECKS]
    timeout = settings.READINESS_TIMEOUT_SECONDS
    return list(await asyncio.gather(*(_run_check(check, timeout=timeout) for check in checks)))


def overall_status(results: list[dict]) -> str:
    return max((result["status"] for result in results), key=STATUS_ORDER.__getitem__, default="ok")


@never_cache
async def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
async def readyz(request: HttpRequest) -> JsonResponse:
    results = await run_readiness_checks()
    status = overall_status(results)
    if not metrics_access_allowed(request):
        results = [{"name": result["name"], "status": result["status"]} for result in results]
    return JsonResponse({"status": status, "checks": results}, status=503 if status == "down" else 200)
