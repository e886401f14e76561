"""Settings for the test suite: the real services, with faster password hashing."""

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = True
# Uploaded images of this run, apart from the site's own and from other runs on the machine.
MEDIA_ROOT = Path(tempfile.gettempdir()) / f"blogsite-test-media-{os.getpid()}"
# Served as in development, so tests can fetch what a page links to.
MEDIA_SERVED_BY_DJANGO = True

# One test database per run, as several runs may share the machine. On SQLite a file rather than
# memory, so that Celery worker processes in integration tests open the same test database.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"blogsite-test-{os.getpid()}.sqlite3")}
    # Closed after each request, as pytest-django expects: a connection kept open in one of
    # Django's request threads (blogsite/asgi.py) would outlive the test that opened it.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}

# One WebSocket frame per piece of text, so tests see exactly what the model sent; the gateway's
# own tests switch frame pacing on where it is the point.
AIWRITER_FRAME_INTERVAL_MS = (0.0, 0.0)
