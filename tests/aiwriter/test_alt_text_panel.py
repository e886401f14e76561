"""The alt-text panel on a media library image's page."""

import io
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image as Picture

from posts.images.services import image_upload

pytestmark = pytest.mark.django_db


def upload(user):
    buffer = io.BytesIO()
    Picture.new("RGB", (40, 30), (90, 160, 60)).save(buffer, format="PNG")
    return image_upload(file=SimpleUploadedFile("dock.png", buffer.getvalue()), by=user, title="Dock")


def image_page(user, image) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(reverse("editor:media_edit", args=[image.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_image_page_offers_alt_text_for_the_image_into_its_own_field(author):
    image = upload(author)
    page = image_page(author, image)

    panel = re.search(r"<section[^>]*data-ai-alt-text[^>]*>", page).group(0)
    assert f'data-image-id="{image.pk}"' in panel
    assert 'data-field-id="id_alt_text"' in panel and 'id="id_alt_text"' in page
    assert 'data-stream-url="/aiwriter/stream/"' in panel and 'data-models-url="/aiwriter/models/"' in panel
    assert "js/aiwriter-alt-text.js" in page


def test_without_the_ai_writer_the_image_page_has_no_panel(author):
    image = upload(author)
    for group in author.groups.all():
        group.permissions.remove(Permission.objects.get(codename="use_aiwriter"))

    page = image_page(author, image)

    assert "data-ai-alt-text" not in page and "aiwriter-alt-text.js" not in page
    assert 'id="id_alt_text"' in page
