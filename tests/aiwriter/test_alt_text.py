"""Alt text from vision models: over the socket and SSE, in both dialects, against the simulator."""

import io
import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import AsyncClient
from PIL import Image as Picture

from aiwriter.models import Generation, Outcome
from posts.images.models import Image
from tests.aiwriter.conftest import backend_of, chat_requests
from tests.aiwriter.fixtures import (  # noqa: F401 (fixtures)
    aiwriter_settings,
    both_dialects,
    collect,
    generate_message,
    parse_sse,
    shared_clients,
    streamed_text,
    transactional,
    websocket,
)

pytestmark = [transactional, pytest.mark.usefixtures("shared_clients")]

TEXT_MODEL = "llama3.2:1b"
VISION_MODEL = "llava:7b"
SUGGESTION = "A red bicycle leans against a brick wall in the late afternoon sun."
NO_SUCH_IMAGE = "That image is not in your media library, or you cannot use it."


@pytest.fixture
def vision_engine(settings, engine_factory, dialect):
    """One engine serving a text model and a vision model; OpenAI-compatible hosts are told which by the settings."""
    engine = engine_factory(models=[TEXT_MODEL, VISION_MODEL], vision_models=[VISION_MODEL], reply=SUGGESTION)
    configured = [VISION_MODEL] if dialect == "openai" else []
    settings.AIWRITER_BACKENDS = [{**backend_of(engine), "vision_models": configured}]
    settings.AIWRITER_TIMEOUTS = {"connect": 1.0, "first_token": 2.0, "idle": 2.0, "total": 10.0}
    settings.AIWRITER_RATE_LIMIT = 100
    return engine


