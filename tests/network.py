"""A pretend network for everything that goes through config.outbound in tests.

These machines must send no traffic to any address but loopback, not even DNS lookups of
real names. So every test runs with `FakeNetwork` in place of the system resolver and the
TCP connector (tests/conftest.py installs it for all of them): names resolve only from its
table, and a socket opens only to a loopback address, or, with `serve_as`, to one loopback
test server standing in for whatever public address the client asked for. `connects`
records each address the client tried, so a test can show that a refused address never got
a socket.

`LoopbackServer` is a small HTTP(S) server on 127.0.0.1 whose paths answer as a test says.
"""

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from config import outbound

_real_connect = outbound.tcp_connect


class FakeNetwork:
    def __init__(self) -> None:
        self._answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []  # every name the client asked about, in order
        self.connects: list[tuple[str, int]] = []  # every (address, port) it connected to
        self._stand_in: int | None = None

    def answer(self, host: str, *answers: list[str]) -> None:
        """Lookups of `host` get these answers in turn; the last one repeats."""
        self._answers[host] = list(answers)

    def serve_as(self, port: int) -> None:
        """From now on every connection, to any address, reaches 127.0.0.1:`port`."""
        self._stand_in = port

    def resolve(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        answers = self._answers.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} is not in the test's DNS table")
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def connect(self, ip: str, port: int, timeout: float) -> socket.socket:
        self.connects.append((ip, port))
        if self._stand_in is not None:
            return _real_connect("127.0.0.1", self._stand_in, timeout)
        if ipaddress.ip_address(ip.split("%")[0]).is_loopback:
            return _real_connect(ip, port, timeout)
        # No packet leaves the machine: act as if nothing listens there.
        raise ConnectionRefusedError(f"test network: nothing at {ip}:{port}")


# (status, headers, body) for one request; a route may also write the answer itself.
Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class LoopbackServer:
    routes: dict[str, Callable[[Seen], Answer] | Answer] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)  # TLS SNI per handshake
    tls: ssl.SSLContext | None = None

    def start(self) -> "LoopbackServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, dict(self.headers), self.rfile.read(length))
                owner.requests.append(seen)
                route = owner.routes.get(self.path.split("?")[0], (404, {}, b"not here"))
                status, headers, body = route(seen) if callable(route) else route
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, *args) -> None:  # quiet test output
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if self.tls is not None:
            self.tls.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
            self._httpd.socket = self.tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def paths(self) -> list[str]:
        return [seen.path for seen in self.requests]


def redirect(location: str, status: int = 302) -> Answer:
    return (status, {"Location": location}, b"")


def slow(seconds: float, answer: Answer) -> Callable[[Seen], Answer]:
    def route(seen: Seen) -> Answer:
        time.sleep(seconds)
        return answer

    return route
