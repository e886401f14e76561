"""Post pages: responsive library images, the cover, link previews and structured data."""

import json
import re

import pytest

from posts import services as post_services
from posts.images import services
from tests.factories import PostFactory

from .pictures import picture_bytes, upload

pytestmark = pytest.mark.django_db


def json_ld(content: str) -> dict:
    return json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', content, re.S).group(1))


def meta(content: str, name: str) -> str:
    return re.search(rf'<meta (?:property|name)="{re.escape(name)}" content="([^"]*)">', content).group(1)


@pytest.fixture
def photo(author):
    return services.image_upload(
        file=upload(picture_bytes("JPEG", (1500, 900), quality=95)), by=author, alt_text="A teal wall"
    )


def published_with(author, body: str):
    post = PostFactory(author=author, body="", status="draft", published_at=None)
    post_services.post_update(post=post, by=author, data={"body": body}, expected_version=post.version)
    return post_services.post_publish(post=post, by=author if author.has_perm("posts.publish_post") else None)


@pytest.fixture
def post_with_photos(editor, photo):
    body = f'Intro.\n\n![]({photo.url})\n\nMore.\n\n![The wall again](<{photo.url}> "Title")\n\n![](https://elsewhere.example/x.png)'
    return published_with(editor, body)


def test_body_images_get_srcset_sizes_webp_dimensions_and_lazy_loading_below_the_first(client, post_with_photos, photo):
    content = client.get(post_with_photos.get_absolute_url()).content.decode()
    pictures = re.findall(r"<picture>.*?</picture>", content, re.S)
    assert len(pictures) == 2
    renditions = {r.spec: r.file.url for r in photo.renditions.all()}
    first, second = pictures
    assert (
        f'srcset="{renditions["w480"]} 480w, {renditions["w800"]} 800w, {renditions["w1200"]} 1200w, {photo.url} 1500w"'
        in first
    )
    assert '<source type="image/webp" srcset="' in first and renditions["w800-webp"] + " 800w" in first
    assert 'sizes="(max-width: 46rem) calc(100vw - 2rem), 44rem"' in first
    assert 'width="1500" height="900"' in first
    # The first image may be in view as the page opens; the others wait until the reader scrolls to them.
    assert 'alt="A teal wall"' in first and 'loading="eager"' in first
    assert 'alt="The wall again"' in second and 'title="Title"' in second and 'loading="lazy"' in second
    assert '<img src="https://elsewhere.example/x.png" alt="" loading="lazy">' in content


def test_a_library_cover_is_shown_and_is_the_link_preview_card(client, editor, photo):
    post = published_with(editor, "Text only.")
    services.post_cover_set(post=post, image=photo, by=editor)
    content = client.get(post.get_absolute_url()).content.decode()
    card = photo.renditions.get(spec="card")

    assert re.search(r'<picture>.*?<img class="cover" src="[^"]+" srcset=.*?loading="eager"', content, re.S)
    assert meta(content, "og:image") == f"http://testserver{card.file.url}"
    assert (meta(content, "og:image:width"), meta(content, "og:image:height")) == ("1200", "630")
    assert meta(content, "og:image:alt") == "A teal wall"
    assert meta(content, "twitter:card") == "summary_large_image"
    assert meta(content, "twitter:image") == f"http://testserver{card.file.url}"
    data = json_ld(content)
    assert data["image"] == [f"http://testserver{card.file.url}"]
    assert data["publisher"]["@type"] == "Organization"


def test_posts_without_a_cover_show_the_default_image_staff_chose(client, editor, staff, photo):
    post = published_with(editor, "Text only.")
    outside = PostFactory(cover_image_url="https://img.example/cover.jpg")
    services.image_set_site_default(image=photo, by=staff)
    card = photo.renditions.get(spec="card")

    assert meta(client.get(post.get_absolute_url()).content.decode(), "og:image").endswith(card.file.url)
    assert meta(client.get(outside.get_absolute_url()).content.decode(), "og:image") == "https://img.example/cover.jpg"


def test_an_image_without_renditions_gets_them_when_a_page_first_shows_it(client, editor, photo):
    photo.renditions.all().delete()
    post = published_with(editor, f"![]({photo.url})")
    content = client.get(post.get_absolute_url()).content.decode()
    assert photo.renditions.filter(spec="w800").exists()
    assert f"{photo.renditions.get(spec='w800').file.url} 800w" in content


def test_an_image_whose_file_is_missing_still_leaves_the_page_readable(client, editor, photo):
    from django.core.files.storage import default_storage

    photo.renditions.all().delete()
    default_storage.delete(photo.file.name)
    post = published_with(editor, f"Words around it.\n\n![]({photo.url})")
    response = client.get(post.get_absolute_url())
    assert response.status_code == 200 and "Words around it." in response.content.decode()


def test_an_avif_upload_is_offered_as_jpeg_and_webp(client, editor):
    avif = services.image_upload(file=upload(picture_bytes("AVIF", (1000, 600)), name="a.avif"), by=editor)
    post = published_with(editor, f"![]({avif.url})")
    content = client.get(post.get_absolute_url()).content.decode()
    jpeg = avif.renditions.get(spec="w1000")
    assert avif.mime_type == "image/avif" and jpeg.mime_type == "image/jpeg"
    assert f'src="{jpeg.file.url}"' in content and avif.url not in content


def test_a_picture_wider_than_every_copy_is_offered_whole_and_no_full_size_copy_is_made(client, editor, settings):
    settings.IMAGE_RENDITION_WIDTHS = [400, 800]
    wide = services.image_upload(file=upload(picture_bytes("JPEG", (1800, 900))), by=editor)
    assert set(wide.renditions.values_list("width", flat=True)) <= {400, 800, 1200}  # 1200: the card
    post = published_with(editor, f"![]({wide.url})")
    content = client.get(post.get_absolute_url()).content.decode()
    assert f"{wide.url} 1800w" in content  # the JPEG original, as it is
