"""Batch jobs and Celery's queues on /metrics, read when Prometheus scrapes.

Items run in the Celery workers, which nobody scrapes, so the figures are read at scrape time
from where the workers leave them, whichever web process answers:

- the jobs' rows, in one aggregate query: jobs in each status, items still to process, and how
  long the oldest running and the oldest queued job have been at it;
- in the broker's Redis, in one round trip: each Celery queue's length (Celery's Redis transport
  keeps a queue as a list named after it) and a count of the items processed, by how they ended,
  which the worker that finishes an item adds to once its result is committed. Prometheus takes
  that count's rate() as items per minute; Redis losing it in a restart reads as a counter reset.

A source that does not answer leaves its figures out, never the page: blogsite_jobs_metrics_up
says which one failed, and its failure is logged once, when it starts.
"""

import logging
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Min, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..models import BatchJob, ItemStatus, JobStatus

logger = logging.getLogger(__name__)

# A hash in the broker's Redis: item status -> items that ended so. It has no expiry, so Redis's
# volatile-lru policy never evicts it.
ITEMS_PROCESSED_KEY = "blogsite:batch:items_processed"
# How an item processed by a worker ends; a cancelled item never ran and is not counted.
PROCESSED_STATUSES = (ItemStatus.DONE, ItemStatus.SKIPPED, ItemStatus.FAILED)
ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
# A scrape waits at most this long for the broker, per connection attempt and per reply.
BROKER_TIMEOUT_SECONDS = 0.5


def items_processed_count(*, status: str) -> None:
    """Count one item's ending once the transaction that recorded it commits (at once outside one)."""
    transaction.on_commit(lambda: _items_processed_add(status))


def _items_processed_add(status: str) -> None:
    try:
        broker_client().hincrby(ITEMS_PROCESSED_KEY, status, 1)
    except (redis.RedisError, ValueError):
        # The item is recorded in the database all the same; only the count on /metrics misses it.
        logger.warning("Batch item's ending (%s) not counted: the broker's Redis did not answer", status, exc_info=True)


def broker_client() -> redis.Redis:
    return _redis_client(settings.CELERY_BROKER_URL)


@cache
def _redis_client(url: str) -> redis.Redis:
    """One client (and connection pool) per process, with short timeouts so a scrape never hangs."""
    return redis.Redis.from_url(
        url, socket_connect_timeout=BROKER_TIMEOUT_SECONDS, socket_timeout=BROKER_TIMEOUT_SECONDS
    )


def celery_queue_names() -> list[str]:
    """The queues the project's settings send tasks to: the default one and those of the routes."""
    names = {getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")}
    routes = getattr(settings, "CELERY_TASK_ROUTES", None) or {}
    names.update(route["queue"] for route in routes.values() if isinstance(route, dict) and "queue" in route)
    return sorted(names)


class BatchJobsCollector(Collector):
    """The batch jobs' and Celery queues' state, read from the database and the broker at each scrape."""

    def __init__(self) -> None:
        self._down: set[str] = set()

    def describe(self) -> Iterator:
        """The families without samples: registering the collector reads nothing."""
        yield from self._database_families()
        yield from self._broker_families()
        yield self._up_family()

    def collect(self) -> Iterator:
        up = self._up_family()
        database = self._read("database", _jobs_by_status)
        broker = self._read("broker", _broker_figures)
        up.add_metric(["database"], float(database is not None))
        up.add_metric(["broker"], float(broker is not None))
        if database is not None:
            yield from self._database_families(database)
        if broker is not None:
            yield from self._broker_families(*broker)
        yield up

    def _read(self, source: str, read: Callable[[], Any]) -> Any | None:
        """What `read` returns, or None when its source failed (logged when it starts failing)."""
        try:
            figures = read()
        except Exception:  # any failure of a source means the same here: its figures are missing
            if source not in self._down:
                logger.warning("/metrics: batch job figures from the %s are missing", source, exc_info=True)
            self._down.add(source)
            return None
        if source in self._down:
            logger.info("/metrics: batch job figures from the %s are back", source)
            self._down.discard(source)
        return figures

    @staticmethod
    def _up_family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "blogsite_jobs_metrics_up",
            "1 when this scrape read the batch jobs' figures from the source (database, or broker: Celery's "
            "Redis), 0 when the source did not answer and its figures are missing.",
            labels=["source"],
        )

    @staticmethod
    def _database_families(rows: dict[str, dict] | None = None) -> list[GaugeMetricFamily]:
        jobs = GaugeMetricFamily("blogsite_batch_jobs", "Batch jobs in each status.", labels=["status"])
        pending = GaugeMetricFamily(
            "blogsite_batch_items_pending", "Items of queued and running batch jobs not processed yet."
        )
        oldest_running = GaugeMetricFamily(
            "blogsite_batch_oldest_running_job_age_seconds",
            "Seconds since the longest-running batch job started; 0 when none runs.",
        )
        oldest_queued = GaugeMetricFamily(
            "blogsite_batch_oldest_queued_job_age_seconds",
            "Seconds the oldest queued batch job has waited for a worker to start it; 0 when none waits.",
        )
        if rows is not None:
            now = timezone.now()
            for status in JobStatus.values:
                jobs.add_metric([status], rows.get(status, {}).get("jobs", 0))
            active = [rows[status] for status in ACTIVE_STATUSES if status in rows]
            pending.add_metric([], sum(row["items"] - row["finished"] for row in active))
            oldest_running.add_metric([], _age(now, rows.get(JobStatus.RUNNING, {}).get("first_started")))
            oldest_queued.add_metric([], _age(now, rows.get(JobStatus.QUEUED, {}).get("first_created")))
        return [jobs, pending, oldest_running, oldest_queued]

    @staticmethod
    def _broker_families(queues: dict[str, int] | None = None, processed: dict[str, int] | None = None) -> list:
        lengths = GaugeMetricFamily(
            "blogsite_celery_queue_length", "Messages waiting in each Celery queue for a worker.", labels=["queue"]
        )
        items = CounterMetricFamily(
            "blogsite_batch_items_processed",
            "Batch items the workers processed, by how they ended (done, skipped or failed); reset when the "
            "broker's Redis restarts.",
            labels=["status"],
        )
        if queues is not None and processed is not None:
            for name, length in queues.items():
                lengths.add_metric([name], length)
            for status in PROCESSED_STATUSES:
                items.add_metric([status], processed.get(status, 0))
        return [lengths, items]


def _jobs_by_status() -> dict[str, dict]:
    """One aggregate query over the jobs: per status, how many, their items, and the oldest start."""
    finished = F("done_count") + F("skipped_count") + F("failed_count") + F("cancelled_count")
    rows = (
        BatchJob.objects.order_by()
        .values("status")
        .annotate(
            jobs=Count("pk"),
            items=Sum("total"),
            finished=Sum(finished),
            first_created=Min("created_at"),
            first_started=Min("started_at"),
        )
    )
    return {row["status"]: row for row in rows}


def _broker_figures() -> tuple[dict[str, int], dict[str, int]]:
    """Each queue's length and the items-processed counts, in one round trip to the broker."""
    names = celery_queue_names()
    pipeline = broker_client().pipeline(transaction=False)
    for name in names:
        pipeline.llen(name)
    pipeline.hgetall(ITEMS_PROCESSED_KEY)
    *lengths, processed = pipeline.execute()
    counts = {key.decode(): int(value) for key, value in processed.items()}
    return dict(zip(names, lengths, strict=True)), counts


def _age(now, since) -> float:
    return max(0.0, (now - since).total_seconds()) if since else 0.0
