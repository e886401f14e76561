"""The media library at /editor/media/ and the upload endpoint of the post editor."""

import pytest
from django.urls import reverse

from accounts.roles import Role
from posts.images import services
from posts.images.models import Image, ImageRole, ImageUse
from tests.factories import PostFactory, UserFactory

from .pictures import decompression_bomb, noise_png, picture_bytes, upload

pytestmark = pytest.mark.django_db

LIBRARY = "/editor/media/"
UPLOAD = "/editor/media/upload/"


def test_the_editor_uploads_a_dropped_or_pasted_image_and_gets_its_markdown(client, author):
    client.force_login(author)
    response = client.post(UPLOAD, {"file": upload(picture_bytes("PNG", (640, 480)), name="pasted.png")})

    assert response.status_code == 201
    data = response.json()
    image = Image.objects.get(pk=data["id"])
    assert data["markdown"] == f"![]({image.url})"
    assert (data["width"], data["height"]) == (640, 480)
    assert image.uploaded_by == author and image.mime_type == "image/png"


@pytest.mark.parametrize(
    ("data", "name", "status", "message"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "cat.png", 400, "is not an image the site accepts"),
        (decompression_bomb(), "bomb.png", 413, "too many pixels"),
        (noise_png(), "big.png", 413, "images may be at most 1000"),
    ],
)
def test_the_upload_endpoint_refuses_with_a_message(client, author, settings, data, name, status, message):
    settings.IMAGE_MAX_BYTES = 1000 if name == "big.png" else settings.IMAGE_MAX_BYTES
    client.force_login(author)
    response = client.post(UPLOAD, {"file": upload(data, name=name)})
    assert response.status_code == status
    assert message in response.json()["error"]
    assert not Image.objects.exists()


def test_the_upload_endpoint_needs_a_writer(client, reader):
    assert client.post(UPLOAD, {"file": upload(picture_bytes("PNG", (10, 10)))}).status_code == 401
    client.force_login(reader)
    assert client.post(UPLOAD, {"file": upload(picture_bytes("PNG", (10, 10)))}).status_code == 403


def test_the_upload_endpoint_checks_the_csrf_token(author):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(author)
    assert client.post(UPLOAD, {"file": upload(picture_bytes("PNG", (10, 10)))}).status_code == 403
    assert not Image.objects.exists()


def test_the_library_form_uploads_and_shows_the_image(client, author):
    client.force_login(author)
    response = client.post(
        LIBRARY,
        {"file": upload(picture_bytes("JPEG", (800, 600)), name="x.jpg"), "title": "Harbour", "alt_text": "Boats"},
    )
    image = Image.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("editor:media_edit", args=[image.pk])
    assert (image.title, image.alt_text) == ("Harbour", "Boats")
    page = client.get(LIBRARY).content.decode()
    assert "Harbour" in page and image.thumbnail_url in page


def test_the_library_form_shows_why_a_file_is_refused(client, author):
    client.force_login(author)
    response = client.post(LIBRARY, {"file": upload(b"GIF89a-not-really", name="x.gif")})
    assert response.status_code == 400
    assert "is not an image the site accepts" in response.content.decode()


@pytest.fixture
def library(editor, author, other_author):
    harbour = services.image_upload(file=upload(picture_bytes("PNG", (30, 30))), by=author, title="Harbour")
    forest = services.image_upload(file=upload(picture_bytes("PNG", (30, 30))), by=other_author, title="Forest")
    post = PostFactory(author=author, title="Sailing")
    ImageUse.objects.create(image=harbour, post=post, role=ImageRole.BODY)
    return {"harbour": harbour, "forest": forest, "post": post}


def titles(response) -> set[str]:
    return {str(image) for image in response.context["page"].object_list}


def test_the_library_searches_and_filters_by_uploader_and_use(client, editor, author, library):
    client.force_login(editor)
    assert titles(client.get(LIBRARY)) == {"Harbour", "Forest"}
    assert titles(client.get(LIBRARY, {"q": "harb"})) == {"Harbour"}
    assert titles(client.get(LIBRARY, {"uploader": author.username})) == {"Harbour"}
    assert titles(client.get(LIBRARY, {"used_in": str(library["post"].pk)})) == {"Harbour"}
    assert titles(client.get(LIBRARY, {"used_in": "unused"})) == {"Forest"}


