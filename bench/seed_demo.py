"""How long `manage.py seed_demo` takes on this machine, and what it makes.

    .venv/bin/python bench/seed_demo.py [--database-url postgres://127.0.0.1:5432/sb_seed_bench]
                                        [--days 90] [--per-day 32] [--keep]

Drops and recreates the bench database, migrates and installs the shipped classifier (not
timed), then times the seed, the way `make run` starts it (DEBUG on), and a second run
(which must create nothing). Prints the seconds, the load average when it started (the
machine is shared: a busy one is slower), and the counts of posts, cases, events and the
rest. Not a test: the figure depends on the machine.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
COUNTS = """
import json
from django.db.models import Count
from departments.models import Case, CaseEvent, DailyRollup, Note, Spike
from feedback.models import FeedbackItem
from routing.models import RoutingLabel
print(json.dumps({
    "posts": FeedbackItem.objects.count(),
    "states": dict(FeedbackItem.objects.values_list("state").annotate(n=Count("pk"))),
    "cases": Case.objects.unscoped().count(),
    "open cases": dict(Case.objects.unscoped().filter(status__in=Case.OPEN_STATUSES)
                        .values_list("department__slug").annotate(n=Count("pk"))),
    "events": CaseEvent.objects.unscoped().count(),
    "notes": Note.objects.unscoped().count(),
    "labels": RoutingLabel.objects.count(),
    "rollup rows": DailyRollup.objects.count(),
    "spikes": sorted({f"{s.dimension} {s.key}" for s in Spike.objects.unscoped()}),
}))
"""


def _manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgres://127.0.0.1:5432/sb_seed_bench")
    parser.add_argument("--days", default="90")
    parser.add_argument("--per-day", default="32")
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    args = parser.parse_args()
    url = urlsplit(args.database_url)
    name = url.path.lstrip("/")
    admin_url = urlunsplit(url._replace(path="/postgres"))
    env = {**os.environ, "DATABASE_URL": args.database_url, "DEBUG": "true",
           "LOG_LEVEL": "WARNING"}  # fmt: skip
    subprocess.run(["psql", admin_url, "-qc", f'DROP DATABASE IF EXISTS "{name}"'], check=True)
    subprocess.run(["psql", admin_url, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    _manage(env, "migrate", "--noinput", "-v0")
    _manage(env, "load_default_model")
    seed = ["seed_demo", "--days", args.days, "--per-day", args.per_day, "--credentials-file", ""]
    load = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    first = _manage(env, *seed)
    seconds = time.perf_counter() - started
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = cpu.ru_utime + cpu.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    counts = json.loads(_manage(env, "shell", "-c", COUNTS).stdout.strip().splitlines()[-1])
    started = time.perf_counter()
    _manage(env, *seed)
    again = time.perf_counter() - started
    unchanged = json.loads(_manage(env, "shell", "-c", COUNTS).stdout.strip().splitlines()[-1])
    print(first.stdout.split("Posts:", 1)[-1].split("API key")[0].strip())
    print()
    print(f"seed_demo: {seconds:.1f} s (load average {load:.1f} on {os.cpu_count()} cores)")
    print(f"  of which the seed process's own CPU: {cpu_seconds:.1f} s (the rest: PostgreSQL)")
    print(f"second run: {again:.1f} s, creates nothing: {unchanged == counts}")
    for key, value in counts.items():
        print(f"  {key}: {value}")
    if not args.keep:
        subprocess.run(["psql", admin_url, "-qc", f'DROP DATABASE "{name}"'], check=True)


if __name__ == "__main__":
    main()
