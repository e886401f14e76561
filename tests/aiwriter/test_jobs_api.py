"""Batch jobs over HTTP, the admin, the dashboard panel and the AI writer's socket."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

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


@transactional
@pytest.mark.usefixtures("shared_clients")
async def test_the_socket_relays_the_users_job_progress(author):
    post = await sync_to_async(draft)(author)
    job = await sync_to_async(job_services.batch_start)(user=author, action="summarize", post_ids=[post.pk])
    async with websocket(author) as socket:
        message = None
        for _ in range(20):  # the socket joins its group just after connecting
            await sync_to_async(job_services.progress_publish)(job=job)
            try:
                message = await socket.receive_json_from(timeout=0.2)
                break
            except TimeoutError:
                continue
    assert message["type"] == "job_progress"
    assert message["job"]["id"] == job.pk
