"""HTTP load from the bench process, over loopback: closed-loop (each client sends its next
request when the last one is answered) and open-loop (requests at a fixed rate).

http.client rather than requests: the client shares two cores with the server, and
requests costs several times more CPU per call, which would flatten every ratio.
"""

import http.client
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Body = Callable[[int], bytes]


@dataclass
class LoadResult:
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def merge(self, other: "LoadResult") -> "LoadResult":
        return LoadResult(
            seconds=self.seconds + other.seconds,
            latencies_ms=self.latencies_ms + other.latencies_ms,
            errors=self.errors + other.errors,
        )


def _run_clients(
    *, port: int, path: str, headers: dict, body: Body, clients: int, next_request
) -> LoadResult:
    """Run `clients` threads; each asks `next_request()` for (n, perf_counter time to measure
    the latency from) until it returns None, and posts body(n)."""
    result = LoadResult(seconds=0.0)
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        latencies, errors = [], 0
        while (job := next_request()) is not None:
            n, measure_from = job
            connection.request("POST", path, body=body(n), headers=headers)
            response = connection.getresponse()
            response.read()
            latencies.append((time.perf_counter() - measure_from) * 1000)
            errors += response.status >= 300
        connection.close()
        with lock:
            result.latencies_ms += latencies
            result.errors += errors

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def closed_loop(
    *, port: int, path: str, headers: dict, body: Body, seconds: float, clients: int
) -> LoadResult:
    """As many requests as `clients` back-to-back clients get answered in `seconds`."""
    counter = itertools.count()
    deadline = time.perf_counter() + seconds

    def next_request():
        if time.perf_counter() >= deadline:
            return None
        sent = time.perf_counter()
        return next(counter), sent

    return _run_clients(
        port=port, path=path, headers=headers, body=body, clients=clients, next_request=next_request
    )


def open_loop(
    *, port: int, path: str, headers: dict, body: Body, rate: float, count: int, clients: int
) -> tuple[float, LoadResult]:
    """`count` requests at `rate` per second, request n due at start + n / rate. Latency is
    measured from when a request was due, so a client falling behind shows up as latency
    instead of silently lowering the rate. Returns the wall-clock start (time.time())."""
    counter = itertools.count()
    lock = threading.Lock()
    start_wall, start = time.time(), time.perf_counter()

    def next_request():
        with lock:
            n = next(counter)
        if n >= count:
            return None
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        return n, due

    result = _run_clients(
        port=port, path=path, headers=headers, body=body, clients=clients, next_request=next_request
    )
    return start_wall, result
