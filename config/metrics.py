"""Prometheus metrics, kept in Redis so that every process counts into the same numbers.

Why Redis rather than an in-process registry: gunicorn runs several worker processes and
Celery several pool processes, usually on several machines. An in-process counter would make
each scrape see one process's share, and prometheus_client's multiprocess mode only adds up
processes that share one directory on one machine. Redis is already shared by every process
(cache and broker), a counter is one `HINCRBY` (tens of microseconds), and `GET /metrics` on
any web process shows the whole deployment. Counters reset only when Redis loses its data
(a restart without persistence), which Prometheus's `rate()` treats as a counter reset.

Metrics are never a reason for a request or a task to fail or slow down: every write uses
short socket timeouts, swallows errors, and after a failure the process stops trying for
`_BACKOFF_SECONDS` (a down Redis would otherwise cost a connect timeout per request).

What is counted (see `METRICS` for names and help texts):

- ingest: posts by outcome (created, duplicate, rejected), counted in `feedback_ingest`;
- routing: seconds from `received_at` to `routed_at` (histogram, observed in `items_route`
  after the batch commits), items marked failed, Celery task failures and retries;
- HTTP: responses by status class, so 5xx ratios can be alerted on;
- gauges read at scrape time: broker queue depth per queue (`LLEN`), unacknowledged
  messages, live workers (heartbeats, see `config.health`), items waiting for routing and
  items in `failed` (PostgreSQL, both served by small partial or state indexes).
"""

import contextlib
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
from celery.signals import task_failure, task_retry
from django.conf import settings

logger = logging.getLogger(__name__)

QUEUES = ("routing", "webhooks", "maintenance")
# kombu's Redis transport keeps a queue's messages in one list per priority step.
_KOMBU_PRIORITY_SEP = "\x06\x16"
_KOMBU_PRIORITY_STEPS = (3, 6, 9)

# From a fast batch (well under a second) to a backlog after an outage (an hour).
ROUTING_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)

_BACKOFF_SECONDS = 10.0
_SOCKET_TIMEOUT = 0.5


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # counter, histogram, gauge
    help: str
    # label name -> values always shown (as 0 before anything was counted)
    known: tuple[tuple[str, tuple[str, ...]], ...] = ()


INGESTED = Metric(
    "switchboard_items_ingested_total",
    "counter",
    "Posts handled by ingest, by outcome.",
    (("status", ("created", "duplicate", "rejected")),),
)
ROUTING_LATENCY = Metric(
    "switchboard_routing_latency_seconds",
    "histogram",
    "Seconds from an item's received_at to its routed_at.",
)
ROUTED = Metric(
    "switchboard_items_routed_total",
    "counter",
    "Items routing decided, by resulting state.",
    (("state", ("routed", "triage", "noise")),),
)
ROUTING_FAILURES = Metric(
    "switchboard_routing_failures_total",
    "counter",
    "Items marked failed by routing (a person must look at them).",
)
TASK_FAILURES = Metric(
    "switchboard_task_failures_total",
    "counter",
    "Celery tasks that failed for good (after their retries), by task.",
)
TASK_RETRIES = Metric("switchboard_task_retries_total", "counter", "Celery task retries, by task.")
HTTP_RESPONSES = Metric(
    "switchboard_http_responses_total",
    "counter",
    "HTTP responses, by status class.",
    (("status_class", ("2xx", "3xx", "4xx", "5xx")),),
)
METRICS = (
    INGESTED,
    ROUTED,
    ROUTING_LATENCY,
    ROUTING_FAILURES,
    TASK_FAILURES,
    TASK_RETRIES,
    HTTP_RESPONSES,
)


# --- Redis access ---------------------------------------------------------------------------

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()
_down_until = 0.0


def redis_client(url: str) -> redis.Redis:
    """A client with short timeouts, one per URL and process (redis-py's pool notices a
    fork and reconnects in the child)."""
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=_SOCKET_TIMEOUT,
                socket_timeout=_SOCKET_TIMEOUT,
                health_check_interval=30,
            )
            _clients[url] = client
        return client


def store() -> redis.Redis:
    return redis_client(settings.REDIS_URL)


def _key(name: str) -> str:
    return f"{settings.METRICS_KEY_PREFIX}:metrics:{name}"


