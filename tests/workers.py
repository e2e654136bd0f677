"""Starting and stopping real Celery worker processes against the test database."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

from config.celery import app

ROOT = Path(__file__).resolve().parent.parent


def worker_env() -> dict[str, str]:
    """The worker must use the database pytest created, not the development one."""
    db = connection.settings_dict
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or "5432"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    env = {**os.environ}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": f"postgres://{auth}{host}:{port}/{db['NAME']}",
            "REDIS_URL": settings.REDIS_URL,
            "PYTHONUNBUFFERED": "1",
            "CELERY_EAGER": "false",
        }
    )
    return env


def worker_command(*, name: str, concurrency: int) -> list[str]:
    """The `celery worker` command line every test worker uses (all three queues)."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        "routing,maintenance,webhooks",
        "-c",
        str(concurrency),
        "-n",
        name,
        "--without-gossip",
        "--without-mingle",
    ]


class Worker:
    """A `celery worker` subprocess consuming the routing and maintenance queues."""

    def __init__(self, *, concurrency: int = 2, name: str = "test", log: Path | None = None):
        self.name = f"{name}-{os.getpid()}-{time.monotonic_ns()}@localhost"
        self.concurrency = concurrency
        self.log = log or Path(f"/tmp/switchboard-worker-{os.getpid()}.log")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "Worker":
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(
            [*worker_command(name=self.name, concurrency=self.concurrency), "-l", "info"],
            cwd=ROOT,
            env=worker_env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early; see {self.log}")
            replies = app.control.ping(destination=[self.name], timeout=0.5) or []
            if replies:
                return self
        raise TimeoutError(f"worker did not answer a ping in {timeout} s; see {self.log}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def child_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]


def purge_queues() -> None:
    with app.connection_for_write() as conn:
        for queue in ("routing", "maintenance", "webhooks"):
            conn.default_channel.queue_purge(queue)


def wait_until(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
