"""The post editor's image tools: the upload hooks, and the cover image chosen from the library."""

import pytest
from django.urls import reverse

from posts import services as post_services
from posts.images import services
from posts.images.models import ImageRole, ImageUse

from .pictures import picture_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(author):
    return post_services.post_create(author=author, data={"title": "A draft", "body": "Words"})


def save(client, post, **changes):
    data = {"title": post.title, "slug": "", "body": post.body, "version": post.version, "action": "save"}
    return client.post(reverse("editor:post_edit", args=[post.pk]), {**data, **changes})


def cover_of(post):
    use = ImageUse.objects.filter(post=post, role=ImageRole.COVER).first()
    return use.image if use else None


def test_the_editor_page_has_the_upload_tools_and_the_cover_picker(author, draft, client_for):
    page = client_for(author).get(reverse("editor:post_edit", args=[draft.pk])).content.decode()
    assert "js/editor-images.js" in page and 'data-upload-url="/editor/media/upload/"' in page
    assert "data-image-tools" in page and 'name="cover_image"' in page and 'name="cover_image_url"' in page


def test_a_library_image_becomes_the_cover_on_save_and_can_be_removed(author, draft, client_for):
    image = services.image_upload(file=upload(picture_bytes("PNG", (60, 40))), by=author, title="Dunes")
    client = client_for(author)

    assert save(client, draft, cover_image=image.pk).status_code == 302
    assert cover_of(draft) == image
    page = client.get(reverse("editor:post_edit", args=[draft.pk])).content.decode()
    assert f'value="{image.pk}"' in page and "From the library: Dunes" in page

    draft.refresh_from_db()
    assert save(client, draft, cover_image="").status_code == 302
    assert cover_of(draft) is None


def test_an_image_the_writer_cannot_see_is_refused_as_cover(author, other_author, draft, client_for):
    theirs = services.image_upload(file=upload(picture_bytes("PNG", (60, 40))), by=other_author)
    response = save(client_for(author), draft, cover_image=theirs.pk)
    assert response.status_code == 400
    assert "no longer in the library" in response.content.decode()
    assert cover_of(draft) is None


def test_a_cover_an_editor_chose_stays_when_the_author_saves(author, editor, draft, client_for):
    editors_image = services.image_upload(file=upload(picture_bytes("PNG", (60, 40))), by=editor)
    services.post_cover_set(post=draft, image=editors_image, by=editor)
    draft.refresh_from_db()
    assert save(client_for(author), draft, cover_image=editors_image.pk, body="More words").status_code == 302
    assert cover_of(draft) == editors_image