def _write(commands) -> None:
    """Run `commands(pipeline)` against the metrics store, best effort."""
    global _down_until
    if time.monotonic() < _down_until:
        return
    try:
        pipe = store().pipeline(transaction=False)
        commands(pipe)
        pipe.execute()
    except Exception as exc:
        _down_until = time.monotonic() + _BACKOFF_SECONDS
        logger.warning(
            "metrics store unavailable (%s); not counting for %ss", exc, _BACKOFF_SECONDS
        )


def _labels(labels: Mapping[str, str]) -> str:
    def escape(value: str) -> str:
        return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return ",".join(f'{k}="{escape(v)}"' for k, v in sorted(labels.items()))


def counter_add(metric: Metric, amounts: Mapping[tuple[tuple[str, str], ...], int]) -> None:
    """Add to a counter; `amounts` maps label tuples (`(("status", "created"),)`) to amounts."""
    amounts = {labels: n for labels, n in amounts.items() if n}
    if not amounts:
        return

    def commands(pipe):
        for labels, n in amounts.items():
            pipe.hincrby(_key(metric.name), _labels(dict(labels)), int(n))

    _write(commands)


def counter_inc(metric: Metric, amount: int = 1, **labels: str) -> None:
    counter_add(metric, {tuple(sorted(labels.items())): amount})


def histogram_observe(
    metric: Metric, values: Iterable[float], buckets: tuple[float, ...] = ROUTING_LATENCY_BUCKETS
) -> None:
    """Observe many values in one round trip. Buckets are stored non-cumulative (one field
    per bucket) and summed up when rendered."""
    per_bucket: Counter[str] = Counter()
    total, count = 0.0, 0
    for value in values:
        value = max(0.0, float(value))
        le = next((b for b in buckets if value <= b), math.inf)
        per_bucket[_num(le)] += 1
        total += value
        count += 1
    if not count:
        return

    def commands(pipe):
        key = _key(metric.name)
        for le, n in per_bucket.items():
            pipe.hincrby(key, f"bucket:{le}", n)
        pipe.hincrbyfloat(key, "sum", total)
        pipe.hincrby(key, "count", count)

    _write(commands)


# --- what the application records ---------------------------------------------------------


def ingest_record(statuses: Iterable[str]) -> None:
    counts = Counter(statuses)
    counter_add(INGESTED, {(("status", s),): n for s, n in counts.items()})


def routing_record(*, counts: Mapping[str, int], latencies: Iterable[float], failed: int) -> None:
    counter_add(ROUTED, {(("state", s),): n for s, n in counts.items()})
    histogram_observe(ROUTING_LATENCY, latencies)
    if failed:
        counter_inc(ROUTING_FAILURES, failed)


def http_response_record(status_code: int) -> None:
    counter_inc(HTTP_RESPONSES, status_class=f"{status_code // 100}xx")


@task_failure.connect
def _task_failed(sender=None, **kwargs) -> None:
    counter_inc(TASK_FAILURES, task=getattr(sender, "name", str(sender)))


@task_retry.connect
def _task_retried(sender=None, **kwargs) -> None:
    counter_inc(TASK_RETRIES, task=getattr(sender, "name", str(sender)))


# --- reading ----------------------------------------------------------------------------------


def queue_depths() -> dict[str, int] | None:
    """Messages waiting per queue on the Redis broker (None for another kind of broker).
    Raises if the broker does not answer."""
    url = settings.CELERY_BROKER_URL
    if urlsplit(url).scheme not in ("redis", "rediss"):
        return None
    client = redis_client(url)
    pipe = client.pipeline(transaction=False)
    for queue in QUEUES:
        pipe.llen(queue)
        for step in _KOMBU_PRIORITY_STEPS:
            pipe.llen(f"{queue}{_KOMBU_PRIORITY_SEP}{step}")
    lengths = pipe.execute()
    per_queue = len(_KOMBU_PRIORITY_STEPS) + 1
    return {
        queue: sum(lengths[i * per_queue : (i + 1) * per_queue]) for i, queue in enumerate(QUEUES)
    }


def unacked_messages() -> int | None:
    """Messages a worker has taken but not yet acknowledged (running, or lost with a dead
    worker until the visibility timeout puts them back)."""
    url = settings.CELERY_BROKER_URL
    if urlsplit(url).scheme not in ("redis", "rediss"):
        return None
    return int(redis_client(url).hlen("unacked"))


