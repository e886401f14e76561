"""Batch jobs on real Celery worker processes, the run's Redis and the Ollama simulator.

The workers open the same test database as the test (an SQLite file, see blogsite/settings/test.py,
or the PostgreSQL test database). Each test kills its workers at teardown, whatever happened.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

from aiwriter import jobs
from aiwriter.models import BatchJob, ItemStatus, JobStatus
from posts import services as post_services
from posts.models import Post

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

ROOT = Path(__file__).resolve().parents[2]
WORKER_START_SECONDS = 60
REPLY = " ".join(f"word{n}" for n in range(12))
# Short, so that a killed worker's messages and claims come back within the test.
VISIBILITY_SECONDS = 2
LEASE_SECONDS = 8


def worker_database_url(database: dict) -> str:
    """The URL of the database this test process uses, for the workers to open the same one."""
    if database["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{database['NAME']}"
    credentials = quote(database["USER"] or "", safe="") + (
        ":" + quote(database["PASSWORD"], safe="") if database["PASSWORD"] else ""
    )
    return f"postgres://{credentials}@{database['HOST'] or 'localhost'}:{database['PORT'] or 5432}/{database['NAME']}"


class Worker:
    def __init__(self, *, log: Path, ollama_url: str, concurrency: int) -> None:
        self.log = log
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "blogsite.settings.test",
            "DATABASE_URL": worker_database_url(connection.settings_dict),
            "REDIS_URL": settings.REDIS_URL,
            "OLLAMA_URLS": ollama_url,
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_SECONDS),
            "AIWRITER_BATCH_ITEM_LEASE_SECONDS": str(LEASE_SECONDS),
            "AIWRITER_TIMEOUT_TOTAL": "5",
        }
        command = [
            sys.executable, "-m", "celery", "-A", "blogsite", "worker", "-Q", "ai,default",
            "--pool", "threads", "--concurrency", str(concurrency), "-n", f"test-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO",
        ]  # fmt: skip
        self.output = log.open("ab")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.output, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + WORKER_START_SECONDS
        while time.monotonic() < deadline:
            if b" ready." in self.log.read_bytes():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"The worker did not start:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no acknowledgements, as when a machine dies."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.output.close()


@pytest.fixture
def start_worker(tmp_path, ollama_sim) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(concurrency: int = 2) -> Worker:
        worker = Worker(log=tmp_path / "worker.log", ollama_url=ollama_sim.url, concurrency=concurrency)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.kill()


@pytest.fixture
def posts(author, ollama_sim) -> list[Post]:
    ollama_sim.reply = REPLY
    return [
        post_services.post_create(author=author, data={"title": f"Post {n}", "body": f"Text number {n}."})
        for n in range(20)
    ]


def wait_for(condition: Callable[[], bool], *, seconds: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"Timed out waiting until {what}.\n{tail}")


def job_now(job: BatchJob) -> BatchJob:
    job.refresh_from_db()
    return job


def drain(layer, channel: str) -> list[dict]:
    async def receive_all() -> list[dict]:
        events = []
        while True:
            try:
                events.append(await asyncio.wait_for(layer.receive(channel), timeout=0.5))
            except TimeoutError:
                return events

    return async_to_sync(receive_all)()


def test_a_job_over_20_posts_completes_with_its_progress_pushed(author, posts, start_worker, tmp_path):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(jobs.user_group(author.pk), channel)
    start_worker()

    job = jobs.batch_start(user=author, action="summarize", missing=True)
    wait_for(
        lambda: job_now(job).status == JobStatus.DONE, seconds=60, what="the job is done", log=tmp_path / "worker.log"
    )

    assert (job.total, job.done_count, job.finished_count) == (20, 20, 20)
    assert all(post.excerpt == REPLY for post in Post.objects.all())
    events = drain(layer, channel)
    done_items = {event["item"]["id"] for event in events if event.get("item", {}).get("status") == "done"}
    assert done_items == set(job.items.values_list("pk", flat=True))
    assert sorted(event["job"]["finished"] for event in events)[-1] == 20
    assert any(event["job"]["status"] == "done" and event["job"]["done"] == 20 for event in events)
    assert all(event["job"]["id"] == job.pk and event["job"]["total"] == 20 for event in events)


def test_a_worker_killed_mid_job_is_replaced_and_every_post_is_written_once(posts, author, start_worker, ollama_sim):
    ollama_sim.tokens_per_second = 40  # about a third of a second a post
    worker = start_worker()
    job = jobs.batch_start(user=author, action="summarize", post_ids=[post.pk for post in posts])
    wait_for(
        lambda: job_now(job).done_count >= 4 and job.items.filter(status=ItemStatus.RUNNING).exists(),
        seconds=60,
        what="four posts are done and more are being processed",
        log=worker.log,
    )

    worker.kill()
    interrupted = set(job.items.filter(status=ItemStatus.RUNNING).values_list("pk", flat=True))
    assert interrupted
    assert job_now(job).done_count < 20
    time.sleep(VISIBILITY_SECONDS + 0.5)  # until the broker may hand the dead worker's messages out again
    worker = start_worker()
    wait_for(lambda: job_now(job).status == JobStatus.DONE, seconds=90, what="the job is done", log=worker.log)

    assert (job.done_count, job.failed_count, job.skipped_count) == (20, 0, 0)
    for post in Post.objects.all():
        assert post.excerpt == REPLY
        assert (
            list(post.revisions.values_list("note", flat=True)).count(
                f"AI batch job {job.pk}: summarize into the excerpt"
            )
            == 1
        )
        assert post.version == 2


def test_cancel_stops_the_remaining_items(posts, author, start_worker, ollama_sim):
    ollama_sim.tokens_per_second = 30
    worker = start_worker(concurrency=1)
    job = jobs.batch_start(user=author, action="summarize", post_ids=[post.pk for post in posts])
    wait_for(lambda: job_now(job).done_count >= 2, seconds=60, what="two posts are done", log=worker.log)

    jobs.batch_cancel(job=job, by=author)
    wait_for(
        lambda: not job.items.filter(status=ItemStatus.RUNNING).exists(),
        seconds=30,
        what="no item runs",
        log=worker.log,
    )
    time.sleep(1)  # a cancelled item's message still arriving must not start it

    job = job_now(job)
    assert job.status == JobStatus.CANCELLED
    assert job.cancelled_count >= 15
    assert job.done_count + job.cancelled_count == 20
    assert Post.objects.exclude(excerpt="").count() == job.done_count
    assert len(ollama_sim.requests_to("/api/chat")) == job.done_count
