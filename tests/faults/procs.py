"""Real processes for the fault drills: a private Redis, a TCP proxy in front of PostgreSQL
that can be cut, a gunicorn web server and Celery workers, all on free local ports.

The drills never touch the shared PostgreSQL and Redis servers: what they break is theirs.
"""

import contextlib
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis
import requests
from celery import Celery

from tests.workers import ROOT, worker_command, worker_env

SERVER_SETTINGS = "tests.faults.server_settings"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ProcessDied(RuntimeError):
    pass


def wait_for(predicate, timeout: float, interval: float = 0.1) -> bool:
    """Poll until `predicate()` is true; errors count as "not yet", except ProcessDied."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return True
        except ProcessDied:
            raise
        except Exception:  # noqa: S110  (a server still starting refuses connections)
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def process_env(**overrides: str) -> dict[str, str]:
    """The test database (as tests/workers.py gives it) and the drills' settings module."""
    env = worker_env()
    env.update({"DJANGO_SETTINGS_MODULE": SERVER_SETTINGS, "LOG_FORMAT": "json"})
    env.update({k: str(v) for k, v in overrides.items()})
    return env


def _stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 10.0):
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


class RedisServer:
    """A private redis-server with no persistence: stopping it loses everything, as a
    crashed cache-only Redis would."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        if not wait_for(client.ping, timeout=10):
            raise RuntimeError(f"redis-server did not start on port {self.port}")
        return self

    def stop(self) -> None:
        _stop(self.proc, signal.SIGKILL)  # as a crash: no goodbye to the clients


class TcpProxy:
    """Forwards 127.0.0.1:<port> to an upstream address. `cut()` closes the listening socket
    and resets every open connection (the database is unreachable: connects are refused,
    sessions die); `restore()` listens again on the same port."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closing = False
        self.accepted = 0

    def start(self) -> "TcpProxy":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept_loop, args=(listener,), daemon=True).start()
        return self

    restore = start

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            with contextlib.suppress(OSError):
                # SO_LINGER 0: close with a reset, as a dead server or a broken route would.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
                conn.close()

    stop = cut

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            self.accepted += 1
            with self._lock:
                self._conns.update((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in sel.select(timeout=1.0):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            sel.close()
            with self._lock:
                self._conns.discard(a)
                self._conns.discard(b)
            for sock in (a, b):
                with contextlib.suppress(OSError):
                    sock.close()


class WebServer:
    """gunicorn serving the app (gthread: 1 process, 4 threads), as in production."""

    def __init__(self, *, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.env = env
        self.log = log
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "WebServer":
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--threads",
                "4",
                "--timeout",
                "60",
                "--graceful-timeout",
                "2",
                "--chdir",
                str(ROOT),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def answers() -> bool:
            if self.proc.poll() is not None:
                raise ProcessDied(f"gunicorn exited early; see {self.log}")
            return requests.get(self.url + "/healthz", timeout=5).status_code in (200, 503)

        if not wait_for(answers, timeout=timeout, interval=0.2):
            raise TimeoutError(f"gunicorn did not answer in {timeout} s; see {self.log}")
        return self

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return sorted(int(p) for p in out.stdout.split())

    def stop(self) -> None:
        _stop(self.proc)


class CeleryProcess:
    """A `celery worker` (optionally with embedded beat) against any broker. Readiness is a
    ping through a Celery app bound to the same broker, so it works for a private Redis."""

    def __init__(
        self,
        *,
        env: dict[str, str],
        broker_url: str,
        log: Path,
        concurrency: int = 1,
        beat: bool = False,
        name: str = "fault",
    ) -> None:
        self.env = env
        self.broker_url = broker_url
        self.log = log
        self.concurrency = concurrency
        self.beat = beat
        self.name = f"{name}-{os.getpid()}-{time.monotonic_ns()}@localhost"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 40.0) -> "CeleryProcess":
        command = worker_command(name=self.name, concurrency=self.concurrency)
        if self.beat:
            schedule = self.log.with_suffix(".beat-schedule")
            command += ["-B", "-s", str(schedule)]
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # Not the current app: shared tasks would otherwise publish through it.
        pinger = Celery(broker=self.broker_url, set_as_current=False)
        pinger.conf.broker_connection_retry_on_startup = False
        try:

            def pong() -> bool:
                if self.proc.poll() is not None:
                    raise ProcessDied(f"worker exited early; see {self.log}")
                return bool(pinger.control.ping(destination=[self.name], timeout=0.5))

            if not wait_for(pong, timeout=timeout, interval=0.2):
                raise TimeoutError(f"worker did not answer a ping in {timeout} s; see {self.log}")
        finally:
            pinger.close()
        return self

    def child_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return sorted(int(p) for p in out.stdout.split())

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool), as a lost machine would."""
        _stop(self.proc, signal.SIGKILL)

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM, timeout=20)
