"""Prometheus metrics of the AI gateway, exported at /metrics with the site's other metrics.

Gauges sum over live processes in multiprocess mode (the launcher sets PROMETHEUS_MULTIPROC_DIR),
except the breaker state, where the worst state any process sees is the one that matters.
"""

import functools

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

GENERATIONS = Counter(
    "blogsite_ai_generations_total",
    "Generations that ended, by action, model, dialect (or cache) and outcome (done, error, cancelled).",
    ["action", "model", "dialect", "outcome"],
)
TIME_TO_FIRST_TOKEN = Histogram(
    "blogsite_ai_time_to_first_token_seconds",
    "From the request to its first text, in seconds.",
    ["model"],
    buckets=_SECONDS,
)
DURATION = Histogram(
    "blogsite_ai_generation_duration_seconds", "From the request to its end, in seconds.", ["model"], buckets=_SECONDS
)
TOKENS = Counter(
    "blogsite_ai_tokens_generated_total",
    "Tokens the models generated (as the engines count them, or as streamed).",
    ["model"],
)
TOKENS_PER_SECOND = Histogram(
    "blogsite_ai_tokens_per_second",
    "Generation speed, per upstream generation.",
    ["model"],
    buckets=(1, 2, 5, 10, 20, 30, 50, 75, 100, 200, 500, 1000, 5000),
)
IN_FLIGHT = Gauge(
    "blogsite_ai_in_flight",
    "Generations streaming from each inference host.",
    ["host", "dialect"],
    multiprocess_mode="livesum",
)
QUEUE_DEPTH = Gauge(
    "blogsite_ai_queue_depth", "Generations waiting for a slot, by priority.", ["priority"], multiprocess_mode="livesum"
)
QUEUE_WAIT = Histogram(
    "blogsite_ai_queue_wait_seconds",
    "Time a generation waited for a slot, by priority.",
    ["priority"],
    buckets=_SECONDS,
)
QUEUE_REJECTED = Counter(
    "blogsite_ai_queue_rejected_total", "Generations refused as busy because the wait queue was full.", ["priority"]
)
CACHE = Counter("blogsite_ai_cache_total", "Response cache lookups, by result (hit or miss).", ["result"])
RETRIES = Counter("blogsite_ai_retries_total", "Upstream requests sent again after a failure, by error kind.", ["kind"])
BREAKER_STATE = Gauge(
    "blogsite_ai_breaker_state",
    "Circuit breaker per host: 0 closed, 1 half open, 2 open.",
    ["host", "dialect"],
    multiprocess_mode="max",
)
UPSTREAM_ERRORS = Counter(
    "blogsite_ai_upstream_errors_total",
    "Failed upstream requests, by host, dialect and error kind.",
    ["host", "dialect", "kind"],
)


@functools.lru_cache(maxsize=1024)
def labelled(metric: MetricWrapperBase, **labels: str) -> MetricWrapperBase:
    """`metric.labels(**labels)`, kept for the next time.

    prometheus_client checks and converts the label values on every `labels()` call; the gateway
    updates about a dozen metrics per generation, hundreds of generations a second under load.
    Label values are bounded (models a host lists, hosts, error kinds), and so is this cache.
    """
    return metric.labels(**labels)