def _num(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _render_metric(metric: Metric, data: dict[bytes, bytes], lines: list[str]) -> None:
    lines.append(f"# HELP {metric.name} {metric.help}")
    lines.append(f"# TYPE {metric.name} {metric.kind}")
    fields = {k.decode(): v.decode() for k, v in data.items()}
    if metric.kind == "histogram":
        cumulative = 0
        for le in (*ROUTING_LATENCY_BUCKETS, math.inf):
            cumulative += int(fields.get(f"bucket:{_num(le)}", 0))
            lines.append(f'{metric.name}_bucket{{le="{_num(le)}"}} {cumulative}')
        lines.append(f"{metric.name}_sum {_num(float(fields.get('sum', 0)))}")
        lines.append(f"{metric.name}_count {int(fields.get('count', 0))}")
        return
    for name, values in metric.known:
        for value in values:
            fields.setdefault(_labels({name: value}), "0")
    if not fields and not metric.known:
        lines.append(f"{metric.name} 0")
    for labels in sorted(fields):
        label_part = f"{{{labels}}}" if labels else ""
        lines.append(f"{metric.name}{label_part} {_num(float(fields[labels]))}")


def _gauge(lines: list[str], name: str, help_text: str, samples: dict[str, float | None]) -> None:
    samples = {k: v for k, v in samples.items() if v is not None}
    if not samples:
        return
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} gauge")
    for labels, value in samples.items():
        lines.append(f"{name}{labels} {_num(value)}")


def _items_gauges() -> dict[str, int]:
    from django.utils import timezone

    from feedback.models import FeedbackItem

    # Operators' totals (behind the metrics token), counts only: a system read.
    waiting = (
        FeedbackItem.objects.unscoped()
        .filter(
            state=FeedbackItem.State.RECEIVED,
            received_at__lt=timezone.now() - settings.ROUTING_SWEEP_AFTER,
        )
        .count()
    )
    failed = FeedbackItem.objects.unscoped().filter(state=FeedbackItem.State.FAILED).count()
    return {"waiting": waiting, "failed": failed}


def render() -> str:
    """Every metric in Prometheus's text exposition format (version 0.0.4)."""
    from config.health import workers_seen  # health reads metrics' helpers too

    lines: list[str] = []
    store_up = 1
    try:
        pipe = store().pipeline(transaction=False)
        for metric in METRICS:
            pipe.hgetall(_key(metric.name))
        stored = pipe.execute()
    except Exception:
        logger.warning("metrics store unavailable while rendering", exc_info=True)
        store_up, stored = 0, [{} for _ in METRICS]
    for metric, data in zip(METRICS, stored, strict=True):
        _render_metric(metric, data, lines)

    _gauge(
        lines, "switchboard_metrics_store_up", "1 if Redis answered this scrape.", {"": store_up}
    )
    depths: dict[str, int] | None = None
    unacked = None
    with contextlib.suppress(Exception):
        depths = queue_depths()
        unacked = unacked_messages()
    _gauge(
        lines,
        "switchboard_queue_depth",
        "Messages waiting on the broker, by queue.",
        {f'{{queue="{q}"}}': n for q, n in (depths or {}).items()},
    )
    _gauge(
        lines,
        "switchboard_queue_unacked",
        "Messages taken by a worker and not yet acknowledged.",
        {"": unacked},
    )
    alive = None
    with contextlib.suppress(Exception):
        alive = len(workers_seen(alive_only=True))
    _gauge(
        lines, "switchboard_workers_alive", "Celery workers with a recent heartbeat.", {"": alive}
    )
    items: dict[str, int] = {}
    try:
        items = _items_gauges()
    except Exception:
        logger.warning("database unavailable while rendering metrics", exc_info=True)
    _gauge(
        lines,
        "switchboard_items_waiting",
        "Items still received after ROUTING_SWEEP_AFTER (routing is behind or stuck).",
        {"": items.get("waiting")},
    )
    _gauge(
        lines,
        "switchboard_items_failed",
        "Items in the failed state (routing raised for them).",
        {"": items.get("failed")},
    )
    return "\n".join(lines) + "\n"


def metrics_reset() -> None:
    """Forget every counter (tests; or after a deliberate reset)."""
    global _down_until
    _down_until = 0.0
    with contextlib.suppress(Exception):
        store().delete(*[_key(m.name) for m in METRICS])
