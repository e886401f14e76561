"""Settings for every environment, read from environment variables.

Defaults run on a laptop; `blogsite.settings.production` overrides the ones that
must be set explicitly there.
"""

from pathlib import Path

import environ
from csp.constants import NONE, SELF

from .engines import parse_backends

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY",
    default="dev-only-insecure-key-change-me-in-production-0123456789",
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "django.contrib.postgres",
    "channels",
    "csp",
    "django_prometheus",
    "accounts",
    "posts",
    "aiwriter",
]

MIDDLEWARE = [
    # First and last so that request counts and latency cover every other middleware.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The signed-in user's id in the request's log lines (blogsite/request_id.py).
    "blogsite.request_id.request_user_middleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # django-prometheus' After middleware, sync-only: keeps the chain on one thread (see its docstring).
    "blogsite.metrics.SyncPrometheusAfterMiddleware",
]

# Content-Security-Policy (django-csp), the same in development and production; deploy/nginx.conf sends
# it on what it answers itself. Scripts and styles come only from the site's own files (the templates
# have no inline code; settings reach scripts as json_script data), pictures in posts from any https
# address, and fetches and the AI writer's WebSocket go to the site itself.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "https:", "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

ROOT_URLCONF = "blogsite.urls"
ASGI_APPLICATION = "blogsite.asgi.application"
WSGI_APPLICATION = "blogsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "blogsite.context_processors.site",
                "posts.cache_keys.template_versions",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers and the writer work at once; the timeout rides out short write locks.
    # IMMEDIATE transactions take the write lock up front: a transaction that read first and then
    # wrote would otherwise fail at once, not wait, when another process (a worker) wrote meanwhile.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }
    )
    # Kept open between requests: Django's sync code runs on a few long-lived threads
    # (DJANGO_SYNC_THREADS, blogsite/asgi.py), each with its connection, checked before reuse.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=600)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg's connection pool, one per process: a request, a WebSocket's sign-in or an audit
    # record borrows a connection and gives it back instead of connecting anew (several
    # milliseconds each time) and closing. Django refuses CONN_MAX_AGE with a pool: leave it at 0.
    # A borrowed connection is checked first, so one the server dropped (a restart) is replaced.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),  # seconds to wait for a free one
    }
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The same backends wrapped by django-prometheus, which counts connections, queries and their time.
PROMETHEUS_DB_ENGINES = {
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
}
_engine = DATABASES["default"]["ENGINE"]
DATABASES["default"]["ENGINE"] = PROMETHEUS_DB_ENGINES.get(_engine, _engine)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Threads per process that run Django's sync middleware and views, one request at a time each
# (blogsite/asgi.py); more requests wait for a free one. Each keeps a database connection. More
# threads contend for the GIL (a cold post page under load: 5.5 ms of CPU with 1, 6.5 with 2,
# 7.6 with 4); two let a slow request (a sign-in's password hash) leave the other to the rest.
DJANGO_SYNC_THREADS = env.int("DJANGO_SYNC_THREADS", default=2)

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# Connections each process's own Redis clients may open at once (per event loop); a burst beyond
# it waits for a free one (blogsite/redis_clients.py). The channel layer has a pool of its own.
REDIS_MAX_CONNECTIONS = env.int("REDIS_MAX_CONNECTIONS", default=200)
CACHES = {
    "default": {
        # django-redis with hit, miss and failure counters.
        "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "blogsite",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": 0.5,
            "SOCKET_TIMEOUT": 0.5,
        },
    }
}
# Reader pages' fragments and selector results (posts/cache_keys.py): the same Redis, but an
# unreachable one reads as a miss here rather than an error, so pages still render.
CACHES["pages"] = {
    **CACHES["default"],
    "OPTIONS": {**CACHES["default"]["OPTIONS"], "IGNORE_EXCEPTIONS": True},
}
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True  # once per interval: see the redis_outage filter below

# The page cache in front of Django (posts/page_cache/) for anonymous readers.
PAGE_CACHE_SECONDS = env.int("PAGE_CACHE_SECONDS", default=600)  # longest a copy is kept
PAGE_CACHE_SEARCH_SECONDS = env.int("PAGE_CACHE_SEARCH_SECONDS", default=120)  # repeated searches only
PAGE_CACHE_WAIT_SECONDS = env.float("PAGE_CACHE_WAIT_SECONDS", default=2.0)  # for another request's render
PAGE_CACHE_RETRY_SECONDS = env.float("PAGE_CACHE_RETRY_SECONDS", default=2.0)  # before trying a down Redis
PAGE_CACHE_WARNING_INTERVAL = env.float("PAGE_CACHE_WARNING_INTERVAL", default=60.0)  # between outage warnings
PAGE_CACHE_REDIS_TIMEOUT = env.float("PAGE_CACHE_REDIS_TIMEOUT", default=1.0)  # then Redis counts as down

