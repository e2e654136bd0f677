"""Routing under load, through real gunicorn and Celery, each figure next to its ceiling.

    .venv/bin/python bench/routing_load.py [--backlog 50000] [--rate 200] [--seconds 60]

Uses its own database (switchboard_bench) and Redis database 14. Prints:
- backlog drain: --backlog received items (ingested through the API with no worker), then
  routed by 1 and by 2 worker processes; next to the classifier alone in as many processes
  (routing can never be faster than classifying);
- POST-to-routed latency: single posts at --rate per second for --seconds, each timed from
  when it was due until a poller (every 50 ms) sees it routed; next to a no-op Celery task
  sent at the same rate through the same broker and worker;
- resident memory of the web and worker processes after that load.
"""

import argparse
import json
import multiprocessing
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import (
    CEILING_SETTINGS,
    ROOT,
    celery_worker,
    gunicorn,
    percentile,
    processes,
    rss_mb_by_process,
    setup_django,
)
from bench.ingest_e2e import (
    BODIES,
    INGEST_PATH,
    PORT,
    bench_reset,
    bulk_ingest,
    headers,
    payload,
    routing_queue_purge,
    single_ingest,
)
from bench.load import open_loop

POLL_SECONDS = 0.05
STEADY_CLIENTS = 8  # enough that a slow answer does not hold up the next post
# Integrations that stream social posts send small lists. Single posts at 200/s make 200
# one-item routing tasks a second, each paying the ~30 ms fixed cost of a batch.
PER_REQUEST = 10


@dataclass
class Drain:
    workers: int
    items: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.items / self.seconds


def _worker_ready(timeout: float = 60) -> None:
    from config.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.control.ping(timeout=1.0):
            time.sleep(2)  # the pool's processes load the models after the ping answers
            return
    raise RuntimeError("the Celery worker did not start")


def backlog_reset() -> list[int]:
    """Make every item `received` again with no cases or events: the same backlog twice."""
    from django.db import connection

    from feedback.models import FeedbackItem

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM departments_caseevent")
        cursor.execute("DELETE FROM departments_case")
        cursor.execute(
            "UPDATE feedback_feedbackitem SET state = 'received', routed_at = NULL, "
            "routing_attempts = 0, scores = '{}'::jsonb"
        )
        for table in ("departments_caseevent", "departments_case", "feedback_feedbackitem"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return list(FeedbackItem.objects.order_by("pk").values_list("pk", flat=True))


def drain(*, workers: int, timeout: float = 600) -> tuple[Drain, list[float]]:
    """Route the whole backlog with a worker of `workers` processes, started and warm before
    the first task is sent. Returns the drain and the worker's memory by process (MB)."""
    from feedback.models import FeedbackItem
    from routing.dispatch import routing_enqueue

    ids = backlog_reset()
    routing_queue_purge()
    with processes(celery_worker(workers), log="/tmp/sb-bench-worker") as (worker,):
        _worker_ready()
        started = time.perf_counter()
        routing_enqueue(ids)
        pending = FeedbackItem.objects.filter(state=FeedbackItem.State.RECEIVED)
        while pending.exists() and time.perf_counter() - started < timeout:
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        memory = rss_mb_by_process(worker.pid)
    left = pending.count()
    if left:
        raise RuntimeError(f"{left} items still received after {timeout} s")
    return Drain(workers=workers, items=len(ids), seconds=seconds), memory


def _classify_for(seconds: float) -> float:
    """Items/s of the active classifier alone, in batches of 200 like routing."""
    from routing.classifier import DepartmentModel

    # The artifact bench_reset installs as the active version.
    model = DepartmentModel.load(ROOT / "routing/artifacts/default.npz")
    texts = [f"{BODIES[i % len(BODIES)]} #{i}" for i in range(200)]
    model.predict_proba(texts)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        model.predict_proba(texts)
        done += len(texts)
    return done / (time.perf_counter() - started)


def _hash_for(seconds: float) -> float:
    """Items/s of scikit-learn's hashing vectorizers alone (word 1-2-grams and char 2-5-grams
    into 2**18 buckets each, as the model's features), on the same texts."""
    from sklearn.feature_extraction.text import HashingVectorizer

    word = HashingVectorizer(ngram_range=(1, 2), n_features=2**18, alternate_sign=False)
    char = HashingVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), n_features=2**18, alternate_sign=False
    )
    texts = [f"{BODIES[i % len(BODIES)]} #{i}" for i in range(200)]
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        word.transform(texts)
        char.transform(texts)
        done += len(texts)
    return done / (time.perf_counter() - started)


