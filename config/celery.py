"""The Celery app. Settings come from Django's settings under the CELERY_ namespace."""

import os

import redis.exceptions
from celery import Celery, signals
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

# Tasks are the system: they read every row they need (emitters filter per recipient
# themselves). In tests tasks run eagerly inside the request that queued them, so the
# request's access guard is switched off for the task's duration (config/access.py).
_task_guards: dict[str, object] = {}


@signals.task_prerun.connect
def _task_reads_unscoped(task_id=None, **kwargs) -> None:
    from config.access import guarded

    manager = guarded(active=False)
    manager.__enter__()
    _task_guards[task_id] = manager


@signals.task_postrun.connect
def _task_done(task_id=None, **kwargs) -> None:
    manager = _task_guards.pop(task_id, None)
    if manager is not None:
        manager.__exit__(None, None, None)
