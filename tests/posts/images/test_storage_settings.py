"""MEDIA_STORAGE picks the storage of uploaded images: S3-compatible object storage through django-storages."""

import json
import os
import subprocess
import sys

from django.conf import settings

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.core.files.storage import storages
storage = storages["default"]
print(json.dumps({"class": type(storage).__name__, "url": storage.url("images/ab/abc.jpg"),
                  "bucket": getattr(storage, "bucket_name", None), "served": settings.MEDIA_SERVED_BY_DJANGO}))
"""


def settings_with(**variables) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "blogsite.settings.base", **variables}
    return subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60
    )


def test_s3_storage_is_configured_from_the_environment_with_public_urls():
    done = settings_with(
        MEDIA_STORAGE="s3",
        MEDIA_S3_BUCKET="blog-images",
        MEDIA_S3_ENDPOINT_URL="https://s3.example.net",
        MEDIA_S3_CUSTOM_DOMAIN="img.example.net",
        MEDIA_S3_ACCESS_KEY_ID="",  # as the compose file passes an unset one
    )
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout)
    assert probe == {
        "class": "S3Storage",
        "url": "https://img.example.net/images/ab/abc.jpg",  # unsigned: cached pages never hold an expired link
        "bucket": "blog-images",
        "served": False,  # the object storage serves them, not the project
    }


def test_the_file_system_is_the_default_and_development_serves_it():
    probe = json.loads(settings_with(DJANGO_DEBUG="true").stdout)
    assert probe["class"] == "FileSystemStorage" and probe["url"] == "/media/images/ab/abc.jpg" and probe["served"]


def test_an_unknown_storage_is_refused_with_what_to_write():
    done = settings_with(MEDIA_STORAGE="ftp")
    assert done.returncode != 0 and "use filesystem or s3" in done.stderr
