"""Publishing a post whose images have no alt text warns the editor, and publishes all the same."""

import io

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image as Picture

from posts.images.alt_text import images_without_alt_text
from posts.images.services import image_upload, post_cover_set
from posts.models import PostStatus
from tests.factories import PostFactory

pytestmark = pytest.mark.django_db


def upload(user, *, title: str, alt_text: str = ""):
    buffer = io.BytesIO()
    Picture.new("RGB", (40, 30), (90, 160, 60)).save(buffer, format="PNG")
    file = SimpleUploadedFile(f"{title}.png", buffer.getvalue(), content_type="image/png")
    return image_upload(file=file, by=user, title=title, alt_text=alt_text)


def publish(client: Client, post, body: str):
    data = {"title": post.title, "slug": "", "body": body, "excerpt": "", "tags": "", "version": post.version}
    return client.post(reverse("editor:post_edit", args=[post.pk]), {**data, "action": "publish"})


@pytest.fixture
def editor_client(editor) -> Client:
    client = Client()
    client.force_login(editor)
    return client


def test_publishing_names_the_images_readers_get_no_alt_text_for(editor, editor_client):
    bare = upload(editor, title="Harbour at dawn")
    described = upload(editor, title="Market", alt_text="Fish stalls under a striped awning.")
    described_in_text = upload(editor, title="Ferry")
    post = PostFactory(author=editor, status=PostStatus.DRAFT)
    body = (
        f"Morning.\n\n![]({bare.url})\n\n![]({described.url})\n\n"
        f"![The ferry leaving the quay]({described_in_text.url})\n\nThe end."
    )

    response = publish(editor_client, post, body)

    post.refresh_from_db()
    assert response.status_code == 302 and post.status == PostStatus.PUBLISHED, "the warning does not block"
    warnings = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "warning"]
    assert len(warnings) == 1
    assert warnings[0].startswith("1 image has no alt text") and "“Harbour at dawn”" in warnings[0]
    assert "Market" not in warnings[0] and "Ferry" not in warnings[0]


def test_a_post_whose_images_all_have_alt_text_publishes_without_a_warning(editor, editor_client):
    image = upload(editor, title="Market", alt_text="Fish stalls under a striped awning.")
    post = PostFactory(author=editor, status=PostStatus.DRAFT)

    response = publish(editor_client, post, f"![]({image.url})")

    assert [m.level_tag for m in get_messages(response.wsgi_request)] == ["success"]


def test_a_cover_without_alt_text_counts_and_an_image_shown_twice_counts_once(editor):
    cover = upload(editor, title="Cover")
    twice = upload(editor, title="Twice")
    post = PostFactory(author=editor, body=f"![]({twice.url}) and again ![]({twice.url})")
    post_cover_set(post=post, image=cover, by=editor)

    assert images_without_alt_text(post=post) == [cover, twice]