AUTH_USER_MODEL = "accounts.User"
# Django's model backend plus sign-in throttling (accounts/throttle.py), for the site and the admin.
AUTHENTICATION_BACKENDS = ["accounts.backends.ThrottledModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "posts:index"
LOGOUT_REDIRECT_URL = "posts:index"

# Login throttling (accounts/throttle.py): this many failures for one account from one address,
# or for one account from anywhere (then only from the addresses that failed on it), or from one
# address on any accounts, within the window lock further attempts out until the window passes.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=20)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)
# Rate limits as (requests, seconds): accounts made per address, password reset emails asked per
# address and per email address, comments, image uploads and Markdown previews per person.
RATE_LIMITS = {
    "signup": (env.int("SIGNUP_RATE_LIMIT", default=5), 3600),
    "password_reset": (env.int("PASSWORD_RESET_RATE_LIMIT", default=5), 3600),
    "password_reset_email": (env.int("PASSWORD_RESET_EMAIL_RATE_LIMIT", default=3), 3600),
    "comment": (env.int("COMMENT_RATE_LIMIT", default=5), 60),
    "image_upload": (env.int("IMAGE_UPLOAD_RATE_LIMIT", default=60), 3600),
    "preview": (env.int("PREVIEW_RATE_LIMIT", default=120), 60),
}

EMAIL_BACKEND = env.str("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="blog@localhost")

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# Uploaded images (posts/images/) go through Django's storage API: the file system under MEDIA_ROOT by
# default, served at MEDIA_URL by the project in development and by nginx in production; with
# MEDIA_STORAGE=s3, S3-compatible object storage through django-storages (README: Images).
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_STORAGE = env.str("MEDIA_STORAGE", default="filesystem")  # or s3
if MEDIA_STORAGE == "s3":
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("MEDIA_S3_BUCKET"),
            "endpoint_url": env.str("MEDIA_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("MEDIA_S3_REGION", default="") or None,
            "access_key": env.str("MEDIA_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("MEDIA_S3_SECRET_ACCESS_KEY", default="") or None,
            # Public URLs (a public bucket or a CDN in front of it): pages are cached, signed URLs expire.
            "custom_domain": env.str("MEDIA_S3_CUSTOM_DOMAIN", default="") or None,
            "querystring_auth": False,
            "file_overwrite": False,
            "default_acl": env.str("MEDIA_S3_DEFAULT_ACL", default="") or None,
            "object_parameters": {"CacheControl": "public, max-age=31536000, immutable"},
        },
    }
elif MEDIA_STORAGE == "filesystem":
    _media_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
else:
    raise ValueError(f"MEDIA_STORAGE is {MEDIA_STORAGE!r}; use filesystem or s3.")
# The project serves MEDIA_URL itself only for local files in development.
MEDIA_SERVED_BY_DJANGO = env.bool(
    "MEDIA_SERVED_BY_DJANGO", default=DEBUG and MEDIA_STORAGE == "filesystem" and MEDIA_URL.startswith("/")
)
STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# What an upload may be: bytes of the file, pixels once decoded (Pillow's own decompression-bomb guard
# stays on above this), and a person's uploads per hour and bytes kept (staff set other quotas in the admin).
IMAGE_MAX_BYTES = env.int("IMAGE_MAX_BYTES", default=10 * 1024 * 1024)
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=40_000_000)
IMAGE_UPLOAD_QUOTA_BYTES = env.int("IMAGE_UPLOAD_QUOTA_BYTES", default=500 * 1024 * 1024)
# Widths of the renditions post pages offer in srcset (only those narrower than the image are made).
IMAGE_RENDITION_WIDTHS = env.list("IMAGE_RENDITION_WIDTHS", cast=int, default=[480, 800, 1200, 1600])

# cached_db sessions that fall back to the database alone while Redis is unreachable.
SESSION_ENGINE = "accounts.sessions"

# Limits on what readers and editors may send.
POST_BODY_MAX_BYTES = 1_000_000
# Markdown's cost (posts/markdown.py): text up to this size renders in the web process (hundredths of a
# second at worst); longer text in a child process stopped after the time limit, this many at once.
MARKDOWN_INLINE_MAX_BYTES = env.int("MARKDOWN_INLINE_MAX_BYTES", default=16_000)
MARKDOWN_RENDER_SECONDS = env.float("MARKDOWN_RENDER_SECONDS", default=3.0)
MARKDOWN_RENDER_PROCESSES = env.int("MARKDOWN_RENDER_PROCESSES", default=2)
COMMENT_BODY_MAX_CHARS = 5_000
DATA_UPLOAD_MAX_MEMORY_SIZE = 3 * 1024 * 1024

SITE_NAME = env.str("SITE_NAME", default="Blogsite")
SITE_DESCRIPTION = env.str("SITE_DESCRIPTION", default="Notes, essays and tutorials.")
POSTS_PER_PAGE = 10

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # channels-redis blocks 5 s in BZPOPMIN while a channel is idle, and redis-py's default read
        # timeout is also 5 s, so an idle receive could fail with "Timeout reading"; reads get longer.
        # A burst of sockets joining their groups at connect would exceed redis-py's default pool of
        # 100 connections, which refuses rather than waits; each socket needs one only briefly.
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    "socket_timeout": 15,
                    "max_connections": env.int("CHANNEL_LAYER_MAX_CONNECTIONS", default=1000),
                }
            ]
        },
    }
}

