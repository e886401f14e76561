"""Files go through Django's storage API: another backend (here in memory) takes them all, and dev serves local ones."""

import pytest
from django.core.files.storage import InMemoryStorage, default_storage, storages
from django.test import override_settings

from posts import services as post_services
from posts.images import services

from .pictures import picture_bytes, upload

pytestmark = pytest.mark.django_db

IN_MEMORY = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage", "OPTIONS": {"base_url": "/stored/"}},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


@override_settings(STORAGES=IN_MEMORY)
def test_images_renditions_pages_and_deletions_use_the_configured_storage(
    client, editor, media_root, django_capture_on_commit_callbacks
):
    image = services.image_upload(file=upload(picture_bytes("JPEG", (1300, 800))), by=editor)
    names = [image.file.name, *image.renditions.values_list("file", flat=True)]

    assert isinstance(storages["default"], InMemoryStorage)
    assert all(default_storage.exists(name) for name in names) and len(names) > 3
    assert not media_root.exists()  # nothing on the file system
    assert image.url.startswith("/stored/images/")

    post = post_services.post_create(author=editor, data={"title": "Stored", "body": f"![]({image.url})"})
    post_services.post_publish(post=post, by=editor)
    page = client.get(post.get_absolute_url()).content.decode()
    assert f"{image.url} 1300w" in page and "/stored/images/" in page

    with django_capture_on_commit_callbacks(execute=True):
        services.image_delete(image=image, by=editor, confirmed=True)
    assert not any(default_storage.exists(name) for name in names)


def test_development_serves_local_uploads_as_images_the_csp_allows(client, author):
    image = services.image_upload(file=upload(picture_bytes("PNG", (30, 20))), by=author)
    response = client.get(image.url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == default_storage.open(image.file.name).read()
    assert "img-src 'self'" in client.get("/").headers["Content-Security-Policy"]
