"""Throughput of `manage.py import_feedback` on a generated JSONL file.

    .venv/bin/python bench/import_feedback.py [--lines 100000] [--progress] [--keep]

Uses its own database (switchboard_bench) and Redis database 14. Writes --lines posts (with
authors, dates, languages and raw data, 1 in 1,000 lines deliberately bad) to a temporary
file, runs the command as a separate process, then runs it again on the same file (every
line a duplicate). Prints lines/s for both runs as the command reports them, and the wall
time including process start-up. Afterwards the imported rows and the routing messages the
import queued are removed (unless --keep), so the other benchmarks start clean.
"""

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import BENCH_REDIS, ROOT, bench_env, setup_django

SOURCE = "bench-import"
BODIES = [
    "The app crashes whenever I open my order history",
    "My parcel is a week late and support is not answering",
    "Do you have openings for delivery drivers in Leeds?",
    "Love the new recipes this week, great job team!",
    "Your promo code SAVE20 doesn't work at checkout",
    "Please add dark mode to the app",
    "Le livreur a laissé mon colis sous la pluie, tout est mouillé",
]


def write_file(path: Path, lines: int, run: str) -> int:
    rng = random.Random(42)
    bad = 0
    with path.open("w", encoding="utf-8") as handle:
        for i in range(lines):
            if i % 1000 == 999:  # a realistic sprinkling of broken lines
                handle.write('{"external_id": "broken", "body": \n' if i % 2 else "{}\n")
                bad += 1
                continue
            post = {
                "external_id": f"{run}-{i}",
                "body": f"{BODIES[i % len(BODIES)]} (#{i})",
                "author": {"handle": f"customer{rng.randrange(20_000)}", "followers": i % 5000},
                "posted_at": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:15:00Z",
                "language": "fr" if i % len(BODIES) == 6 else "en",
                "raw": {"channel": "archive", "rating": 1 + i % 5},
            }
            handle.write(json.dumps(post) + "\n")
    return bad


def import_once(path: Path, progress: bool) -> tuple[float, str]:
    command = [
        sys.executable,
        "manage.py",
        "import_feedback",
        str(path),
        "--source",
        SOURCE,
        "--backfill",
        "--progress" if progress else "--no-progress",
    ]
    started = time.perf_counter()
    # stdout is read for the summary; stderr (the progress bar) goes to the terminal.
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=bench_env(),
        stdout=subprocess.PIPE,
        stderr=None if progress else subprocess.PIPE,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"import failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    out = result.stdout or ""
    summary = next((line for line in out.splitlines() if "lines/s" in line), "")
    return wall, summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--progress", action="store_true", help="Show the command's bar.")
    parser.add_argument("--keep", action="store_true", help="Leave the imported rows.")
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    from feedback.models import Source

    source, _ = Source.objects.get_or_create(slug=SOURCE, defaults={"name": "Bench import"})
    run = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "posts.jsonl"
        bad = write_file(path, args.lines, run)
        size = path.stat().st_size / 1e6
        print(f"{args.lines} lines ({size:.1f} MB, {bad} bad) written to a temporary file")
        for label in ("first run (all new)", "second run (all duplicates)"):
            wall, summary = import_once(path, args.progress)
            rate = re.search(r"\(([\d,]+) lines/s\)", summary)
            print(f"{label}: {summary or '(see output above)'}")
            if rate:
                print(
                    f"    -> {rate.group(1)} lines/s in the command; {wall:.1f} s wall "
                    f"including process start-up"
                )

    if not args.keep:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM feedback_feedbackitem WHERE source_id = %s", [source.pk])
            cursor.execute("DELETE FROM feedback_author WHERE source_id = %s", [source.pk])
        import redis

        # The import queued routing for every new post; no worker runs here, so drop them
        # rather than leave the next benchmark's workers a backlog to chew through.
        redis.Redis.from_url(BENCH_REDIS).delete("routing")


if __name__ == "__main__":
    main()
