"""Batch jobs over HTTP, the admin, the dashboard panel and the AI writer's socket."""

import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from aiwriter.jobs import services as job_services
from aiwriter.models import BatchJob, JobStatus
from posts import services as post_services
from tests.aiwriter.fixtures import shared_clients, transactional, websocket  # noqa: F401 (fixtures)

START_URL = "/aiwriter/jobs/"


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch):
    """The HTTP side only: what the workers would do is tested in test_jobs.py."""
    monkeypatch.setattr(job_services, "_enqueue_dispatch", lambda job_id: None)


def draft(author, **fields):
    return post_services.post_create(author=author, data={"title": "A post", "body": "Text.", **fields})


def post_json(client, url, payload):
    return client.post(url, json.dumps(payload) if not isinstance(payload, bytes) else payload, "application/json")


@pytest.mark.django_db
def test_an_author_starts_a_job_and_gets_its_state_at_once(client, author):
    post = draft(author)
    client.force_login(author)

    response = post_json(client, START_URL, {"action": "summarize", "post_ids": [post.pk]})

    assert response.status_code == 202
    job = response.json()["job"]
    assert (job["status"], job["total"], job["finished"], job["overwrite"]) == ("queued", 1, 0, False)
    assert job["url"] == reverse("aiwriter:job", args=[job["id"]])
    state = client.get(job["url"]).json()["job"]
    assert state["items"] == [
        {
            "id": state["items"][0]["id"],
            "post_id": post.pk,
            "image_id": None,
            "title": "A post",
            "status": "queued",
            "status_label": "Queued",
            "result": "",
            "error": "",
        }
    ]


@pytest.mark.django_db
def test_missing_with_overwrite_is_accepted(client, author):
    draft(author)
    client.force_login(author)
    response = post_json(client, START_URL, {"action": "meta_description", "missing": True, "overwrite": True})
    assert response.status_code == 202
    assert BatchJob.objects.get().overwrite is True


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", "not valid JSON"),
        ([1, 2], "Send a JSON object"),
        ({"action": "summarize", "missing": "yes"}, "must be true or false"),
        ({"action": "summarize", "post_ids": "1,2"}, "list of post numbers"),
        ({"action": "summarize", "post_ids": [1], "missing": True}, "either post_ids or missing"),
        ({"action": "poem", "missing": True}, "Unknown action"),
        ({"action": "summarize", "post_ids": [999999]}, "cannot edit these posts"),
        (b"[" * 100_000, "nested too deeply"),
        ({"action": ["summarize"], "missing": True}, "Unknown action"),
        ({"action": {"name": "summarize"}, "missing": True}, "Unknown action"),
        ({"action": "summarize", "post_ids": [2**70]}, "64 bits"),
        ({"action": "summarize", "post_ids": [-(2**70)]}, "64 bits"),
    ],
)
def test_bad_requests_are_refused_with_a_message(client, author, payload, message):
    client.force_login(author)
    response = post_json(client, START_URL, payload)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert not BatchJob.objects.exists()


@pytest.mark.django_db
def test_signed_out_and_readers_are_refused(client, reader):
    assert post_json(client, START_URL, {"action": "summarize", "missing": True}).status_code == 401
    client.force_login(reader)
    assert post_json(client, START_URL, {"action": "summarize", "missing": True}).status_code == 403


@pytest.mark.django_db
def test_starting_a_job_needs_the_csrf_token(author):
    client = Client(enforce_csrf_checks=True)
    client.force_login(author)
    draft(author)
    assert post_json(client, START_URL, {"action": "summarize", "missing": True}).status_code == 403
    assert not BatchJob.objects.exists()


@pytest.mark.django_db
def test_nobody_else_sees_or_cancels_a_job(client, author, other_author):
    job = job_services.batch_start(user=author, action="summarize", post_ids=[draft(author).pk])
    client.force_login(other_author)
    assert client.get(reverse("aiwriter:job", args=[job.pk])).status_code == 404
    assert client.post(reverse("aiwriter:job_cancel", args=[job.pk])).status_code == 404
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED


@pytest.mark.django_db
def test_the_owner_cancels_once(client, author):
    job = job_services.batch_start(user=author, action="summarize", post_ids=[draft(author).pk])
    client.force_login(author)
    url = reverse("aiwriter:job_cancel", args=[job.pk])

    response = client.post(url)
    assert response.status_code == 200
    assert (response.json()["job"]["status"], response.json()["job"]["cancelled"]) == ("cancelled", 1)
    again = client.post(url)
    assert again.status_code == 409
    assert "already finished" in again.json()["message"]


@pytest.mark.django_db
def test_staff_start_a_job_from_the_posts_admin(client, staff, author):
    posts = [draft(author), draft(author, excerpt="Kept.")]
    client.force_login(staff)
    response = client.post(
        reverse("admin:posts_post_changelist"),
        {"action": "ai_batch_summarize", "_selected_action": [post.pk for post in posts]},
    )

    assert response.status_code == 302
    job = BatchJob.objects.get()
    assert (job.user, job.total, job.overwrite) == (staff, 2, False)
    assert "AI batch job" in str(list(get_messages(response.wsgi_request))[0])


@pytest.mark.django_db
def test_the_dashboard_offers_batch_ai_to_writers(client, author):
    draft(author)
    client.force_login(author)
    page = client.get(reverse("editor:dashboard")).content.decode()
    assert "Batch AI" in page
    assert 'name="post_ids"' in page
    assert "js/aiwriter-jobs.js" in page


