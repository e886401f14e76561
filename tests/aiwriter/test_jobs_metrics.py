"""Batch jobs and Celery's queues on /metrics (aiwriter/jobs/metrics.py), read at scrape time."""

import logging
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from aiwriter.jobs import services as job_services
from aiwriter.jobs.metrics import celery_queue_names
from aiwriter.models import BatchJob, JobStatus
from aiwriter.tasks import batch_jobs_resume
from posts import services as post_services
from tests.redis_server import free_port


def scrape() -> dict[tuple[str, tuple], float]:
    """/metrics as {(sample name, its labels): value}."""
    response = Client().get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def job(user, status: str, *, total: int = 1, finished: int = 0, **fields) -> BatchJob:
    return BatchJob.objects.create(
        user=user, action="summarize", status=status, total=total, done_count=finished, **fields
    )


@pytest.mark.django_db
def test_a_scrape_counts_jobs_by_status_the_items_left_and_how_long_the_oldest_has_run(author):
    now = timezone.now()
    job(author, JobStatus.RUNNING, total=10, finished=4, started_at=now - timedelta(minutes=20))
    job(author, JobStatus.RUNNING, total=5, finished=0, started_at=now - timedelta(minutes=3))
    job(author, JobStatus.QUEUED, total=3, created_at=now - timedelta(minutes=7))
    job(author, JobStatus.FAILED, total=2, finished=2, finished_at=now)

    samples = scrape()

    counts = {status: value(samples, "blogsite_batch_jobs", status=status) for status in JobStatus.values}
    assert counts == {"queued": 1, "running": 2, "done": 0, "failed": 1, "cancelled": 0}
    assert value(samples, "blogsite_batch_items_pending") == 6 + 5 + 3
    assert 20 * 60 <= value(samples, "blogsite_batch_oldest_running_job_age_seconds") < 21 * 60
    assert 7 * 60 <= value(samples, "blogsite_batch_oldest_queued_job_age_seconds") < 8 * 60
    assert value(samples, "blogsite_jobs_metrics_up", source="database") == 1


@pytest.mark.django_db
def test_with_no_job_every_figure_is_there_at_zero():
    samples = scrape()

    assert all(value(samples, "blogsite_batch_jobs", status=status) == 0 for status in JobStatus.values)
    assert value(samples, "blogsite_batch_items_pending") == 0
    assert value(samples, "blogsite_batch_oldest_running_job_age_seconds") == 0
    assert value(samples, "blogsite_batch_oldest_queued_job_age_seconds") == 0
    for status in ("done", "skipped", "failed"):
        assert value(samples, "blogsite_batch_items_processed_total", status=status) == 0
    for queue in ("ai", "default"):
        assert value(samples, "blogsite_celery_queue_length", queue=queue) == 0


def test_the_queues_are_those_the_settings_route_tasks_to(settings):
    settings.CELERY_TASK_DEFAULT_QUEUE = "default"
    settings.CELERY_TASK_ROUTES = {"a.*": {"queue": "ai"}, "b.task": {"queue": "mail"}, "c.task": {"priority": 1}}
    assert celery_queue_names() == ["ai", "default", "mail"]


@pytest.mark.django_db
def test_messages_waiting_in_celery_queues_are_counted_per_queue(author, django_capture_on_commit_callbacks):
    post = post_services.post_create(author=author, data={"title": "A post", "body": "Some text."})
    with django_capture_on_commit_callbacks(execute=True):
        job_services.batch_start(user=author, action="summarize", post_ids=[post.pk])  # its dispatch, on `ai`
    batch_jobs_resume.delay()  # on `default`
    batch_jobs_resume.delay()

    samples = scrape()

    assert value(samples, "blogsite_celery_queue_length", queue="ai") == 1
    assert value(samples, "blogsite_celery_queue_length", queue="default") == 2
    assert value(samples, "blogsite_jobs_metrics_up", source="broker") == 1


@pytest.fixture
def simulator(settings, engine_settings):
    from aiwriter import worker

    settings.AIWRITER_TIMEOUTS = {"connect": 1.0, "first_token": 2.0, "idle": 2.0, "total": 10.0}
    engine_settings.reply = "A short summary of the post."
    yield engine_settings
    worker.loop_stop()


@pytest.mark.django_db
def test_items_are_counted_by_how_they_ended_once_their_result_is_committed(
    author, simulator, django_capture_on_commit_callbacks
):
    written = post_services.post_create(author=author, data={"title": "One", "body": "Some text."})
    filled = post_services.post_create(author=author, data={"title": "Two", "body": "Text.", "excerpt": "By hand."})
    job = job_services.batch_start(user=author, action="summarize", post_ids=[written.pk, filled.pk])

    with django_capture_on_commit_callbacks(execute=False) as uncommitted:
        for item_id in job.items.values_list("pk", flat=True):
            job_services.batch_item_process(item_id=item_id)
    samples = scrape()
    for status in ("done", "skipped", "failed"):
        assert value(samples, "blogsite_batch_items_processed_total", status=status) == 0

    for callback in uncommitted:
        callback()
    samples = scrape()

    assert value(samples, "blogsite_batch_items_processed_total", status="done") == 1
    assert value(samples, "blogsite_batch_items_processed_total", status="skipped") == 1
    assert value(samples, "blogsite_batch_items_processed_total", status="failed") == 0


@pytest.mark.django_db
def test_with_the_broker_down_the_page_still_answers_with_the_jobs_and_says_what_is_missing(author, settings, caplog):
    job(author, JobStatus.RUNNING, started_at=timezone.now())
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there

    with caplog.at_level(logging.WARNING, logger="aiwriter.jobs.metrics"):
        samples = scrape()
        scrape()

    assert value(samples, "blogsite_jobs_metrics_up", source="broker") == 0
    assert value(samples, "blogsite_jobs_metrics_up", source="database") == 1
    assert value(samples, "blogsite_batch_jobs", status="running") == 1
    assert not [key for key in samples if key[0].startswith(("blogsite_celery_", "blogsite_batch_items_processed"))]
    # Logged when the source fails, not at every scrape.
    assert [r.getMessage() for r in caplog.records] == ["/metrics: batch job figures from the broker are missing"]


def test_without_the_database_the_page_still_answers_with_the_queues():
    """No database access is allowed in this test, as when the database does not answer."""
    samples = scrape()

    assert value(samples, "blogsite_jobs_metrics_up", source="database") == 0
    assert value(samples, "blogsite_jobs_metrics_up", source="broker") == 1
    assert value(samples, "blogsite_celery_queue_length", queue="ai") == 0
    assert not [key for key in samples if key[0].startswith("blogsite_batch_jobs")]


@pytest.mark.django_db
def test_in_multiprocess_mode_the_figures_are_exported_too(author, monkeypatch, tmp_path):
    """serve.py runs daphne's processes so, and /metrics then builds a registry for each scrape."""
    job(author, JobStatus.QUEUED)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    samples = scrape()

    assert value(samples, "blogsite_batch_jobs", status="queued") == 1
    assert value(samples, "blogsite_celery_queue_length", queue="ai") == 0
