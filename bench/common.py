"""Helpers shared by the benchmarks: a bench database, and the app's processes."""

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "postgres://127.0.0.1:5432/switchboard_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"


def bench_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        # Read at call time: pages.py points the bench at the large seeded store.
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB),
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        # Production settings, but plain HTTP on loopback.
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "SECURE_HSTS_SECONDS": "0",
        # One bench client posts far more than a real integration is allowed to; the rate
        # limit would otherwise measure itself.
        "API_RATE_LIMIT": "1000000/min",
    }
    env.update(extra)
    return env


def setup_django() -> None:
    os.environ.update(bench_env())
    sys.path.insert(0, str(ROOT))
    subprocess.run(
        [sys.executable, "scripts/ensure_database.py"],
        cwd=ROOT,
        env=bench_env(),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=bench_env(),
        check=True,
    )
    import django

    django.setup()


@contextmanager
def processes(*commands: list[str], ready_url: str | None = None, log: str = "/tmp/sb-bench"):
    procs = []
    try:
        for i, command in enumerate(commands):
            handle = open(f"{log}-{i}.log", "wb")  # noqa: SIM115 (closed with the process)
            procs.append(
                subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env=bench_env(),
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        if ready_url:
            import requests

            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    requests.get(ready_url, timeout=1)
                    break
                except requests.RequestException:
                    time.sleep(0.2)
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


# The product's settings plus bench-only URLs (the ceilings); they never ship in config.urls.
CEILING_SETTINGS = "bench.ceiling_settings"


def gunicorn(port: int, workers: int = 2, settings: str | None = None) -> list[str]:
    command = [
        str(ROOT / ".venv/bin/gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    if settings:
        command += ["--env", f"DJANGO_SETTINGS_MODULE={settings}"]
    return command


def celery_worker(concurrency: int = 2, include: str | None = None) -> list[str]:
    command = [
        str(ROOT / ".venv/bin/celery"),
        "-A",
        "config",
        "worker",
        "-Q",
        "routing,maintenance",
        "-c",
        str(concurrency),
        "-l",
        "warning",
        "--without-gossip",
        "--without-mingle",
    ]
    if include:  # bench-only tasks (the no-op ceiling), imported by this worker only
        command += ["--include", include]
    return command


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(child) for child in task.read_text().split()]
    return found


def rss_mb_by_process(pid: int) -> list[float]:
    """Resident memory (MB) of `pid` and every process below it, parent first (Linux)."""
    pids, i = [pid], 0
    while i < len(pids):
        pids += _children(pids[i])
        i += 1
    return [_rss_kb(p) / 1024 for p in pids]
