"""The Celery app. Settings come from Django's settings under the CELERY_ namespace."""

import os

import redis.exceptions
from celery import Celery
from kombu.exceptions import OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("switchboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# What publishing a task raises when the broker cannot be reached: kombu's wrapper (no
# connection could be made), or the socket/Redis error of a connection lost mid-publish.
# Anything else (with eager tasks, the task's own error) is not an outage and propagates.
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)
