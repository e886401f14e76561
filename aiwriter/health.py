"""Readiness of the Ollama hosts, for /readyz (listed in settings.READINESS_CHECKS)."""

import asyncio
import time

from .gateway import client_for, get_gateway, ollama_hosts
from .engines import EngineError
from .engines.ollama import normalize_base_url

HOST_DEADLINE_SECONDS = 1.5


async def check_ollama() -> dict:
    """Each host's version, answer time, breaker state, generations in flight and models.

    Without Ollama the site still serves readers and editors, only without AI text, so a host
    that cannot answer makes the check degraded, never down.
    """
    gateway = get_gateway()
    # The gateway's own health check runs beside the probes and refreshes each host's models.
    *hosts, _ = await asyncio.gather(*(_probe(host) for host in ollama_hosts()), gateway.registry.refresh())
    gateway_hosts = {state.url: state for state in gateway.hosts}
    for host in hosts:
        state = gateway_hosts.get(normalize_base_url(host["url"]))
        if state is not None:
            host["reachable"] = host["status"] == "ok"
            host["breaker"] = str(state.breaker.state)
            host["in_flight"] = state.in_flight
            host["models"] = sorted(state.models) if state.models is not None else None
    status = "ok" if all(host["status"] == "ok" for host in hosts) else "degraded"
    return {"name": "ollama", "status": status, "hosts": hosts}


async def _probe(host: str) -> dict:
    started = time.monotonic()
    try:
        async with asyncio.timeout(HOST_DEADLINE_SECONDS):
            version = await client_for(host).version()
    except TimeoutError:
        return {"url": host, "status": "down", "error": f"no answer within {HOST_DEADLINE_SECONDS:g} s"}
    except EngineError as error:
        return {"url": host, "status": "down", "error": error.message}
    latency_ms = round((time.monotonic() - started) * 1000, 1)
    return {"url": host, "status": "ok", "version": version, "latency_ms": latency_ms}
