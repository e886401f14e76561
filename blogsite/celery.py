"""The Celery app: Redis as broker and result backend, settings under CELERY_ in Django's settings.

Workers start with `celery -A blogsite worker -Q ai,default`; beat with `celery -A blogsite beat`.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blogsite.settings.base")

app = Celery("blogsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
