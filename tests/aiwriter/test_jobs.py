"""Batch AI jobs (aiwriter/job_services.py), run item by item in the test process against the Ollama simulator."""

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import call_command
from django.utils import timezone

from aiwriter import gateway, worker
from aiwriter.gateway import Priority
from aiwriter.jobs import services as job_services
from aiwriter.models import BatchItem, BatchJob, Generation, ItemStatus, JobStatus
from posts import cache_keys
from posts import services as post_services
from posts.models import PostStatus
from tests.factories import PostFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def simulator(settings, engine_settings):
    settings.AIWRITER_TIMEOUTS = {"connect": 1.0, "first_token": 2.0, "idle": 2.0, "total": 10.0}
    engine_settings.reply = "A short summary of the post."
    yield engine_settings
    # As a worker process does when it ends; the next test's gateway talks to its own simulator.
    worker.loop_stop()


def draft(author, **fields):
    """A post saved through the services, so it has its first revision as in real use."""
    post = post_services.post_create(author=author, data={"title": "A post", "body": "Some text.", **fields})
    return post


def start(user, **kwargs):
    return job_services.batch_start(user=user, **{"action": "summarize", **kwargs})


def run_all(job: BatchJob) -> BatchJob:
    for item_id in job.items.values_list("pk", flat=True):
        job_services.batch_item_process(item_id=item_id)
    job.refresh_from_db()
    return job


def test_missing_covers_only_the_users_posts_with_an_empty_field(author, other_author):
    empty = draft(author, excerpt="")
    draft(author, excerpt="Written by hand.")
    draft(other_author, excerpt="")

    job = start(author, missing=True)

    assert list(job.items.values_list("post_id", flat=True)) == [empty.pk]
    assert job.total == 1
    assert job.status == JobStatus.QUEUED


def test_the_job_reaches_the_workers_only_once_committed(author, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    monkeypatch.setattr(job_services, "_enqueue_dispatch", sent.append)
    post = draft(author, excerpt="")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = start(author, post_ids=[post.pk])
    assert sent == []

    callbacks[0]()
    assert sent == [job.pk]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "translate", "missing": True}, "Unknown action"),
        ({"post_ids": []}, "Choose at least one post"),
        ({"missing": True}, "No post is missing its excerpt"),
    ],
)
def test_requests_that_cannot_run_are_refused_with_a_reason(author, kwargs, message):
    draft(author, excerpt="Already there.")
    with pytest.raises(job_services.JobError, match=message):
        start(author, **kwargs)
    assert not BatchJob.objects.exists()


def test_someone_elses_post_cannot_be_put_in_a_job(author, other_author):
    theirs = draft(other_author)
    with pytest.raises(job_services.JobError, match=f"cannot edit these posts.*{theirs.pk}"):
        start(author, post_ids=[theirs.pk])


def test_a_reader_cannot_start_a_job(reader):
    with pytest.raises(job_services.JobError, match="cannot use the AI writer"):
        start(reader, missing=True)


def test_an_item_fills_the_empty_excerpt_once_and_the_job_finishes(author):
    post = draft(author, excerpt="")
    job = start(author, post_ids=[post.pk])

    job = run_all(job)

    post.refresh_from_db()
    assert post.excerpt == "A short summary of the post."
    assert post.revisions.first().note == f"AI batch job {job.pk}: summarize into the excerpt"
    assert (job.status, job.done_count, job.finished_count) == (JobStatus.DONE, 1, 1)
    assert job.items.get().result == "A short summary of the post."
    assert Generation.objects.get().post == post

    version = post.version
    assert job_services.batch_item_process(item_id=job.items.get().pk) is None  # a second delivery
    post.refresh_from_db()
    assert post.version == version


def test_text_already_there_is_left_alone_without_overwrite(author, simulator):
    post = draft(author, excerpt="Written by hand.")
    job = run_all(start(author, post_ids=[post.pk]))

    post.refresh_from_db()
    item = job.items.get()
    assert post.excerpt == "Written by hand."
    assert item.status == ItemStatus.SKIPPED
    assert item.error == "Already has an excerpt; left as it is."
    assert simulator.requests_to("/api/chat") == []