def test_the_library_pages(client, editor, author, settings):
    from posts.images import views

    client.force_login(editor)
    for n in range(views.IMAGES_PER_PAGE + 1):
        services.image_upload(file=upload(picture_bytes("PNG", (10, 10))), by=author, title=f"Image {n}")
    first, second = client.get(LIBRARY), client.get(LIBRARY, {"page": 2})
    assert len(first.context["page"].object_list) == views.IMAGES_PER_PAGE
    assert titles(second) == {"Image 0"} and "Page 2 of 2" in second.content.decode()


def test_authors_see_and_change_only_their_own_uploads(client, author, library):
    client.force_login(author)
    assert titles(client.get(LIBRARY)) == {"Harbour"}
    assert client.get(reverse("editor:media_edit", args=[library["forest"].pk])).status_code == 404
    assert client.post(reverse("editor:media_delete", args=[library["forest"].pk])).status_code == 404


def test_alt_text_and_title_are_edited_in_the_library(client, author, library):
    client.force_login(author)
    url = reverse("editor:media_edit", args=[library["harbour"].pk])
    assert "Sailing" in client.get(url).content.decode()  # where it is used
    response = client.post(url, {"title": "Old harbour", "alt_text": "Fishing boats at dawn"})
    assert response.status_code == 302
    library["harbour"].refresh_from_db()
    assert (library["harbour"].title, library["harbour"].alt_text) == ("Old harbour", "Fishing boats at dawn")


def test_deleting_an_image_in_use_warns_with_the_posts_and_needs_a_tick(client, author, library):
    client.force_login(author)
    url = reverse("editor:media_delete", args=[library["harbour"].pk])
    warning = client.get(url).content.decode()
    assert "This image is in use" in warning and "Sailing" in warning

    refused = client.post(url, {})
    assert refused.status_code == 400 and "Sailing" in refused.content.decode()
    assert Image.objects.filter(pk=library["harbour"].pk).exists()

    assert client.post(url, {"confirm_in_use": "on"}).status_code == 302
    assert not Image.objects.filter(pk=library["harbour"].pk).exists()


def test_an_unused_image_is_deleted_at_once(client, editor, library):
    client.force_login(editor)
    assert client.post(reverse("editor:media_delete", args=[library["forest"].pk])).status_code == 302
    assert not Image.objects.filter(pk=library["forest"].pk).exists()


def test_the_pickers_list_is_json_and_searchable(client, editor, library):
    client.force_login(editor)
    data = client.get("/editor/media/images.json", {"q": "forest"}).json()
    assert [image["title"] for image in data["images"]] == ["Forest"]
    assert data["images"][0]["markdown"].startswith("![](")


def test_readers_cannot_open_the_library(client, reader):
    client.force_login(reader)
    assert client.get(LIBRARY).status_code == 403
    assert UserFactory(role=Role.AUTHOR)  # authors can: see the tests above


def test_an_author_sees_the_titles_only_of_posts_they_may_open(client, author, other_author, library):
    private = PostFactory(author=other_author, title="Private draft")
    ImageUse.objects.create(image=library["harbour"], post=private, role=ImageRole.BODY)
    client.force_login(author)
    for url in (
        reverse("editor:media_edit", args=[library["harbour"].pk]),
        reverse("editor:media_delete", args=[library["harbour"].pk]),
    ):
        page = client.get(url).content.decode()
        assert "Sailing" in page and "1 post by other authors" in page and "Private draft" not in page
    assert titles(client.get(LIBRARY, {"used_in": str(library["post"].pk)})) == {"Harbour"}
    filters = client.get(LIBRARY).context["filters"]
    assert [label for _, label in filters.fields["used_in"].choices][2:] == ["Sailing"]


def test_lists_of_images_show_a_small_copy(client, editor, author, django_assert_max_num_queries):
    big = services.image_upload(file=upload(picture_bytes("JPEG", (2000, 1200))), by=author, title="Big")
    small = {r.file.url for r in big.renditions.filter(width=480)}  # JPEG or WebP, whichever is smaller
    client.force_login(editor)
    with django_assert_max_num_queries(12):  # renditions are read for the whole page at once
        page = client.get(LIBRARY).content.decode()
    assert f'src="{big.thumbnail_url}"' in page and big.thumbnail_url in small
    assert f'src="{big.url}"' not in page
    assert client.get("/editor/media/images.json").json()["images"][0]["thumbnail_url"] in small
