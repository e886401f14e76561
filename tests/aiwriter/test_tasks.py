"""The batch job tasks: small wrappers that route to the `ai` queue and retry while an item is held."""

from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.conf import settings
from django.utils import timezone

from aiwriter import tasks, worker
from aiwriter.jobs import services as job_services
from aiwriter.models import BatchItem, BatchJob, ItemStatus
from blogsite.celery import app
from posts import services as post_services

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _worker_loop_stopped():
    """Items run here stream on this process's worker loop; it closes after each test, as at a worker's shutdown."""
    yield
    worker.loop_stop()


@pytest.fixture
def job(author, engine_settings):
    engine_settings.reply = "A summary."
    posts = [
        post_services.post_create(author=author, data={"title": f"Post {n}", "body": "Some text."}) for n in range(3)
    ]
    return job_services.batch_start(user=author, action="summarize", post_ids=[post.pk for post in posts])


def test_ai_tasks_go_to_the_ai_queue_and_the_rest_to_default():
    assert app.amqp.router.route({}, "aiwriter.tasks.batch_item_run")["queue"].name == "ai"
    assert app.amqp.router.route({}, "aiwriter.tasks.batch_job_dispatch")["queue"].name == "ai"
    assert app.amqp.router.route({}, "posts.tasks.posts_publish_due")["queue"].name == "default"


def test_ai_tasks_survive_a_worker_dying():
    for task in (tasks.batch_item_run, tasks.batch_job_dispatch):
        assert task.acks_late and task.reject_on_worker_lost
        assert task.time_limit and task.time_limit < settings.AIWRITER_BATCH_ITEM_LEASE_SECONDS


def test_dispatch_sends_one_message_per_unfinished_item(job, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.batch_item_run, "delay", sent.append)
    first = job.items.first()
    BatchItem.objects.filter(pk=first.pk).update(status=ItemStatus.DONE)

    assert tasks.batch_job_dispatch(job.pk) == 2
    assert sorted(sent) == sorted(job.items.exclude(pk=first.pk).values_list("pk", flat=True))


def test_dispatch_of_a_cancelled_job_sends_nothing(job, author, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.batch_item_run, "delay", sent.append)
    job_services.batch_cancel(job=job, by=author)
    assert tasks.batch_job_dispatch(job.pk) == 0
    assert sent == []


def test_the_item_task_processes_its_item(job):
    item = job.items.first()
    assert tasks.batch_item_run(item.pk) == ItemStatus.DONE
    assert item.post.__class__.objects.get(pk=item.post_id).excerpt == "A summary."
    assert tasks.batch_item_run(item.pk) is None


def test_the_item_task_retries_when_its_lease_ends_while_another_delivery_holds_it(job, monkeypatch):
    item = job.items.first()
    BatchItem.objects.filter(pk=item.pk).update(
        status=ItemStatus.RUNNING, claim_token="other", lease_until=timezone.now() + timedelta(seconds=20)
    )
    retries = []

    def retry(**kwargs):
        retries.append(kwargs)
        return Retry()

    monkeypatch.setattr(tasks.batch_item_run, "retry", retry)
    with pytest.raises(Retry):
        tasks.batch_item_run(item.pk)
    assert 19 < retries[0]["countdown"] <= 21


def test_resume_sends_again_only_jobs_that_made_no_progress(job, author, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.batch_item_run, "delay", sent.append)
    fresh = job_services.batch_start(user=author, action="summarize", post_ids=[job.items.first().post_id])
    BatchJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(hours=1))

    assert tasks.batch_jobs_resume() == [job.pk]
    assert sorted(sent) == sorted(job.items.values_list("pk", flat=True))
    assert fresh.pk not in tasks.batch_jobs_resume()


def test_resume_leaves_a_job_alone_while_its_items_move(job, monkeypatch):
    monkeypatch.setattr(tasks.batch_item_run, "delay", lambda item_id: None)
    BatchJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(hours=1))
    job_services.batch_item_process(item_id=job.items.first().pk)

    assert tasks.batch_jobs_resume() == []


def test_resume_runs_on_the_default_queue():
    assert app.amqp.router.route({}, "aiwriter.tasks.batch_jobs_resume")["queue"].name == "default"