def rate_in_processes(target, *, processes_: int, seconds: float = 6.0) -> float:
    """`target(seconds)` in `processes_` fresh processes at once; their rates summed."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes_) as pool:
        return sum(pool.map(target, [seconds] * processes_))


def django_floor_mb() -> float:
    """Resident memory of a fresh process that has only set Django up: the platform's
    floor for a web or worker process."""
    import subprocess

    from bench.common import bench_env

    code = (
        "import django, pathlib; django.setup(); "
        "print(next(l.split()[1] for l in pathlib.Path('/proc/self/status').read_text()"
        ".splitlines() if l.startswith('VmRSS:')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=bench_env(), capture_output=True, check=True
    )
    return int(out.stdout) / 1024


def noop_latency(*, rate: float, seconds: float) -> list[float]:
    """A no-op task at `rate` per second through the broker to the running worker; its
    enqueue-to-run times in ms (the worker records them in Redis)."""
    import redis
    from django.conf import settings

    from bench.ceiling_tasks import RESULT_KEY, noop

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(RESULT_KEY)
    count = int(rate * seconds)
    start = time.perf_counter()
    for n in range(count):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        noop.apply_async(args=[time.time()], queue="routing")
    deadline = time.monotonic() + 30
    while client.llen(RESULT_KEY) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return [float(v) * 1000 for v in client.lrange(RESULT_KEY, 0, -1)]


def steady_latency(
    *, source, key: str, rate: float, seconds: float, per_request: int
) -> tuple[list[float], int]:
    """`rate` posts/s in lists of `per_request`; ms from each post's due time until a poller
    sees it decided (routed, triage or noise). Returns the latencies and how many were never
    seen."""
    from django.db import connection

    from feedback.models import FeedbackItem

    run = uuid.uuid4().hex[:8]
    requests_per_second = rate / per_request
    count = int(requests_per_second * seconds)  # requests
    posts = count * per_request
    posted: set[str] = set()  # posted and not yet seen decided: what the poller asks about
    seen: dict[str, float] = {}
    lock = threading.Lock()
    stop_at = [float("inf")]

    def body(n: int) -> bytes:
        entries = [payload(i, run) for i in range(n * per_request, (n + 1) * per_request)]
        with lock:
            posted.update(entry["external_id"] for entry in entries)
        return json.dumps(entries if per_request > 1 else entries[0]).encode()

    def poll() -> None:
        while len(seen) < posts and time.time() < stop_at[0]:
            with lock:
                waiting = list(posted)
            now = time.time()
            decided = (
                FeedbackItem.objects.filter(source=source, external_id__in=waiting)
                .exclude(state=FeedbackItem.State.RECEIVED)
                .values_list("external_id", flat=True)
            )
            with lock:
                for external_id in decided:
                    seen[external_id] = now
                    posted.discard(external_id)
            time.sleep(POLL_SECONDS)
        connection.close()

    poller = threading.Thread(target=poll)
    poller.start()
    start_wall, result = open_loop(
        port=PORT,
        path=INGEST_PATH,
        headers=headers(key),
        body=body,
        rate=requests_per_second,
        count=count,
        clients=STEADY_CLIENTS,
    )
    stop_at[0] = time.time() + 60  # what is not routed a minute after the last post is lost
    poller.join()
    if result.errors:
        raise RuntimeError(f"{result.errors} posts failed")
    latencies = [
        (seen[f"{run}-{i}"] - (start_wall + i // per_request / requests_per_second)) * 1000
        for i in range(posts)
        if f"{run}-{i}" in seen
    ]
    return latencies, posts - len(latencies)


def measure(
    *,
    backlog: int,
    rate: float,
    seconds: float,
    per_request: int,
    single_seconds: float = 20,
    batch: int = 500,
) -> dict:
    """Everything this module measures, in one run (setup_django first)."""
    from feedback.models import FeedbackItem

    source, key = bench_reset()
    classify = {n: rate_in_processes(_classify_for, processes_=n) for n in (1, 2)}
    hashing = rate_in_processes(_hash_for, processes_=1)
    ready = f"http://127.0.0.1:{PORT}/healthz"
    with processes(gunicorn(PORT, settings=CEILING_SETTINGS), ready_url=ready) as (web,):
        single, minimal = single_ingest(source=source, key=key, seconds=single_seconds)
        FeedbackItem.objects.all().delete()  # not part of the backlog
        routing_queue_purge()
        # The backlog goes in through the API, so its bulk-ingest figure comes for free.
        bulk = bulk_ingest(source=source, key=key, items=backlog, batch=batch)
        drains, worker_rss = [], []
        for workers in (1, 2):
            result, worker_rss = drain(workers=workers)
            drains.append(result)
        FeedbackItem.objects.all().delete()  # a small table again for the steady load
        routing_queue_purge()
        command = celery_worker(2, include="bench.ceiling_tasks")
        with processes(command, log="/tmp/sb-bench-worker"):
            _worker_ready()
            noop_ms = noop_latency(rate=rate / per_request, seconds=min(seconds, 10))
            steady_ms, missing = steady_latency(
                source=source, key=key, rate=rate, seconds=seconds, per_request=per_request
            )
        web_rss = rss_mb_by_process(web.pid)
    return {
        "bulk": {"api": bulk[0], "bulk_create": bulk[1]},
        "single": {"rate": single.rate, "ms": single.latencies_ms},
        "minimal": {"rate": minimal.rate, "ms": minimal.latencies_ms},
        "drains": [asdict(d) for d in drains],
        "classify": classify,
        "hashing": hashing,
        "steady": {"ms": steady_ms, "missing": missing, "per_request": per_request},
        "noop_ms": noop_ms,
        "rss": {"web": web_rss, "worker": worker_rss, "floor": django_floor_mb()},
    }


def _ms(values: list[float]) -> str:
    return "/".join(f"{percentile(values, p):.0f}" for p in (50, 95, 99)) + " ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--per-request", type=int, default=PER_REQUEST)
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    args = parser.parse_args()
    setup_django()
    figures = measure(
        backlog=args.backlog, rate=args.rate, seconds=args.seconds, per_request=args.per_request
    )
    if args.json:
        args.json.write_text(json.dumps(figures))
    for d in figures["drains"]:
        ceiling = figures["classify"][d["workers"]]
        print(
            f"drain of {d['items']:,} items, {d['workers']} worker process(es): "
            f"{d['items'] / d['seconds']:,.0f} items/s; classifier alone {ceiling:,.0f} items/s"
        )
    print(
        f"POST to routed at {args.rate:.0f}/s (lists of {args.per_request}) for "
        f"{args.seconds:.0f} s, p50/p95/p99: {_ms(figures['steady']['ms'])} "
        f"({figures['steady']['missing']} not seen routed); no-op task {_ms(figures['noop_ms'])}"
    )
    rss = figures["rss"]
    print(f"memory MB: web {rss['web']}, worker {rss['worker']}, django.setup() {rss['floor']:.0f}")


if __name__ == "__main__":
    main()