# Inference hosts, each with its API dialect (ollama or openai); see blogsite/settings/engines.py.
AIWRITER_BACKENDS = parse_backends(
    env.str("AIWRITER_BACKENDS", default=""), ollama_urls=env.list("OLLAMA_URLS", default=[])
)
# The engine that deploy/scripts/run-dev.sh starts on this machine when no other answers (llama-cpp-python's
# server with a small model): while it loads, the AI panel says it is starting rather than unavailable.
AIWRITER_LOCAL_ENGINE_URL = env.str("AIWRITER_LOCAL_ENGINE_URL", default="")
AIWRITER_DEFAULT_MODEL = env.str("AIWRITER_DEFAULT_MODEL", default="llama3.2:1b")
# Seconds allowed towards Ollama: to connect, until the first token, between tokens, in all.
AIWRITER_TIMEOUTS = {
    "connect": env.float("AIWRITER_TIMEOUT_CONNECT", default=5.0),
    "first_token": env.float("AIWRITER_TIMEOUT_FIRST_TOKEN", default=60.0),
    "idle": env.float("AIWRITER_TIMEOUT_IDLE", default=30.0),
    "total": env.float("AIWRITER_TIMEOUT_TOTAL", default=600.0),
}
# What one editor may ask of the AI writer: input size, generations at once, generations per minute.
AIWRITER_MAX_INPUT_CHARS = env.int("AIWRITER_MAX_INPUT_CHARS", default=40_000)
AIWRITER_MAX_CONCURRENT_PER_USER = env.int("AIWRITER_MAX_CONCURRENT_PER_USER", default=3)
AIWRITER_RATE_LIMIT = env.int("AIWRITER_RATE_LIMIT", default=30)
# Chat history kept per editor and post, and how much of it goes into each prompt.
AIWRITER_CHAT_HISTORY_MESSAGES = env.int("AIWRITER_CHAT_HISTORY_MESSAGES", default=20)
AIWRITER_CHAT_HISTORY_CHARS = env.int("AIWRITER_CHAT_HISTORY_CHARS", default=12_000)
# The gateway in front of the Ollama hosts (aiwriter/gateway/): admission, routing, breakers, retries,
# response cache, and how often a stream sends a frame.
AIWRITER_MAX_IN_FLIGHT = env.int("AIWRITER_MAX_IN_FLIGHT", default=64)  # generations upstream, per process
AIWRITER_MAX_IN_FLIGHT_PER_HOST = env.int("AIWRITER_MAX_IN_FLIGHT_PER_HOST", default=16)
AIWRITER_QUEUE_SIZE = env.int("AIWRITER_QUEUE_SIZE", default=256)  # waiting for a slot; beyond it: busy
AIWRITER_RETRY_ATTEMPTS = env.int("AIWRITER_RETRY_ATTEMPTS", default=3)  # tries in all, first one included
AIWRITER_RETRY_BACKOFF = env.float("AIWRITER_RETRY_BACKOFF", default=0.2)  # seconds, doubled per retry, jittered
AIWRITER_BREAKER_FAILURES = env.int("AIWRITER_BREAKER_FAILURES", default=3)  # in a row, then the breaker opens
AIWRITER_BREAKER_COOLDOWN = env.float("AIWRITER_BREAKER_COOLDOWN", default=15.0)  # seconds before one probe
AIWRITER_HEALTH_INTERVAL = env.float("AIWRITER_HEALTH_INTERVAL", default=10.0)  # seconds between tags refreshes
AIWRITER_CACHE_TTL = env.int("AIWRITER_CACHE_TTL", default=3600)  # seconds a cached answer is served
AIWRITER_CACHE_TTLS = env.dict("AIWRITER_CACHE_TTLS", cast={"value": int}, default={})  # per action, e.g. tags=86400
AIWRITER_FRAME_INTERVAL_MS = env.tuple("AIWRITER_FRAME_INTERVAL_MS", cast=float, default=(25.0, 50.0))
# Streams at the longest interval; beyond them the interval grows so frames per second stay level
# (load / longest: 2,000 a second), up to the ceiling.
AIWRITER_FRAME_LOAD_STREAMS = env.int("AIWRITER_FRAME_LOAD_STREAMS", default=100)
AIWRITER_FRAME_INTERVAL_CEILING_MS = env.float("AIWRITER_FRAME_INTERVAL_CEILING_MS", default=150.0)

