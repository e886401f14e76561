"""The Celery app: Redis as broker and result backend, settings under CELERY_ in Django's settings.

Workers start with `celery -A blogsite worker -Q ai,default`; beat with `celery -A blogsite beat`.
Tasks carry the request id of the request that enqueued them into their log lines.
"""

import os

from celery import Celery, signals

from . import request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blogsite.settings.base")

app = Celery("blogsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A task runs under the request id of the request that enqueued it (blogsite/request_id.py).
signals.before_task_publish.connect(request_id.celery_headers_add)
signals.task_prerun.connect(request_id.celery_task_started)
signals.task_postrun.connect(request_id.celery_task_finished)