def test_overwrite_replaces_the_text_and_keeps_the_old_one_in_the_revisions(author):
    post = draft(author, excerpt="Written by hand.")
    run_all(start(author, post_ids=[post.pk], overwrite=True))

    post.refresh_from_db()
    assert post.excerpt == "A short summary of the post."
    assert "Written by hand." in post.revisions.values_list("excerpt", flat=True)


def test_an_edit_saved_during_generation_wins_and_the_item_says_so(author, monkeypatch):
    post = draft(author, excerpt="")

    def editor_saves_meanwhile(**kwargs):
        current = type(post).objects.get(pk=post.pk)
        post_services.post_update(post=current, by=author, data={"body": "New text."}, expected_version=current.version)
        return "A summary of the old text."

    monkeypatch.setattr(job_services, "generate_for_post", editor_saves_meanwhile)
    job = run_all(start(author, post_ids=[post.pk]))

    post.refresh_from_db()
    item = job.items.get()
    assert post.excerpt == ""
    assert post.body == "New text."
    assert item.status == ItemStatus.SKIPPED
    assert "saved by someone else" in item.error


def test_tags_and_titles_fill_their_fields(author, simulator):
    post = draft(author, body="About Django and Celery.")
    simulator.reply = "1. Django\n2. Celery, Redis\n"
    run_all(job_services.batch_start(user=author, action="tags", post_ids=[post.pk]))
    simulator.reply = '1. "Background jobs in Django"\n2. Another title'
    run_all(job_services.batch_start(user=author, action="titles", post_ids=[post.pk]))

    post.refresh_from_db()
    assert sorted(post.tags.values_list("name", flat=True)) == ["Celery", "Django", "Redis"]
    assert post.meta_title == "Background jobs in Django"


def test_a_model_error_fails_the_item_with_its_message(author, simulator):
    post = draft(author, excerpt="")
    simulator.fail_with(500, "the model crashed")
    job = run_all(start(author, post_ids=[post.pk]))

    item = job.items.get()
    assert item.status == ItemStatus.FAILED
    assert item.error
    assert job.status == JobStatus.FAILED


def test_an_unreachable_engine_fails_the_item_in_plain_words_without_its_address(author, settings):
    settings.AIWRITER_BACKENDS = [{"dialect": "ollama", "url": "http://127.0.0.1:9", "api_key_env": ""}]
    post = draft(author, excerpt="")
    job = run_all(start(author, post_ids=[post.pk]))

    item = job.items.get()
    assert item.status == ItemStatus.FAILED
    assert "your text is safe" in item.error and "127.0.0.1" not in item.error


def test_a_post_without_text_is_skipped_with_the_reason(author):
    post = draft(author, body="", excerpt="")
    job = run_all(start(author, post_ids=[post.pk]))
    assert "no text to work from" in job.items.get().error


def test_an_item_held_by_a_live_claim_is_not_taken_twice(author):
    post = draft(author, excerpt="")
    job = start(author, post_ids=[post.pk])
    item = job.items.get()
    BatchItem.objects.filter(pk=item.pk).update(
        status=ItemStatus.RUNNING, claim_token="other", lease_until=timezone.now() + timedelta(seconds=30)
    )

    with pytest.raises(job_services.ItemLeased) as held:
        job_services.batch_item_process(item_id=item.pk)
    assert 25 < held.value.retry_in <= 31


def test_an_abandoned_claim_is_taken_over_and_the_item_completes(author):
    post = draft(author, excerpt="")
    job = start(author, post_ids=[post.pk])
    item = job.items.get()
    BatchItem.objects.filter(pk=item.pk).update(
        status=ItemStatus.RUNNING, claim_token="dead", lease_until=timezone.now() - timedelta(seconds=1), attempts=1
    )

    assert job_services.batch_item_process(item_id=item.pk) == ItemStatus.DONE
    item.refresh_from_db()
    assert item.attempts == 2


