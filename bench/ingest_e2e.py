"""Bulk ingest throughput and POST-to-routed time, through real gunicorn and Celery.

    .venv/bin/python bench/ingest_e2e.py [--items 20000] [--batch 500] [--routed 1000]

Uses its own database (switchboard_bench) and Redis database 14. Prints:
- bulk ingest items/s: lists of --batch posted back to back (worker stopped, so the figure
  is the API's own);
- seconds from the first POST of --routed items (in lists of 500) until every one of them
  is routed, with 2 worker processes running.
"""

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import celery_worker, gunicorn, processes, setup_django

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


def payloads(n: int, run: str) -> list[dict]:
    return [
        {
            "external_id": f"{run}-{i}",
            "body": f"{BODIES[i % len(BODIES)]} #{i}",
            "author": {"handle": f"user{i % 500}", "followers": i % 5000},
        }
        for i in range(n)
    ]


def post_all(session, url: str, key: str, items: list[dict], batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(items), batch):
        response = session.post(
            url,
            data=json.dumps(items[i : i + batch]),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            timeout=60,
        )
        response.raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--routed", type=int, default=1_000)
    args = parser.parse_args()
    setup_django()
    import requests
    from django.core.management import call_command

    from feedback.models import FeedbackItem, Source
    from feedback.services import apikey_create
    from routing.classification import classifier_install_default

    call_command("flush", "--noinput", verbosity=0)
    call_command("migrate", "departments", "zero", "--noinput", verbosity=0)
    call_command("migrate", "--noinput", verbosity=0)
    classifier_install_default()
    source = Source.objects.create(slug="bench", name="Bench", kind="other")
    _, key = apikey_create(name="bench", source=source, scopes=["ingest", "read"])
    url = f"http://127.0.0.1:{PORT}/api/v1/feedback/"
    session = requests.Session()
    run = uuid.uuid4().hex[:6]

    with processes(gunicorn(PORT), ready_url=url):
        post_all(session, url, key, payloads(args.batch, f"warm{run}"), args.batch)
        seconds = post_all(session, url, key, payloads(args.items, run), args.batch)
        print(
            f"bulk ingest: {args.items} items in lists of {args.batch}: {seconds:.2f} s, "
            f"{args.items / seconds:,.0f} items/s (gunicorn, 2 workers, 1 client)"
        )
        FeedbackItem.objects.update(state="routed")  # out of the way of the next figure

        with processes(celery_worker(2), log="/tmp/sb-bench-worker"):
            time.sleep(4)  # worker start-up
            items = payloads(args.routed, f"lat{run}")
            started = time.perf_counter()
            post_all(session, url, key, items, 500)
            posted = time.perf_counter() - started
            pending = FeedbackItem.objects.filter(
                external_id__startswith=f"lat{run}-", state="received"
            )
            while pending.exists():
                time.sleep(0.05)
                if time.perf_counter() - started > 120:
                    break
            total = time.perf_counter() - started
            print(
                f"POST to routed: {args.routed} items posted in {posted:.2f} s, all routed "
                f"{total:.2f} s after the first POST (2 worker processes)"
            )


if __name__ == "__main__":
    main()
