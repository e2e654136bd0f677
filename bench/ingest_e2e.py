"""Ingest through real gunicorn, each figure next to its ceiling measured in the same run.

    .venv/bin/python bench/ingest_e2e.py [--items 20000] [--batch 500] [--seconds 16]

Uses its own database (switchboard_bench) and Redis database 14, and no worker (so the
figures are the API's own). Prints:
- bulk ingest items/s: lists of --batch posted back to back, next to a raw `bulk_create`
  of the same rows in this process, in alternating halves so machine noise hits both;
- single-post ingest requests/s and p50/p99, next to a minimal DRF create endpoint served by
  the same gunicorn with the same settings (bench/ceiling_urls.py), alternating too.
"""

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import CEILING_SETTINGS, gunicorn, percentile, processes, setup_django
from bench.load import LoadResult, closed_loop

PORT = 8765
BODIES = [
    "The app crashes whenever I open my order history",
    "My parcel is a week late and support is not answering",
    "Do you have openings for delivery drivers in Leeds?",
    "Love the new recipes this week, great job team!",
    "Your promo code SAVE20 doesn't work at checkout",
    "Please add dark mode to the app",
    "WIN a free phone, click here now",
]
INGEST_PATH = "/api/v1/feedback/"
MINIMAL_PATH = "/bench/minimal-create/"
SINGLE_CLIENTS = 4  # two gunicorn workers, each with one request waiting behind it
ROUNDS = 2


def payload(i: int, run: str) -> dict:
    return {
        "external_id": f"{run}-{i}",
        "body": f"{BODIES[i % len(BODIES)]} #{i}",
        "author": {"handle": f"user{i % 500}", "followers": i % 5000},
    }


def payloads(n: int, run: str) -> list[dict]:
    return [payload(i, run) for i in range(n)]


def bench_reset():
    """An empty bench database with the shipped classifier, a source and an API key."""
    from django.core.management import call_command

    from feedback.models import Source
    from feedback.services import apikey_create
    from routing.classification import classifier_install_default

    call_command("flush", "--noinput", verbosity=0)
    call_command("migrate", "departments", "zero", "--noinput", verbosity=0)
    call_command("migrate", "--noinput", verbosity=0)
    classifier_install_default()
    source = Source.objects.create(slug="bench", name="Bench", kind="other")
    _, key = apikey_create(name="bench", source=source, scopes=["ingest", "read"])
    return source, key


def headers(key: str) -> dict:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def post_all(session, url: str, key: str, items: list[dict], batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(items), batch):
        response = session.post(url, data=json.dumps(items[i : i + batch]), headers=headers(key))
        response.raise_for_status()
    return time.perf_counter() - started


def bulk_create_rows(*, source, items: list[dict], batch: int) -> float:
    """The ceiling: the same rows written by a plain `bulk_create`, one list per transaction,
    authors already resolved (the API upserts them on every list)."""
    from django.db import transaction

    from feedback.models import Author, FeedbackItem

    authors = dict(Author.objects.filter(source=source).values_list("handle", "pk"))
    started = time.perf_counter()
    for i in range(0, len(items), batch):
        rows = [
            FeedbackItem(
                source=source,
                external_id=entry["external_id"],
                body=entry["body"],
                author_id=authors.get(entry["author"]["handle"]),
            )
            for entry in items[i : i + batch]
        ]
        with transaction.atomic():
            FeedbackItem.objects.bulk_create(rows)
    return time.perf_counter() - started


def bulk_ingest(*, source, key: str, items: int, batch: int) -> tuple[float, float]:
    """(API items/s, bulk_create items/s). Needs gunicorn on PORT. The rows bulk_create
    wrote are deleted; the API's stay `received` (a backlog for the drain figure)."""
    import requests

    from feedback.models import FeedbackItem

    run = uuid.uuid4().hex[:6]
    session = requests.Session()
    url = f"http://127.0.0.1:{PORT}{INGEST_PATH}"
    post_all(session, url, key, payloads(batch, f"warm{run}"), batch)  # authors exist now
    FeedbackItem.objects.filter(external_id__startswith=f"warm{run}-").delete()
    api_seconds = ceiling_seconds = 0.0
    half = items // ROUNDS
    for r in range(ROUNDS):
        api_seconds += post_all(session, url, key, payloads(half, f"api{r}{run}"), batch)
        ceiling_seconds += bulk_create_rows(
            source=source, items=payloads(half, f"raw{r}{run}"), batch=batch
        )
    FeedbackItem.objects.filter(external_id__startswith="raw").delete()
    total = half * ROUNDS
    return total / api_seconds, total / ceiling_seconds


def single_ingest(*, source, key: str, seconds: float) -> tuple[LoadResult, LoadResult]:
    """(product endpoint, minimal endpoint): one post per request from SINGLE_CLIENTS
    back-to-back clients, alternating rounds. Needs gunicorn with the ceiling settings."""
    product = minimal = LoadResult(seconds=0.0)
    common = {"port": PORT, "headers": headers(key), "clients": SINGLE_CLIENTS}
    for _ in range(ROUNDS):
        run = uuid.uuid4().hex[:8]  # every post new: a duplicate takes a cheaper path

        def product_body(n: int, run: str = run) -> bytes:
            return json.dumps(payload(n, f"one{run}")).encode()

        def minimal_body(n: int, run: str = run) -> bytes:
            return json.dumps({"source": source.pk, **payload(n, f"min{run}")}).encode()

        minimal = minimal.merge(
            closed_loop(
                path=MINIMAL_PATH, body=minimal_body, seconds=seconds / ROUNDS / 2, **common
            )
        )
        product = product.merge(
            closed_loop(path=INGEST_PATH, body=product_body, seconds=seconds / ROUNDS / 2, **common)
        )
    if product.errors or minimal.errors:
        raise RuntimeError(f"errors: product {product.errors}, minimal {minimal.errors}")
    return product, minimal


def routing_queue_purge() -> None:
    """Drop queued routing tasks (left by ingest with no worker running)."""
    from config.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge("routing")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=16, help="single-post load, in all")
    args = parser.parse_args()
    setup_django()
    source, key = bench_reset()
    ready = f"http://127.0.0.1:{PORT}/healthz"
    with processes(gunicorn(PORT, settings=CEILING_SETTINGS), ready_url=ready):
        api, raw = bulk_ingest(source=source, key=key, items=args.items, batch=args.batch)
        print(
            f"bulk ingest ({args.items} items in lists of {args.batch}): {api:,.0f} items/s; "
            f"raw bulk_create of the same rows {raw:,.0f} items/s ({api / raw:.0%})"
        )
        product, minimal = single_ingest(source=source, key=key, seconds=args.seconds)
        for name, result in (("single ingest", product), ("minimal DRF create", minimal)):
            print(
                f"{name}: {result.rate:,.0f} requests/s, p50 "
                f"{percentile(result.latencies_ms, 50):.1f} ms, p99 "
                f"{percentile(result.latencies_ms, 99):.1f} ms ({SINGLE_CLIENTS} clients)"
            )
    routing_queue_purge()


if __name__ == "__main__":
    main()
