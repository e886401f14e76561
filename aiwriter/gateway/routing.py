"""Which host gets a request: a healthy one that serves the model, the least busy, ties at random."""

import random
from collections.abc import Iterable

from .hosts import HostState


class NoHealthyHost(Exception):
    """Every host that could serve the request is failing (its breaker is open)."""


def least_busy(
    hosts: Iterable[HostState], *, model: str, per_host_limit: int, exclude: frozenset[str] = frozenset()
) -> HostState | None:
    """The host to use now, or None when every suitable host is full. Raises NoHealthyHost.

    Hosts whose models are known and lack `model` are skipped, unless no host has it: then the
    request still goes out, so the editor hears the host's own "not installed".
    """
    hosts = [host for host in hosts if host.url not in exclude]
    candidates = [host for host in hosts if host.serves(model)] or hosts
    healthy = [host for host in candidates if host.breaker.allows()]
    if not healthy:
        raise NoHealthyHost(model)
    free = [host for host in healthy if host.in_flight < per_host_limit]
    if not free:
        return None
    fewest = min(host.in_flight for host in free)
    return random.choice([host for host in free if host.in_flight == fewest])