def picture_bytes(size=(3000, 2000), *, color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Picture.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def library_image(*, uploaded_by, alt_text: str = "", size=(3000, 2000), color=(200, 30, 30)) -> Image:
    """An image in the library, its file in the default storage."""
    data = picture_bytes(size, color=color)
    name = default_storage.save(f"images/test/{uuid.uuid4().hex}.png", ContentFile(data))
    return Image.objects.create(
        file=name,
        mime_type="image/png",
        width=size[0],
        height=size[1],
        file_size=len(data),
        uploaded_by=uploaded_by,
        alt_text=alt_text,
        original_filename="bicycle.png",
    )


def alt_text_message(image_id, *, model=VISION_MODEL, request_id="r1", **fields) -> dict:
    return generate_message(request_id, action="alt_text", image_id=image_id, model=model, **fields)


def sent_picture(engine) -> Picture.Image:
    (record,) = chat_requests(engine)
    (data,) = record.images
    return Picture.open(io.BytesIO(data))


async def test_the_socket_streams_a_suggestion_from_the_image_downsized_for_the_model(author, vision_engine):
    image = await sync_to_async(library_image)(uploaded_by=author)
    async with websocket(author) as socket:
        await socket.send_json_to(alt_text_message(image.pk, text="Our shop's delivery bike."))
        events = await collect(socket)

    assert events[0] == {"type": "start", "request_id": "r1", "model": VISION_MODEL}
    assert events[-1]["type"] == "done"
    assert streamed_text(events) == SUGGESTION
    picture = sent_picture(vision_engine)
    assert picture.format == "JPEG" and picture.size == (1024, 683)
    assert picture.getpixel((500, 300)) == pytest.approx((200, 30, 30), abs=3)
    (record,) = chat_requests(vision_engine)
    assert "Our shop's delivery bike." in json.dumps(record.body["messages"])
    await image.arefresh_from_db()
    assert image.alt_text == "", "a suggestion is only a suggestion until the editor accepts it"
    generation = await Generation.objects.aget(request_id="r1")
    assert (generation.action, generation.outcome) == ("alt_text", Outcome.DONE)


async def test_sse_streams_the_same_suggestion(author, vision_engine):
    image = await sync_to_async(library_image)(uploaded_by=author)
    client = AsyncClient()
    await client.aforce_login(author)
    response = await client.post("/aiwriter/stream/", data=alt_text_message(image.pk), content_type="application/json")
    events = parse_sse(b"".join([part async for part in response.streaming_content]))

    assert response.status_code == 200
    assert [events[0]["type"], events[-1]["type"]] == ["start", "done"]
    assert streamed_text(events) == SUGGESTION
    assert sent_picture(vision_engine).size == (1024, 683)


async def test_a_text_only_model_is_refused_in_words_an_author_understands(author, vision_engine):
    image = await sync_to_async(library_image)(uploaded_by=author)
    async with websocket(author) as socket:
        await socket.send_json_to(alt_text_message(image.pk, model=TEXT_MODEL))
        (event,) = await collect(socket)

    assert event["type"] == "error" and event["code"] == "invalid"
    assert event["message"].startswith(f"The model {TEXT_MODEL} reads text only, so it cannot describe an image.")
    assert chat_requests(vision_engine) == []


async def test_someone_elses_image_is_answered_as_a_missing_one(author, other_author, editor, vision_engine):
    theirs = await sync_to_async(library_image)(uploaded_by=other_author)
    async with websocket(author) as socket:
        await socket.send_json_to(alt_text_message(theirs.pk))
        refused = await collect(socket)
        await socket.send_json_to(alt_text_message(theirs.pk + 1000, request_id="r2"))
        missing = await collect(socket, "r2")
    async with websocket(editor) as socket:
        await socket.send_json_to(alt_text_message(theirs.pk, request_id="r3"))
        allowed = await collect(socket, "r3")

    assert refused[0]["message"] == missing[0]["message"] == NO_SUCH_IMAGE
    assert allowed[-1]["type"] == "done", "editors may describe every image in the library"
    assert len(chat_requests(vision_engine)) == 1


async def test_an_alt_text_request_needs_an_image_and_only_it_takes_one(author, vision_engine):
    async with websocket(author) as socket:
        await socket.send_json_to(alt_text_message(None))
        (without,) = await collect(socket)
        await socket.send_json_to(generate_message("r2", action="draft", image_id=1, options={"title": "T"}))
        (stray,) = await collect(socket, "r2")

    assert without["message"] == "Choose an image from the media library to write its alt text."
    assert stray["message"] == "An image_id goes with the alt_text action only."
    assert chat_requests(vision_engine) == []


async def test_the_cache_never_answers_for_another_image(author, vision_engine):
    red = await sync_to_async(library_image)(uploaded_by=author)
    blue = await sync_to_async(library_image)(uploaded_by=author, color=(20, 40, 220))
    async with websocket(author) as socket:
        for request_id, image in (("r1", red), ("r2", blue), ("r3", red)):
            await socket.send_json_to(alt_text_message(image.pk, request_id=request_id))
            events = await collect(socket, request_id)
            assert events[-1]["type"] == "done"
            cached = events[-1]["cached"]

    assert len(chat_requests(vision_engine)) == 2, "the blue image went to the model"
    assert cached is True, "the same image again is the same request"


async def test_the_model_list_marks_the_models_that_read_images(author, vision_engine):
    client = AsyncClient()
    await client.aforce_login(author)
    response = await client.get("/aiwriter/models/")

    vision = {model["name"]: model["vision"] for model in response.json()["models"]}
    assert vision == {TEXT_MODEL: False, VISION_MODEL: True}


async def test_the_image_is_read_through_the_sites_storage_whichever_it_is(author, vision_engine, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    image = await sync_to_async(library_image)(uploaded_by=author, size=(800, 1200))
    assert not (settings.MEDIA_ROOT / image.file.name).exists(), "the file is in memory, not on disk"

    async with websocket(author) as socket:
        await socket.send_json_to(alt_text_message(image.pk))
        events = await collect(socket)

    assert events[-1]["type"] == "done"
    assert sent_picture(vision_engine).size == (683, 1024)
