"""Production settings: secrets and hosts must come from the environment."""

from .base import *  # noqa: F403
from .base import LOGGING, STORAGES, env

DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Health probes and the Prometheus scraper talk plain HTTP to the app inside the private network,
# not through nginx; /metrics has its own access control (below).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Uploaded images keep the storage base.py chose (MEDIA_STORAGE), served by nginx or the object storage,
# never by Django; static files get hashed names.
MEDIA_SERVED_BY_DJANGO = False
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "blogsite.static_storage.StaticFilesStorage"}}
EMAIL_BACKEND = env.str("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")

# /metrics only for the scraper: its address in METRICS_ALLOWED_IPS, or METRICS_TOKEN as a bearer token.
METRICS_REQUIRE_AUTH = True

# One JSON object per line on standard output (blogsite/settings/base.py's "json" formatter).
# daphne's own plain-text access log is left off (`-v 0`, as the image runs serve.py): the
# request lines of blogsite/request_id.py replace it.
LOGGING["handlers"]["console"]["formatter"] = env.str("DJANGO_LOG_FORMAT", default="json")
# Celery's workers log through these settings too, rather than replacing the root logger's handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