def test_cancel_stops_the_items_not_started(author):
    posts = [draft(author, excerpt="") for _ in range(3)]
    job = start(author, post_ids=[post.pk for post in posts])
    first = job.items.first()
    job_services.batch_item_process(item_id=first.pk)

    job = job_services.batch_cancel(job=job, by=author)
    run_all(job)

    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert (job.done_count, job.cancelled_count) == (1, 2)
    assert job.finished_at is not None
    assert [post.excerpt for post in type(posts[0]).objects.filter(pk__in=[p.pk for p in posts[1:]])] == ["", ""]
    with pytest.raises(job_services.JobError, match="already finished"):
        job_services.batch_cancel(job=job, by=author)


def test_only_the_owner_cancels(author, other_author):
    job = start(author, post_ids=[draft(author).pk])
    with pytest.raises(job_services.JobError, match="Only the person"):
        job_services.batch_cancel(job=job, by=other_author)


def test_progress_is_pushed_to_the_owners_group(author):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(job_services.user_group(author.pk), channel)
    post = draft(author, excerpt="")
    job = start(author, post_ids=[post.pk])

    run_all(job)

    event = async_to_sync(layer.receive)(channel)
    assert event["type"] == "aiwriter.job_progress"
    assert event["job"]["id"] == job.pk
    assert (event["job"]["status"], event["job"]["done"], event["job"]["total"]) == ("done", 1, 1)
    assert event["item"]["post_id"] == post.pk
    assert event["item"]["status"] == "done"


def receive_all(layer, channel, count):
    async def receive():
        return [await layer.receive(channel) for _ in range(count)]

    return async_to_sync(receive)()


def test_the_event_that_ends_a_cancelled_job_carries_every_items_final_state(author):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(job_services.user_group(author.pk), channel)
    posts = [draft(author, excerpt="") for _ in range(3)]
    job = start(author, post_ids=[post.pk for post in posts])
    running = job.items.order_by("pk").first()
    BatchItem.objects.filter(pk=running.pk).update(
        status=ItemStatus.RUNNING, claim_token="live", lease_until=timezone.now() + timedelta(seconds=30)
    )

    job_services.batch_cancel(job=job, by=author)
    # The worker that holds the running item finishes it, as it would after its generation.
    BatchItem.objects.filter(pk=running.pk, claim_token="live").update(
        status=ItemStatus.DONE, finished_at=timezone.now(), lease_until=None
    )
    job_services.progress_update(job_id=job.pk, item_id=running.pk)
    on_cancel, at_end = receive_all(layer, channel, 2)

    # While the running item finishes, the job is cancelled but has not ended.
    assert (on_cancel["job"]["status"], on_cancel["job"]["ended"]) == ("cancelled", False)
    assert "items" not in on_cancel
    assert (at_end["job"]["status"], at_end["job"]["ended"]) == ("cancelled", True)
    assert [item["status"] for item in at_end["items"]] == ["done", "cancelled", "cancelled"]


def test_the_command_starts_a_job_and_returns_without_waiting(author, capsys):
    draft(author, excerpt="")
    call_command("aiwriter_batch", "--action", "summarize", "--missing", "--user", "author", "--no-wait")

    job = BatchJob.objects.get()
    assert f"Job {job.pk} started" in capsys.readouterr().out
    assert job.user == author


def test_the_command_waits_and_prints_the_outcome(author, capsys, monkeypatch):
    draft(author, excerpt="")
    monkeypatch.setattr(job_services, "_enqueue_dispatch", lambda job_id: run_all(BatchJob.objects.get(pk=job_id)))
    monkeypatch.setattr(
        "django.db.transaction.on_commit", lambda callback, using=None, robust=False: callback(), raising=True
    )
    call_command("aiwriter_batch", "--action", "summarize", "--missing", "--user", "author")

    out = capsys.readouterr().out
    assert "1/1 processed: 1 changed" in out
    assert "done." in out


def test_scheduled_posts_may_be_batch_processed_too(author, editor):
    post = draft(author, excerpt="")
    post_services.post_publish(post=post, by=editor, at=timezone.now() + timedelta(days=1))
    job = run_all(start(author, post_ids=[post.pk]))
    post.refresh_from_db()
    assert post.status == PostStatus.SCHEDULED
    assert job.done_count == 1


def test_factory_posts_without_revisions_are_processed(author):
    post = PostFactory(author=author, excerpt="")
    job = run_all(start(author, post_ids=[post.pk]))
    assert job.done_count == 1


