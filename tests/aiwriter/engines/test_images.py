"""Images in chat messages, and which models read them, for the engine clients of both dialects."""

import io
from contextlib import aclosing

import pytest
from PIL import Image

from aiwriter.engines import Backend, BadRequest, Chunk, Done, Timeouts, image_part
from aiwriter.gateway.context import IMAGE_TOKENS, prompt_tokens
from tests.aiwriter.conftest import CHAT_PATHS, backend_of
from tests.aiwriter.fixtures import both_dialects  # noqa: F401 (fixture)

TEXT_MODEL = "llama3.2:1b"
VISION_MODEL = "llava:7b"


@pytest.fixture
def vision_engine(engine_factory):
    return engine_factory(models=[TEXT_MODEL, VISION_MODEL], vision_models=[VISION_MODEL])


def client_for(engine, **setting):
    return Backend.from_setting({**backend_of(engine), **setting}).client(timeouts=Timeouts(first_token=5, idle=5))


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 120, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


def messages_with(image: bytes) -> list[dict]:
    return [
        {"role": "system", "content": "You write alt text."},
        {"role": "user", "content": "Describe this image.", "images": [image_part(image, media_type="image/jpeg")]},
    ]


async def events_of(stream) -> list:
    async with aclosing(stream) as events:
        return [event async for event in events]


async def test_the_image_reaches_the_engine_in_its_dialects_form(vision_engine, dialect):
    image = jpeg_bytes()
    client = client_for(vision_engine)
    try:
        events = await events_of(client.stream_chat(model=VISION_MODEL, messages=messages_with(image)))
    finally:
        await client.aclose()

    (record,) = vision_engine.requests_to(CHAT_PATHS[dialect])
    assert record.images == [image]
    assert "".join(e.text for e in events if isinstance(e, Chunk)) == record.reply
    assert isinstance(events[-1], Done)
    user = record.body["messages"][1]
    if dialect == "ollama":
        assert user["content"] == "Describe this image." and len(user["images"]) == 1
    else:
        text, picture = user["content"]
        assert text == {"type": "text", "text": "Describe this image."}
        assert picture["type"] == "image_url" and picture["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert record.body["messages"][0] == {"role": "system", "content": "You write alt text."}


async def test_a_text_only_model_refuses_the_image(vision_engine):
    client = client_for(vision_engine)
    try:
        with pytest.raises(BadRequest):
            await events_of(client.stream_chat(model=TEXT_MODEL, messages=messages_with(jpeg_bytes())))
    finally:
        await client.aclose()


async def test_ollama_says_which_models_read_images(engine_factory):
    engine = engine_factory(dialect="ollama", models=[TEXT_MODEL, VISION_MODEL], vision_models=[VISION_MODEL])
    client = client_for(engine)
    try:
        assert (await client.model_details(VISION_MODEL)).vision is True
        assert (await client.model_details(TEXT_MODEL)).vision is False
    finally:
        await client.aclose()


async def test_openai_compatible_hosts_learn_it_from_the_configuration(engine_factory):
    engine = engine_factory(dialect="openai", models=[TEXT_MODEL, VISION_MODEL], vision_models=[VISION_MODEL])
    unconfigured, configured = client_for(engine), client_for(engine, vision_models=[VISION_MODEL])
    try:
        assert (await unconfigured.model_details(VISION_MODEL)).vision is False
        assert (await configured.model_details(VISION_MODEL)).vision is True
        assert (await configured.model_details(TEXT_MODEL)).vision is False
    finally:
        await unconfigured.aclose()
        await configured.aclose()


def test_an_image_part_needs_an_image_media_type():
    with pytest.raises(ValueError, match="image media type"):
        image_part(b"%PDF-1.7", media_type="application/pdf")


async def test_details_the_engine_could_not_give_are_asked_again(engine_factory):
    engine = engine_factory(dialect="ollama", models=[VISION_MODEL], vision_models=[VISION_MODEL])
    engine.fail_with(500, paths=["/api/show"])
    client = client_for(engine)
    try:
        unknown = await client.cached_details(VISION_MODEL)
        known = await client.cached_details(VISION_MODEL)
        again = await client.cached_details(VISION_MODEL)
    finally:
        await client.aclose()

    assert (unknown.known, unknown.vision) == (False, False)
    assert (known.known, known.vision) == (True, True)
    assert again is known and len(engine.requests_to("/api/show")) == 2


def test_an_image_counts_towards_the_context_window():
    text_only = [{"role": "user", "content": "Describe this image."}]
    with_image = [{**text_only[0], "images": [image_part(jpeg_bytes(), media_type="image/jpeg")]}]

    assert prompt_tokens(with_image) - prompt_tokens(text_only) == IMAGE_TOKENS