async def first_progress(user, job) -> dict | None:
    """The first job_progress message the user's socket receives while the job's progress is published."""
    async with websocket(user) as socket:
        for _ in range(20):  # the socket joins its group just after connecting
            await sync_to_async(job_services.progress_publish)(job=job)
            try:
                return await socket.receive_json_from(timeout=0.2)
            except TimeoutError:
                continue
    return None


@transactional
@pytest.mark.usefixtures("shared_clients")
async def test_the_socket_relays_the_users_job_progress(author):
    post = await sync_to_async(draft)(author)
    job = await sync_to_async(job_services.batch_start)(user=author, action="summarize", post_ids=[post.pk])
    message = await first_progress(author, job)
    assert message["type"] == "job_progress"
    assert message["job"]["id"] == job.pk


@transactional
@pytest.mark.usefixtures("shared_clients")
async def test_the_socket_relays_every_items_final_state_when_a_job_ends(author):
    posts = [await sync_to_async(draft)(author) for _ in range(2)]
    job = await sync_to_async(job_services.batch_start)(
        user=author, action="summarize", post_ids=[post.pk for post in posts]
    )
    job = await sync_to_async(job_services.batch_cancel)(job=job, by=author)
    message = await first_progress(author, job)
    assert message["job"]["ended"] is True
    assert [(item["post_id"], item["status"]) for item in message["items"]] == [
        (posts[0].pk, "cancelled"),
        (posts[1].pk, "cancelled"),
    ]


# Limits on batch work, and starting a job while the job queue is down


def cancel(client, job: dict):
    return client.post(job["cancel_url"])


@pytest.mark.django_db
def test_forty_jobs_at_once_are_capped_per_user_with_a_clear_message(client, author, other_author):
    posts = [draft(author) for _ in range(40)]
    client.force_login(author)

    responses = [post_json(client, START_URL, {"action": "summarize", "post_ids": [post.pk]}) for post in posts]

    assert [response.status_code for response in responses] == [202] * 3 + [429] * 37
    refusal = responses[-1].json()
    assert refusal["code"] == "rate_limited"
    assert "You already have 3 batch jobs queued or running" in refusal["message"]
    assert BatchJob.objects.count() == 3
    cancel(client, responses[0].json()["job"])
    assert post_json(client, START_URL, {"action": "summarize", "post_ids": [posts[-1].pk]}).status_code == 202
    client.force_login(other_author)
    other = post_json(client, START_URL, {"action": "summarize", "post_ids": [draft(other_author).pk]})
    assert other.status_code == 202


@pytest.mark.django_db
def test_batch_posts_count_against_an_hourly_budget_of_their_own(client, author, settings):
    settings.AIWRITER_BATCH_POSTS_PER_HOUR = 3
    posts = [draft(author) for _ in range(5)]
    client.force_login(author)

    first = post_json(client, START_URL, {"action": "summarize", "post_ids": [posts[0].pk, posts[1].pk]})
    over = post_json(client, START_URL, {"action": "titles", "post_ids": [posts[2].pk, posts[3].pk]})
    fits = post_json(client, START_URL, {"action": "titles", "post_ids": [posts[2].pk]})

    assert (first.status_code, over.status_code, fits.status_code) == (202, 429, 202)
    assert over.json()["code"] == "rate_limited"
    assert "3 posts an hour" in over.json()["message"]
    BatchJob.objects.update(created_at=timezone.now() - timedelta(hours=1, minutes=1))
    later = post_json(client, START_URL, {"action": "tags", "post_ids": [posts[3].pk, posts[4].pk]})
    assert later.status_code == 202


@pytest.mark.django_db
def test_posts_of_a_job_cancelled_before_they_ran_are_given_back(client, author, settings):
    settings.AIWRITER_BATCH_POSTS_PER_HOUR = 2
    posts = [draft(author) for _ in range(2)]
    client.force_login(author)
    first = post_json(client, START_URL, {"action": "summarize", "post_ids": [post.pk for post in posts]})
    cancel(client, first.json()["job"])
    assert post_json(client, START_URL, {"action": "titles", "post_ids": [posts[0].pk]}).status_code == 202


@pytest.mark.django_db
def test_an_identical_job_is_refused_while_the_first_is_pending(client, author):
    post = draft(author)
    client.force_login(author)
    payload = {"action": "summarize", "post_ids": [post.pk]}

    first, retry = post_json(client, START_URL, payload), post_json(client, START_URL, payload)

    assert (first.status_code, retry.status_code) == (202, 409)
    assert retry.json()["code"] == "conflict"
    assert f"job {first.json()['job']['id']}" in retry.json()["message"]
    assert retry.json()["job"]["id"] == first.json()["job"]["id"]
    assert BatchJob.objects.count() == 1
    assert post_json(client, START_URL, {**payload, "overwrite": True}).status_code == 202
    cancel(client, first.json()["job"])
    assert post_json(client, START_URL, payload).status_code == 202


@transactional
def test_a_job_the_queue_cannot_take_is_withdrawn_and_a_retry_starts_it_once(client, author, monkeypatch):
    post = draft(author)
    client.force_login(author)

    def broker_down(job_id):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(job_services, "_enqueue_dispatch", broker_down)
    refused = post_json(client, START_URL, {"action": "summarize", "post_ids": [post.pk]})

    assert refused.status_code == 503
    assert refused.json()["code"] == "unavailable"
    assert "Nothing was started" in refused.json()["message"] and "6379" not in refused.json()["message"]
    assert not BatchJob.objects.exists()
    sent = []
    monkeypatch.setattr(job_services, "_enqueue_dispatch", sent.append)
    retry = post_json(client, START_URL, {"action": "summarize", "post_ids": [post.pk]})
    assert retry.status_code == 202
    assert sent == [BatchJob.objects.get().pk]