# Celery (blogsite/celery.py): AI work on the `ai` queue, everything else on `default`.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "aiwriter.tasks.batch_jobs_resume": {"queue": "default"},
    "aiwriter.tasks.*": {"queue": "ai"},
}
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
# One message at a time per worker process, so a long AI item never holds others back.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A message not acknowledged this long (its worker died) goes back to the queue.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=900),
    # A request that starts a batch job waits at most this long for an unreachable Redis (per try).
    "socket_connect_timeout": 2,
}
CELERY_BEAT_SCHEDULE = {
    "publish-due-posts": {"task": "posts.tasks.posts_publish_due", "schedule": 60.0},
    "resume-stalled-batch-jobs": {"task": "aiwriter.tasks.batch_jobs_resume", "schedule": 300.0},
}
# Batch AI jobs: how long an item's claim lasts before another delivery may take it over; it must
# outlast one generation (AIWRITER_TIMEOUTS["total"] bounds that) and is the AI tasks' hard time limit.
AIWRITER_BATCH_ITEM_LEASE_SECONDS = env.int("AIWRITER_BATCH_ITEM_LEASE_SECONDS", default=660)
AIWRITER_BATCH_MAX_POSTS = env.int("AIWRITER_BATCH_MAX_POSTS", default=1000)
# Batch work one user may have: jobs queued or running at once, and posts their jobs take on in an
# hour (a budget of its own, apart from AIWRITER_RATE_LIMIT's generations a minute in the editor).
AIWRITER_BATCH_MAX_ACTIVE_JOBS = env.int("AIWRITER_BATCH_MAX_ACTIVE_JOBS", default=3)
AIWRITER_BATCH_POSTS_PER_HOUR = env.int("AIWRITER_BATCH_POSTS_PER_HOUR", default=1000)
# Batch generations upstream at once, site-wide: a worker process (or thread) runs one item, and an
# item one generation, at a time, so the concurrency of the worker on the `ai` queue is the cap
# (with several workers on `ai`, their sum). Kept below what the engines run in parallel, editors
# always find a free slot (aiwriter/jobs/services.py). A worker's `--concurrency` overrides it.
AIWRITER_BATCH_CONCURRENCY = env.int("AIWRITER_BATCH_CONCURRENCY", default=2)
CELERY_WORKER_CONCURRENCY = AIWRITER_BATCH_CONCURRENCY
# A job with no item started or finished for this long is sent to the workers again.
AIWRITER_BATCH_RESUME_AFTER_SECONDS = env.int(
    "AIWRITER_BATCH_RESUME_AFTER_SECONDS", default=AIWRITER_BATCH_ITEM_LEASE_SECONDS + 60
)

_log_level = env.str("DJANGO_LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        # One JSON object per line (python-json-logger): time, level, logger and message, and while serving
        # a request its id, path and user's id; each request's own line adds method, status and duration_ms.
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": env.str("DJANGO_LOG_FORMAT", default="plain"),  # or json
            "filters": ["request_context"],
        },
    },
    "root": {"handlers": ["console"], "level": _log_level},
    "filters": {
        "redis_outage": {"()": "posts.cache_keys.RedisOutageLogFilter"},
        # The request id, path and user on every record made while serving a request (blogsite/request_id.py).
        "request_context": {"()": "blogsite.request_id.RequestContextFilter"},
    },
    "loggers": {
        # One line per HTTP request and WebSocket: method, path, status, duration. WARNING turns it off.
        "blogsite.requests": {"level": env.str("DJANGO_REQUEST_LOG_LEVEL", default=_log_level)},
        "django.db.backends": {"level": "WARNING"},
        # httpx logs every request to the AI engines at INFO; the gateway logs what goes wrong.
        "httpx": {"level": "WARNING"},
        # django-redis logs every ignored error with a traceback; this keeps one warning per interval.
        "django_redis.cache": {"filters": ["redis_outage"]},
    },
}

# Metrics at /metrics (blogsite/metrics.py). Open here; production requires an allowed
# address (CIDR networks, matched against the connecting address) or the bearer token.
METRICS_REQUIRE_AUTH = env.bool("METRICS_REQUIRE_AUTH", default=False)
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Finer than django-prometheus' default below 10 ms, where cached pages land.
PROMETHEUS_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf"))

# /readyz runs these at once (blogsite/health.py); each is `def check() -> dict`.
READINESS_CHECKS = ["blogsite.health.check_database", "blogsite.health.check_redis", "aiwriter.health.check_engines"]
READINESS_TIMEOUT_SECONDS = env.float("READINESS_TIMEOUT_SECONDS", default=2.0)
