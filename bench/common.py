"""Helpers shared by the benchmarks: a bench database, and the app's processes."""

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = os.environ.get("BENCH_DATABASE_URL", "postgres://127.0.0.1:5432/switchboard_bench")
BENCH_REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def bench_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": BENCH_DB,
        "REDIS_URL": BENCH_REDIS,
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


def gunicorn(port: int, workers: int = 2) -> list[str]:
    return [
        str(ROOT / ".venv/bin/gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]


def celery_worker(concurrency: int = 2) -> list[str]:
    return [
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
