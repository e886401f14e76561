"""Batch jobs on real Celery worker processes, the run's Redis and the engine simulator.

The workers open the same test database as the test (an SQLite file, see blogsite/settings/test.py,
or the PostgreSQL test database). Each test kills its workers at teardown, whatever happened.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import aclosing
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

from aiwriter import services
from aiwriter.gateway import close_gateway
from aiwriter.jobs import services as job_services
from aiwriter.models import BatchJob, Generation, ItemStatus, JobStatus
from aiwriter.protocol import GenerationRequest
from posts import services as post_services
from posts.models import Post
from tests.posts.readers import session_cookies, site
from tests.redis_server import free_port

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
            # The worker's concurrency comes from the setting, as in run-dev.sh.
            "AIWRITER_BATCH_CONCURRENCY": str(concurrency),
            # Longer than any test: each health check the simulator sees is a gateway starting.
            "AIWRITER_HEALTH_INTERVAL": "600",
        }
        command = [
            sys.executable, "-m", "celery", "-A", "blogsite", "worker", "-Q", "ai,default",
            "--pool", "threads", "-n", f"test-{uuid.uuid4().hex[:8]}@%h",
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

    def stop(self) -> None:
        """SIGTERM: a warm shutdown, as a service manager stops it."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no acknowledgements, as when a machine dies."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.output.close()


@pytest.fixture
def start_worker(tmp_path, engine) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(concurrency: int = 2) -> Worker:
        worker = Worker(log=tmp_path / "worker.log", ollama_url=engine.url, concurrency=concurrency)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.kill()


@pytest.fixture
def posts(author, engine) -> list[Post]:
    engine.reply = REPLY
    return [
        post_services.post_create(author=author, data={"title": f"Post {n}", "body": f"Text number {n}."})
        for n in range(20)
    ]


def wait_for(
    condition: Callable[[], bool],
    *,
    seconds: float,
    what: str,
    log: Path | None = None,
    state: Callable[[], str] | None = None,
) -> None:
    """Polls `condition`; on a timeout, says what it waited for, `state()` and the worker log's end."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"Timed out waiting until {what}.\n{state() if state else ''}\n{tail}")


def work_left(job: BatchJob) -> str:
    """The job's unfinished items and the messages the broker holds, to tell a lost message from a slow worker."""
    items = job.items.filter(status__in=[ItemStatus.QUEUED, ItemStatus.RUNNING]).order_by("pk")
    rows = [f"  item {i.pk}: {i.status}, attempts {i.attempts}, lease until {i.lease_until}" for i in items]
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    waiting = {queue: broker.llen(queue) for queue in ("ai", "default")}
    return "\n".join(
        [f"Unfinished items: {len(rows)}", *rows, f"Messages waiting {waiting}, taken {broker.hlen('unacked')}"]
    )


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


def test_a_job_over_20_posts_completes_with_its_progress_pushed(author, posts, start_worker, engine, tmp_path):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(job_services.user_group(author.pk), channel)
    worker = start_worker()

    job = job_services.batch_start(user=author, action="summarize", missing=True)
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
    # One gateway served the worker process all along (a new one checks the engine's models first) ...
    assert len(engine.requests_to("/api/tags")) == 1
    # ... and was closed when the worker stopped.
    worker.stop()
    assert "AI gateway of process" in (tmp_path / "worker.log").read_text()


def test_a_worker_killed_mid_job_is_replaced_and_every_post_is_written_once(posts, author, start_worker, engine):
    engine.tokens_per_second = 40  # about a third of a second a post
    worker = start_worker()
    job = job_services.batch_start(user=author, action="summarize", post_ids=[post.pk for post in posts])
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
    wait_for(
        lambda: job_now(job).status == JobStatus.DONE,
        seconds=90,
        what="the job is done",
        log=worker.log,
        state=lambda: work_left(job),
    )

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


def test_cancel_stops_the_remaining_items(posts, author, start_worker, engine):
    engine.tokens_per_second = 30
    worker = start_worker(concurrency=1)
    job = job_services.batch_start(user=author, action="summarize", post_ids=[post.pk for post in posts])
    wait_for(lambda: job_now(job).done_count >= 2, seconds=60, what="two posts are done", log=worker.log)

    job_services.batch_cancel(job=job, by=author)
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
    assert len(engine.requests_to("/api/chat")) == job.done_count


EDITOR_TEXT = "A sentence the editor wants rewritten while the job runs."


