"""Batch jobs that write alt text for library images without any, run item by item against the simulator."""

import io

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as Picture

from aiwriter import worker
from aiwriter.jobs import services as job_services
from aiwriter.jobs.alt_text import NO_VISION_MODEL, AltTextJobError, alt_text_fill
from aiwriter.models import BatchJob, Generation, ItemStatus, JobStatus
from posts.images.services import image_upload
from tests.aiwriter.conftest import chat_requests

pytestmark = pytest.mark.django_db

TEXT_MODEL = "llama3.2:1b"
VISION_MODEL = "llava:7b"
SUGGESTION = "“Three kayaks pulled up on a pebble beach below pine trees.”"


@pytest.fixture(autouse=True)
def simulator(settings, engine_settings):
    settings.AIWRITER_TIMEOUTS = {"connect": 1.0, "first_token": 2.0, "idle": 2.0, "total": 10.0}
    engine_settings.models = [TEXT_MODEL, VISION_MODEL]
    engine_settings.vision_models = [VISION_MODEL]
    engine_settings.reply = SUGGESTION
    yield engine_settings
    worker.loop_stop()


def upload(user, *, title: str, alt_text: str = ""):
    buffer = io.BytesIO()
    Picture.new("RGB", (1600, 1200), (30, 90, 160)).save(buffer, format="JPEG")
    file = SimpleUploadedFile(f"{title}.jpg", buffer.getvalue(), content_type="image/jpeg")
    return image_upload(file=file, by=user, title=title, alt_text=alt_text)


def start(user, **kwargs):
    return job_services.batch_start(user=user, **{"action": "alt_text", "missing": True, **kwargs})


def run_all(job: BatchJob) -> BatchJob:
    for item_id in job.items.values_list("pk", flat=True):
        job_services.batch_item_process(item_id=item_id)
    job.refresh_from_db()
    return job


def test_a_job_covers_the_users_images_without_alt_text(author, other_author, editor):
    bare = upload(author, title="Kayaks")
    upload(author, title="Described", alt_text="A lighthouse at dusk.")
    theirs = upload(other_author, title="Theirs")

    assert list(start(author).items.values_list("image_id", flat=True)) == [bare.pk]
    assert list(start(editor).items.values_list("image_id", flat=True)) == [bare.pk, theirs.pk]


def test_the_job_fills_only_empty_alt_text_and_finishes(author, simulator):
    kayaks = upload(author, title="Kayaks")
    harbour = upload(author, title="Harbour")
    job = start(author)
    harbour.alt_text = "Written by hand while the job waited."
    harbour.save()

    job = run_all(job)

    kayaks.refresh_from_db()
    harbour.refresh_from_db()
    assert kayaks.alt_text == "Three kayaks pulled up on a pebble beach below pine trees."
    assert harbour.alt_text == "Written by hand while the job waited."
    assert (job.status, job.done_count, job.skipped_count) == (JobStatus.DONE, 1, 1)
    assert job.items.get(image=harbour).error == "Already has alt text; left as it is."
    (request,) = chat_requests(simulator)
    assert request.body["model"] == VISION_MODEL, "the default model reads text only, so a vision model is chosen"
    (sent,) = request.images
    assert Picture.open(io.BytesIO(sent)).size == (1024, 768)
    assert Generation.objects.get().action == "alt_text"


def test_an_item_is_written_only_while_its_person_may_still_change_the_image(author, other_author, editor):
    theirs = upload(other_author, title="Theirs")

    with pytest.raises(AltTextJobError, match="You can no longer change this image."):
        alt_text_fill(image_id=theirs.pk, by=author, text="A harbour at noon.")
    theirs.refresh_from_db()
    assert theirs.alt_text == ""

    assert alt_text_fill(image_id=theirs.pk, by=editor, text="A harbour at noon.").alt_text == "A harbour at noon."


def test_progress_reaches_the_owner_live(author):
    image = upload(author, title="Kayaks")
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(job_services.user_group(author.pk), channel)
    job = start(author)

    run_all(job)

    event = async_to_sync(layer.receive)(channel)
    assert event["type"] == "aiwriter.job_progress"
    assert (event["job"]["id"], event["job"]["status"], event["job"]["done"]) == (job.pk, "done", 1)
    assert (event["item"]["image_id"], event["item"]["title"], event["item"]["status"]) == (image.pk, "Kayaks", "done")


def test_without_a_model_that_reads_images_each_item_fails_and_says_why(author, simulator):
    image = upload(author, title="Kayaks")
    simulator.vision_models = []
    job = run_all(start(author))

    item = job.items.get()
    assert (job.status, item.status, item.error) == (JobStatus.FAILED, ItemStatus.FAILED, NO_VISION_MODEL)
    image.refresh_from_db()
    assert image.alt_text == ""
    assert chat_requests(simulator) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"overwrite": True}, "written alt text is never replaced"),
        ({"missing": False, "post_ids": [1]}, "covers every image in your media library without alt text"),
    ],
)
def test_requests_an_alt_text_job_cannot_run_are_refused_with_a_reason(author, kwargs, message):
    upload(author, title="Kayaks")
    with pytest.raises(job_services.JobError, match=message):
        start(author, **kwargs)
    assert not BatchJob.objects.exists()


def test_nothing_to_do_and_a_second_identical_job_are_refused(author):
    described = upload(author, title="Described", alt_text="A lighthouse at dusk.")
    with pytest.raises(job_services.JobError, match="Every image in your media library has alt text"):
        start(author)
    described.alt_text = ""
    described.save()
    first = start(author)
    with pytest.raises(job_services.JobDuplicate) as duplicate:
        start(author)
    assert duplicate.value.job == first
