"""The post editor's alt-text panel: the body's images without alt text, and keeping accepted alt text."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image as Picture

from posts.images.services import image_upload

pytestmark = pytest.mark.django_db

IMAGES_URL = "/aiwriter/alt-text/images/"


def upload(user, *, title: str, alt_text: str = ""):
    buffer = io.BytesIO()
    Picture.new("RGB", (40, 30), (90, 160, 60)).save(buffer, format="PNG")
    file = SimpleUploadedFile(f"{title}.png", buffer.getvalue(), content_type="image/png")
    return image_upload(file=file, by=user, title=title, alt_text=alt_text)


def signed_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def post_json(client: Client, url: str, payload) -> tuple[int, dict]:
    response = client.post(url, data=json.dumps(payload), content_type="application/json")
    return response.status_code, response.json()


def test_the_images_readers_would_get_no_alt_text_for_are_listed(author, other_author):
    bare = upload(author, title="Harbour")
    in_library = upload(author, title="Market", alt_text="Fish stalls under an awning.")
    in_markdown = upload(author, title="Ferry")
    theirs = upload(other_author, title="Theirs")
    body = f"![]({bare.url})\n\n![]({in_library.url})\n\n![The ferry]({in_markdown.url})\n\n![]({theirs.url})"

    status, answer = post_json(signed_in(author), IMAGES_URL, {"body": body})

    assert status == 200
    assert answer == {"images": [{"id": bare.pk, "title": "Harbour", "url": bare.url, "alt_text": ""}]}


def test_accepted_alt_text_is_kept_in_the_library(author):
    image = upload(author, title="Harbour")

    status, answer = post_json(
        signed_in(author), reverse("aiwriter:alt_text_save", args=[image.pk]), {"alt_text": "  Boats at  dawn. "}
    )

    image.refresh_from_db()
    assert status == 200 and image.alt_text == "Boats at dawn." and answer["image"]["alt_text"] == "Boats at dawn."


def test_someone_elses_image_is_not_found_and_editors_may_describe_it(author, other_author, editor):
    theirs = upload(other_author, title="Theirs")
    url = reverse("aiwriter:alt_text_save", args=[theirs.pk])

    refused, answer = post_json(signed_in(author), url, {"alt_text": "Mine now."})
    allowed, _ = post_json(signed_in(editor), url, {"alt_text": "A red door."})

    theirs.refresh_from_db()
    assert (refused, answer["code"]) == (404, "not_found")
    assert allowed == 200 and theirs.alt_text == "A red door."


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"alt_text": "   "}, "Alt text is 1 to 1,000 characters"),
        ({"alt_text": "x" * 1001}, "Alt text is 1 to 1,000 characters"),
        ({"text": "Boats"}, "Send a JSON object with the alt text as text"),
    ],
)
def test_unusable_alt_text_is_refused_and_nothing_changes(author, payload, message):
    image = upload(author, title="Harbour")

    status, answer = post_json(signed_in(author), reverse("aiwriter:alt_text_save", args=[image.pk]), payload)

    image.refresh_from_db()
    assert (status, image.alt_text) == (400, "")
    assert answer["message"].startswith(message)


def test_only_signed_in_ai_writers_with_the_csrf_token_ask(author, reader):
    anonymous = Client().post(IMAGES_URL, data='{"body": ""}', content_type="application/json")
    refused = signed_in(reader).post(IMAGES_URL, data='{"body": ""}', content_type="application/json")
    no_token = signed_in(author, enforce_csrf_checks=True).post(
        IMAGES_URL, data='{"body": ""}', content_type="application/json"
    )

    assert (anonymous.status_code, refused.status_code, no_token.status_code) == (401, 403, 403)


def test_the_editor_page_has_the_panel(author):
    page = signed_in(author).get(reverse("editor:post_new")).content.decode()

    assert "data-ai-alt-text-editor" in page and 'data-images-url="/aiwriter/alt-text/images/"' in page
    assert "js/aiwriter-alt-text.js" in page