def test_an_item_abandoned_in_a_cancelled_job_ends_cancelled(author):
    posts = [draft(author, excerpt="") for _ in range(2)]
    job = start(author, post_ids=[post.pk for post in posts])
    item = job.items.first()
    BatchItem.objects.filter(pk=item.pk).update(
        status=ItemStatus.RUNNING, claim_token="dead", lease_until=timezone.now() + timedelta(seconds=30)
    )
    job_services.batch_cancel(job=job, by=author)
    BatchItem.objects.filter(pk=item.pk).update(lease_until=timezone.now() - timedelta(seconds=1))

    assert job_services.batch_item_process(item_id=item.pk) is None

    job.refresh_from_db()
    item.refresh_from_db()
    assert item.status == ItemStatus.CANCELLED
    assert item.post.excerpt == ""
    assert (job.cancelled_count, job.finished_count) == (2, 2)
    assert job.finished_at is not None


def test_a_changed_public_post_has_its_pages_refreshed(author, django_capture_on_commit_callbacks):
    post = PostFactory(author=author, excerpt="", slug="public-post")
    before = cache_keys.versions_get([cache_keys.post_dep("public-post")])
    job = start(author, post_ids=[post.pk])

    with django_capture_on_commit_callbacks(execute=True):
        job_services.batch_item_process(item_id=job.items.get().pk)

    assert cache_keys.versions_get([cache_keys.post_dep("public-post")]) != before


def test_batch_requests_queue_behind_editors_at_the_gateway(author, monkeypatch):
    priorities = []
    open_completion = gateway.completion_open

    def recording(request, **kwargs):
        priorities.append(kwargs.get("priority"))
        return open_completion(request, **kwargs)

    monkeypatch.setattr(gateway, "completion_open", recording)
    run_all(start(author, post_ids=[draft(author, excerpt="").pk]))

    assert priorities == [Priority.BATCH]


def test_the_items_of_a_job_share_one_gateway_until_the_process_ends(author, monkeypatch):
    used = []
    open_completion = gateway.completion_open

    def recording(request, **kwargs):
        used.append(gateway.get_gateway())
        return open_completion(request, **kwargs)

    monkeypatch.setattr(gateway, "completion_open", recording)
    job = run_all(start(author, post_ids=[draft(author, excerpt="").pk for _ in range(3)]))

    assert job.done_count == 3
    assert len(used) == 3
    assert used[0] is used[1] is used[2]
    worker.loop_stop()
    run_all(start(author, post_ids=[draft(author, excerpt="").pk]))
    assert used[3] is not used[0]


@pytest.mark.parametrize("style", ["field", "tags"])
def test_a_thinking_models_reasoning_never_reaches_the_post(author, simulator, style):
    simulator.thinking, simulator.thinking_style = "The post is short, so one sentence will do.", style
    simulator.reply = "A short summary."
    post = draft(author, excerpt="")

    job = run_all(start(author, post_ids=[post.pk]))

    post.refresh_from_db()
    assert post.excerpt == "A short summary."
    assert job.items.get().result == "A short summary."


def test_a_post_too_long_for_the_model_is_summarized_in_parts(author, simulator):
    simulator.context_length = 1024
    paragraphs = [f"Paragraph {n} about tea, its leaves and the water it needs. " * 8 for n in range(12)]
    post = draft(author, excerpt="", body="\n\n".join(paragraphs))

    job = run_all(start(author, post_ids=[post.pk]))

    post.refresh_from_db()
    assert job.done_count == 1 and post.excerpt == "A short summary of the post."
    asked = [record.body["messages"][-1]["content"] for record in simulator.requests_to("/api/chat")]
    assert len(asked) >= 3, "the parts, then their summaries together"
    assert any("Paragraph 0 " in prompt and "Paragraph 11 " not in prompt for prompt in asked)
    assert not any(record.truncated for record in simulator.requests_to("/api/chat"))


def test_halves_split_between_paragraphs_near_the_middle():
    text = "One.\n\nTwo two.\n\nThree three three.\n\nFour."
    assert job_services.halves_of(text) == ["One.\n\nTwo two.", "Three three three.\n\nFour."]
    assert job_services.halves_of("word") == ["word"]
