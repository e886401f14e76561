"""Readiness of the inference hosts, for /readyz (listed in settings.READINESS_CHECKS).

Each host is shown by its address and dialect; an API key is never part of what is shown.
"""

import asyncio
import time

from .engines import EngineError
from .gateway import HostState, get_gateway

HOST_DEADLINE_SECONDS = 1.5


async def check_engines() -> dict:
    """Each host's answer, answer time, breaker state, generations in flight and models.

    Without an engine the site still serves readers and editors, only without AI text, so a host
    that cannot answer makes the check degraded, never down.
    """
    gateway = get_gateway()
    # The gateway's own health check runs beside the probes and refreshes each host's models.
    *hosts, _ = await asyncio.gather(*(_probe(host) for host in gateway.hosts), gateway.registry.refresh())
    for host, state in zip(hosts, gateway.hosts, strict=True):
        host.update(
            reachable=host["status"] == "ok",
            breaker=str(state.breaker.state),
            in_flight=state.in_flight,
            models=sorted(state.models) if state.models is not None else None,
        )
    status = "ok" if all(host["status"] == "ok" for host in hosts) else "degraded"
    return {"name": "ai_engines", "status": status, "hosts": hosts}


def engines_accepting() -> bool:
    """Whether a generation sent now would find a host that is not known to be failing.

    A host is known to be failing from the last request sent to it (a generation or the background
    health check) until one succeeds, and while its breaker is open. Its model list is no sign: the
    client keeps it for a few seconds, and a host that lists its models again may still be cooling
    down after its failures, when the gateway refuses every generation.
    """
    return any(host.breaker.allows() and not host.last_error for host in get_gateway().hosts)


async def _probe(host: HostState) -> dict:
    started = time.monotonic()
    entry = {"url": host.url, "dialect": host.dialect}
    try:
        async with asyncio.timeout(HOST_DEADLINE_SECONDS):
            answer = await host.client.ping()
    except TimeoutError:
        return {**entry, "status": "down", "error": f"no answer within {HOST_DEADLINE_SECONDS:g} s"}
    except EngineError as error:
        return {**entry, "status": "down", "error": error.message}
    latency_ms = round((time.monotonic() - started) * 1000, 1)
    return {**entry, "status": "ok", "answer": answer, "latency_ms": latency_ms}
