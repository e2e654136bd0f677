"""Queue page and dashboard latency with a large store, through gunicorn.

    .venv/bin/python bench/pages.py [--database-url postgres://127.0.0.1:5432/switchboard_load]
                                    [--requests 100] [--seed-items 0]

Point it at a database seeded with `manage.py seed_load --items 1000000` (or pass
--seed-items to seed first). It refreshes the dashboard rollups, logs in as a manager of
support and product, warms up, then times sequential GETs and prints p50/p95/p99.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import CEILING_SETTINGS, gunicorn, percentile, processes  # noqa: E402

PORT = 8766
PASSWORD = "bench-password-123"  # noqa: S105 (a throwaway bench user)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="postgres://127.0.0.1:5432/switchboard_load")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument(
        "--seed-items",
        type=int,
        default=0,
        help="Seed until the store holds at least this many items.",
    )
    parser.add_argument("--json", type=Path, help="also write the timings here")
    parser.add_argument(
        "--no-rollups",
        action="store_true",
        help="Keep the store's rollups as they are (for runs after the first on a store).",
    )
    parser.add_argument(
        "--only",
        action="append",
        help="Time only this page (repeatable; the minimal page, the floor, always).",
    )
    args = parser.parse_args()
    timings = measure_pages(
        database_url=args.database_url,
        count=args.requests,
        seed_items=args.seed_items,
        rollups=not args.no_rollups,
        only=args.only,
    )
    if args.json:
        args.json.write_text(json.dumps(timings))
    print(f"{'page':<24}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for name, values in timings.items():
        print(
            f"{name:<24}{percentile(values, 50):>9.1f}"
            f"{percentile(values, 95):>9.1f}{percentile(values, 99):>9.1f}"
        )


def measure_pages(
    *,
    database_url: str,
    count: int,
    seed_items: int,
    rollups: bool = True,
    only: list[str] | None = None,
) -> dict[str, list[float]]:
    """Timings (ms) of sequential GETs per page, the bench-only minimal logged-in page first
    (the floor: the same gunicorn, middleware and session, no work)."""
    os.environ["BENCH_DATABASE_URL"] = database_url
    from bench.common import setup_django

    setup_django()
    from datetime import timedelta

    import requests
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from departments.models import Department, Membership
    from departments.rollups import rollups_refresh
    from feedback.models import FeedbackItem

    missing = seed_items - FeedbackItem.objects.count()
    if missing > 0:
        call_command("seed_load", items=missing)
    items = FeedbackItem.objects.count()
    if rollups:
        started = time.perf_counter()
        today = timezone.now().date()
        rollups_refresh(start=today - timedelta(days=120), end=today)
        print(
            f"store: {items:,} items; rollups rebuilt for 120 days in "
            f"{time.perf_counter() - started:.1f} s"
        )
    user, _ = get_user_model().objects.get_or_create(username="bench-manager")
    user.set_password(PASSWORD)
    user.save()
    for slug in ("support", "product"):
        Membership.objects.get_or_create(
            user=user, department=Department.objects.get(slug=slug), defaults={"role": "manager"}
        )
    base = f"http://127.0.0.1:{PORT}"
    with processes(gunicorn(PORT, settings=CEILING_SETTINGS), ready_url=f"{base}/login/"):
        session = requests.Session()
        session.get(f"{base}/login/")
        session.post(
            f"{base}/login/",
            data={
                "username": "bench-manager",
                "password": PASSWORD,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": base},
        )
        pages = [
            ("minimal page", "/bench/minimal-page/"),
            ("queue page", "/queue/support/"),
            ("queue page, search", "/queue/support/?q=refund"),
            ("queue page, filtered", "/queue/support/?priority=urgent&sla=overdue"),
            ("item page", None),
            ("dashboard overview", "/dashboards/"),
            ("department dashboard", "/dashboards/support/"),
        ]
        item_id = (
            FeedbackItem.objects.filter(state="routed")
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
        )
        if only:
            unknown = set(only) - {name for name, _ in pages}
            if unknown:
                raise SystemExit(f"--only: no page named {', '.join(sorted(unknown))}")
            pages = [(name, path) for name, path in pages if name == "minimal page" or name in only]
        timings: dict[str, list[float]] = {}
        for name, path in pages:
            path = path or f"/items/{item_id}/"
            for _ in range(5):
                session.get(base + path).raise_for_status()
            timings[name] = []
            for _ in range(count):
                t = time.perf_counter()
                response = session.get(base + path)
                timings[name].append((time.perf_counter() - t) * 1000)
                response.raise_for_status()
    return timings


if __name__ == "__main__":
    main()
