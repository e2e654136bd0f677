"""How the deployment is doing: `/healthz`, `/metrics`, worker heartbeats, and the page a
browser gets when the site cannot answer (handler500).

`/healthz` needs no authentication and shows no secrets (no URLs, host names or error
messages, only error class names). It answers 200 when PostgreSQL and Redis answer and 503
otherwise, so a load balancer takes a web process out of rotation while it cannot serve.
Workers and queues are reported but do not change the status code: a stopped worker delays
routing, it does not stop the API from taking posts.

Workers write a heartbeat into Redis every WORKER_HEARTBEAT_SECONDS from the worker's main
process (a Celery bootstep on the worker's timer, so a busy pool does not delay it); a worker
counts as alive while its last heartbeat is younger than three intervals. The worker loads
this module through CELERY_IMPORTS.
"""

import hmac
import logging
import sys
import time

from celery import bootsteps
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from config import metrics
from config.celery import app

logger = logging.getLogger(__name__)

ALIVE_INTERVALS = 3  # missed heartbeats before a worker counts as gone
FORGET_AFTER = 24 * 3600  # drop entries of workers gone this long


# --- worker heartbeats ------------------------------------------------------------------------


def _workers_key() -> str:
    return f"{settings.METRICS_KEY_PREFIX}:workers"


def heartbeat_write(hostname: str) -> None:
    try:
        metrics.store().hset(_workers_key(), hostname, f"{time.time():.3f}")
    except Exception as exc:  # Redis down: the worker goes on, /healthz will say so
        logger.warning("worker heartbeat not written: %s", exc)


def heartbeat_clear(hostname: str) -> None:
    try:
        metrics.store().hdel(_workers_key(), hostname)
    except Exception as exc:
        logger.warning("worker heartbeat not cleared: %s", exc)


def workers_seen(*, alive_only: bool = False) -> dict[str, float]:
    """Worker name -> seconds since its last heartbeat. Raises if Redis does not answer."""
    now = time.time()
    client = metrics.store()
    seen = {name.decode(): now - float(at) for name, at in client.hgetall(_workers_key()).items()}
    stale = [name for name, age in seen.items() if age > FORGET_AFTER]
    if stale:
        client.hdel(_workers_key(), *stale)
    limit = ALIVE_INTERVALS * settings.WORKER_HEARTBEAT_SECONDS
    return {
        name: age
        for name, age in seen.items()
        if age <= FORGET_AFTER and (not alive_only or age <= limit)
    }


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Writes this worker's heartbeat on start, every WORKER_HEARTBEAT_SECONDS, and removes
    it on a clean stop (a killed worker's entry simply ages out)."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker):
        heartbeat_write(worker.hostname)
        self.tref = worker.timer.call_repeatedly(
            settings.WORKER_HEARTBEAT_SECONDS, heartbeat_write, (worker.hostname,), priority=10
        )

    def stop(self, worker):
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        heartbeat_clear(worker.hostname)


app.steps["worker"].add(WorkerHeartbeat)


# --- /healthz ---------------------------------------------------------------------------------


def _timed(check) -> dict:
    started = time.perf_counter()
    try:
        extra = check() or {}
    except Exception as exc:
        logger.warning("health check %s failed: %s", check.__name__, exc)
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1), **extra}


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _redis() -> None:
    metrics.store().ping()


def _broker() -> dict:
    depths = metrics.queue_depths()
    if depths is None:
        return {"queues": None}
    return {"queues": depths, "unacked": metrics.unacked_messages()}


def health_report() -> tuple[int, dict]:
    database = _timed(_database)
    cache = _timed(_redis)
    broker = _timed(_broker)
    broker.pop("latency_ms", None)
    try:
        seen = workers_seen()
        limit = ALIVE_INTERVALS * settings.WORKER_HEARTBEAT_SECONDS
        alive = [age for age in seen.values() if age <= limit]
        workers = {
            "ok": bool(alive),
            "alive": len(alive),
            "last_seen_seconds": round(min(seen.values()), 1) if seen else None,
        }
    except Exception as exc:
        workers = {"ok": False, "error": type(exc).__name__}
    serving = database["ok"] and cache["ok"]
    if not serving:
        status = "unavailable"
    elif broker["ok"] and workers["ok"]:
        status = "ok"
    else:
        status = "degraded"  # posts are taken and stored; routing waits
    body = {
        "status": status,
        "database": database,
        "redis": cache,
        "broker": broker,
        "workers": workers,
        "checked_at": timezone.now().isoformat(timespec="seconds"),
    }
    return (200 if serving else 503), body


@never_cache
@require_safe
def healthz(request):
    status, body = health_report()
    return JsonResponse(body, status=status)


# --- /metrics ---------------------------------------------------------------------------------


@never_cache
@require_safe
def metrics_view(request):
    """Prometheus scrape target. With METRICS_TOKEN set, the scraper must send it as a
    bearer token. Without one, only METRICS_PUBLIC (on by default in development only)
    opens it: the counters reveal no data, but traffic volumes and error rates are not for
    anyone on the internet, so a production server that forgot the token stays closed."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return HttpResponse(
                "A bearer token is required.\n", status=401, content_type="text/plain"
            )
    elif not settings.METRICS_PUBLIC:
        return HttpResponse(
            "Metrics are closed: set METRICS_TOKEN (or METRICS_PUBLIC=true).\n",
            status=403,
            content_type="text/plain",
        )
    return HttpResponse(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")


# --- the answer when a page fails ---------------------------------------------------------------


def is_database_outage(exc: BaseException | None) -> bool:
    """True for errors that mean "the database cannot be reached", not "this query is wrong"."""
    return isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DatabaseError) and "connection" in str(exc).lower()
    )


# The last resort, when templates/500.html cannot be rendered.
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · Switchboard</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto">
<h1>{title}</h1><p>{detail}</p></body></html>
"""


def _error_page(title: str, detail: str) -> str:
    """templates/500.html, styled as the app's other error pages; the bare page if even
    that cannot be rendered (a missing static manifest, a broken template)."""
    from django.template.loader import render_to_string

    try:
        return render_to_string("500.html", {"title": title, "detail": detail})
    except Exception:  # the error page must not fail in its turn
        return _PAGE.format(title=title, detail=detail)


def server_error(request, *args, **kwargs):
    """handler500: called for any exception a view or middleware did not handle. A database
    outage is not a bug: it answers 503 with Retry-After, and the process recovers by itself
    when the database is back. API paths get problem details, browsers a short page; never a
    stack trace."""
    exc = sys.exception()
    if is_database_outage(exc):
        status, title = 503, "Service unavailable"
        detail = "The database is unavailable; retry shortly."
        kind, headers = "database-unavailable", {"Retry-After": "5"}
    else:
        status, title = 500, "Server error"
        detail = "Something went wrong on our side; it has been logged."
        kind, headers = "server-error", {}
    if request.path.startswith("/api/"):
        import json

        from config.api_errors import PROBLEM_BASE

        body = {"type": PROBLEM_BASE + kind, "title": title, "status": status, "detail": detail}
        response = HttpResponse(
            json.dumps(body), status=status, content_type="application/problem+json"
        )
    else:
        response = HttpResponse(_error_page(title, detail), status=status, content_type="text/html")
    for name, value in headers.items():
        response[name] = value
    return response
