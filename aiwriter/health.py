"""Readiness of the Ollama hosts, for /readyz (listed in settings.READINESS_CHECKS)."""

import asyncio
import time

from .gateway import client_for, ollama_hosts
from .ollama import OllamaError

HOST_DEADLINE_SECONDS = 1.5


async def check_ollama() -> dict:
    """Each host's version and answer time. Without Ollama the site still serves readers and editors,
    only without AI text, so a host that cannot answer makes the check degraded, never down.
    """
    hosts = list(await asyncio.gather(*(_probe(host) for host in ollama_hosts())))
    status = "ok" if all(host["status"] == "ok" for host in hosts) else "degraded"
    return {"name": "ollama", "status": status, "hosts": hosts}


async def _probe(host: str) -> dict:
    started = time.monotonic()
    try:
        async with asyncio.timeout(HOST_DEADLINE_SECONDS):
            version = await client_for(host).version()
    except TimeoutError:
        return {"url": host, "status": "down", "error": f"no answer within {HOST_DEADLINE_SECONDS:g} s"}
    except OllamaError as error:
        return {"url": host, "status": "down", "error": error.message}
    latency_ms = round((time.monotonic() - started) * 1000, 1)
    return {"url": host, "status": "ok", "version": version, "latency_ms": latency_ms}
