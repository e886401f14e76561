"""Staff manage the media library in the Django admin, through the same services as the editor."""

import re

import pytest
from django.core.files.storage import default_storage

from posts.images import services
from posts.images.models import Image, ImageRole, ImageUse, UploadQuota
from tests.factories import PostFactory

from .pictures import GPS_IFD, photo_with_gps_and_rotation, picture_bytes, upload

pytestmark = pytest.mark.django_db

ADD = "/admin/posts/image/add/"


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def test_staff_upload_an_image_in_the_admin_and_it_is_cleaned_like_any_other(admin_client, staff):
    response = admin_client.post(
        ADD, {"upload": upload(photo_with_gps_and_rotation()), "title": "Trip", "alt_text": ""}
    )
    image = Image.objects.get()
    assert response.status_code == 302, re.findall(r"errorlist[^<]*<li>([^<]*)", response.content.decode())
    assert response["Location"] == "/admin/posts/image/"
    assert image.uploaded_by == staff and image.title == "Trip" and (image.width, image.height) == (800, 1200)
    with default_storage.open(image.file.name) as stored:
        from PIL import Image as PillowImage

        assert not PillowImage.open(stored).getexif().get_ifd(GPS_IFD)
    assert image.renditions.exists()


def test_the_admin_refuses_a_file_that_is_not_an_image(admin_client):
    response = admin_client.post(ADD, {"upload": upload(b"%PDF-1.4", name="doc.png"), "title": "", "alt_text": ""})
    assert response.status_code == 200
    assert "is not an image the site accepts" in response.content.decode()
    assert not Image.objects.exists()


def test_staff_edit_alt_text_and_see_where_an_image_is_used(admin_client, staff):
    image = services.image_upload(file=upload(picture_bytes("PNG", (40, 40))), by=staff)
    ImageUse.objects.create(image=image, post=PostFactory(title="Where it shows"), role=ImageRole.BODY)
    url = f"/admin/posts/image/{image.pk}/change/"
    assert "Where it shows" in admin_client.get(url).content.decode()
    data = {"title": "Renamed", "alt_text": "A green square", "uses-TOTAL_FORMS": "1", "uses-INITIAL_FORMS": "1"}
    data |= {
        "uses-MIN_NUM_FORMS": "0",
        "uses-MAX_NUM_FORMS": "1000",
        "uses-0-id": image.uses.get().pk,
        "uses-0-image": image.pk,
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    image.refresh_from_db()
    assert (image.title, image.alt_text) == ("Renamed", "A green square")


def test_the_admin_deletion_lists_the_posts_and_removes_the_files(
    admin_client, staff, django_capture_on_commit_callbacks
):
    image = services.image_upload(file=upload(picture_bytes("PNG", (40, 40))), by=staff)
    ImageUse.objects.create(image=image, post=PostFactory(title="Still shows it"), role=ImageRole.BODY)
    url = f"/admin/posts/image/{image.pk}/delete/"
    assert "Still shows it" in admin_client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Image.objects.exists() and not default_storage.exists(image.file.name)


def test_staff_set_a_persons_quota_and_the_sites_default_image(admin_client, staff, author):
    response = admin_client.post("/admin/posts/uploadquota/add/", {"user": author.pk, "max_bytes": 1000})
    assert response.status_code == 302
    assert services.quota_bytes(author) == 1000 == UploadQuota.objects.get(user=author).max_bytes

    image = services.image_upload(file=upload(picture_bytes("PNG", (40, 40))), by=staff)
    changelist = "/admin/posts/image/"
    admin_client.post(changelist, {"action": "make_site_default", "_selected_action": [image.pk]})
    assert Image.objects.get(is_site_default=True) == image
