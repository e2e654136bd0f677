"""Log lines that can be searched: one JSON object per line, tagged with the request or task.

`LOG_FORMAT=json` (the default when DEBUG is off) uses `JsonFormatter`; `plain` (the default
in development) keeps a human-readable line. Both get `request_id` and `task_id` from
`ContextFilter`, so a request can be followed from the web process into the routing task
it enqueued (the id travels in the task's message headers).

The request id comes from the caller's `X-Request-ID` header when it looks sane, otherwise
it is generated (`config.middleware.RequestIdMiddleware`), and it is echoed in the response.
"""

import json
import logging
import re
import traceback
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from celery import current_task
from celery.signals import before_task_publish, setup_logging

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# Accept a caller's id only if it cannot smuggle anything into a log line or a header.
_SANE_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
REQUEST_ID_HEADER = "request_id"  # the Celery message header carrying it into tasks

# LogRecord attributes that are not "extra" fields a caller passed.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "request_id",
    "task_id",
    "task_name",
    "context",  # PlainFormatter's
    "request",  # django.request passes the HttpRequest: not serializable, not useful
    "status_code",
}


def request_id_make(header: str | None) -> str:
    """The caller's id when it is sane, else a new one."""
    if header and _SANE_ID.match(header):
        return header
    return uuid.uuid4().hex


def _task_context() -> tuple[str | None, str | None, str | None]:
    """(task id, task name, request id that enqueued it) of the Celery task running now."""
    task = current_task
    if not task:
        return None, None, None
    request = getattr(task, "request", None)
    if request is None or request.id is None:
        return None, None, None
    return request.id, task.name, getattr(request, REQUEST_ID_HEADER, None)


class ContextFilter(logging.Filter):
    """Adds `request_id`, `task_id` and `task_name` to every record (None when outside a
    request or a task). Attach it to handlers, so records from every logger get it."""

    def filter(self, record: logging.LogRecord) -> bool:
        task_id, task_name, task_request_id = _task_context()
        request_id = request_id_var.get() or task_request_id
        if request_id is None:
            # django.request logs 4xx/5xx after the middleware chain returned; it passes the
            # request along, which carries the id the middleware gave it.
            request = getattr(record, "request", None)
            request_id = getattr(request, "request_id", None)
        record.request_id = request_id
        record.task_id = task_id
        record.task_name = task_name
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (UTC, ISO 8601), level, logger, message,
    request_id, task_id, plus any `extra=` fields and the exception, if any."""

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):  # a handler without ContextFilter
            ContextFilter().filter(record)
        entry = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": record.request_id,
            "task_id": record.task_id,
        }
        if record.task_name:
            entry["task"] = record.task_name
        entry["pid"] = record.process
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """The development line, with the request or task id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            ContextFilter().filter(record)
        parts = []
        if record.request_id:
            parts.append(f"request={record.request_id}")
        if record.task_id:
            parts.append(f"task={record.task_id}")
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)


def logging_config(*, fmt: str, level: str) -> dict:
    """The LOGGING setting for `LOG_FORMAT` (json or plain) and `LOG_LEVEL`."""
    if fmt not in ("json", "plain"):
        raise ValueError(f"LOG_FORMAT must be 'json' or 'plain', not {fmt!r}.")
    formatter = "config.logging.JsonFormatter" if fmt == "json" else "config.logging.PlainFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "config.logging.ContextFilter"}},
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own handlers would print 5xx tracebacks a second time, unformatted.
            "django": {"handlers": ["console"], "level": level, "propagate": False},
        },
    }


@before_task_publish.connect
def _pass_request_id(headers=None, **kwargs) -> None:
    """Carry the current request id into the task's message, so the worker's log lines
    for that task name the request that caused them."""
    request_id = request_id_var.get()
    if request_id and headers is not None and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id


@setup_logging.connect
def _keep_django_logging(**kwargs) -> None:
    """A receiver here tells Celery not to replace the logging configuration: workers keep
    Django's LOGGING (JSON lines with task ids) instead of Celery's own format. The level
    comes from LOG_LEVEL, not from `celery worker -l`."""