def editor_first_piece_seconds(user) -> float:
    """How long an editor's own generation (in this process, as the web processes run it) waits for its first text."""
    request = GenerationRequest(request_id="editor", action="rewrite", text=EDITOR_TEXT)
    prepared = async_to_sync(services.generation_prepare)(user=user, request=request)

    async def first_piece() -> float:
        started = time.monotonic()
        try:
            async with aclosing(services.completion_pieces(prepared=prepared, run=services.GenerationRun())) as pieces:
                async for _piece in pieces:
                    return time.monotonic() - started
        finally:
            await close_gateway()
        raise AssertionError("The editor got no text.")

    return async_to_sync(first_piece)()


def most_at_once(records) -> int:
    """The most of these requests the engine had open at the same moment."""
    moments = sorted([(r.received_at, 1) for r in records] + [(r.finished_at, -1) for r in records])
    open_now = most = 0
    for _moment, change in moments:
        open_now += change
        most = max(most, open_now)
    return most


def test_batch_work_keeps_to_its_share_of_the_engine_and_an_editor_starts_at_once(
    author, start_worker, engine_settings
):
    """The engine runs three generations at once; the job holds at most two of them, so an editor never waits."""
    engine = engine_settings
    engine.num_parallel, engine.tokens_per_second, engine.reply = 3, 4, REPLY  # three seconds a post
    posts = [
        post_services.post_create(author=author, data={"title": f"Post {n}", "body": f"Text number {n}."})
        for n in range(6)
    ]
    worker = start_worker(concurrency=2)
    job = job_services.batch_start(user=author, action="summarize", post_ids=[post.pk for post in posts])
    wait_for(lambda: engine.in_flight == 2, seconds=30, what="the job runs two posts at once", log=worker.log)

    waited = editor_first_piece_seconds(author)

    wait_for(lambda: job_now(job).status == JobStatus.DONE, seconds=90, what="the job is done", log=worker.log)
    chats = engine.requests_to("/api/chat")
    batch = [record for record in chats if EDITOR_TEXT not in str(record.body)]
    assert len(batch) == job.done_count == 6
    assert most_at_once(batch) == 2
    assert len(chats) == 7
    assert waited < 1.5  # a post takes three seconds: the editor did not wait for one to end


# A web process whose Redis (the broker) is down: the job start is a real request in a process of its own.
START_WITH_REDIS_DOWN = """
import json, sys, time
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
from accounts.models import User
setup_test_environment()
client = Client(raise_request_exception=False)
client.force_login(User.objects.get(pk=int(sys.argv[1])))
body = json.dumps({"action": "summarize", "post_ids": [int(sys.argv[2])]})
started = time.monotonic()
response = client.post("/aiwriter/jobs/", body, "application/json")
print(json.dumps({"status": response.status_code, "seconds": time.monotonic() - started,
                  "body": response.content.decode()}))
"""


def test_starting_a_job_while_redis_is_down_fails_fast_and_leaves_no_job(author, posts, tmp_path):
    down = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "blogsite.settings.test",
        "DATABASE_URL": worker_database_url(connection.settings_dict),
        "REDIS_URL": down,
        "CELERY_BROKER_URL": down,
    }
    command = [sys.executable, "-c", START_WITH_REDIS_DOWN, str(author.pk), str(posts[0].pk)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])

    assert answer["status"] == 503, answer
    assert answer["seconds"] < 3
    assert "Nothing was started" in json.loads(answer["body"])["message"]
    assert not BatchJob.objects.exists()


def test_a_jobs_generations_keep_the_id_of_the_request_that_started_it(author, posts, start_worker):
    """The id goes from the request to the dispatching task, from it to each item's task, and into the audit records."""
    worker = start_worker()
    cookies = {**session_cookies(author), "csrftoken": "a" * 32}

    async def start_job() -> httpx.Response:
        async with site(cookies=cookies) as client:
            return await client.post(
                "/aiwriter/jobs/",
                json={"action": "summarize", "post_ids": [post.pk for post in posts[:3]]},
                headers={"X-CSRFToken": "a" * 32, "X-Request-ID": "job-req-1"},
            )

    response = async_to_sync(start_job)()
    assert response.status_code == 202
    job = BatchJob.objects.get(pk=response.json()["job"]["id"])
    wait_for(lambda: job_now(job).status == JobStatus.DONE, seconds=60, what="the job is done", log=worker.log)
    assert list(Generation.objects.values_list("http_request_id", flat=True)) == ["job-req-1"] * 3
