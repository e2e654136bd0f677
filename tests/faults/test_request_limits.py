"""Oversized requests are refused with 413 before their body is read into memory."""

import http.client
import io
import json
import socket

import pytest

from feedback.models import FeedbackItem
from tests.faults.procs import WebServer, process_env

URL = "/api/v1/feedback/"
LIMIT = 64 * 1024


class ExplodingStream(io.RawIOBase):
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


@pytest.fixture
def small_limit(settings):
    settings.MAX_REQUEST_BYTES = LIMIT


def payload(n: int) -> bytes:
    items = [{"external_id": f"big-{i}", "body": "x" * 900} for i in range(n)]
    return json.dumps(items).encode()


def assert_too_large(response):
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    problem = json.loads(response.content)
    assert problem["status"] == 413 and problem["title"] == "Request too large"
    assert f"larger than {LIMIT} bytes" in problem["detail"]


def test_a_declared_length_over_the_limit_is_refused_without_reading(api, small_limit):
    response = api.generic(
        "POST",
        URL,
        b"",
        content_type="application/json",
        CONTENT_LENGTH=str(2 * 1024**3),  # "2 GB are coming"
        **{"wsgi.input": ExplodingStream()},
    )
    assert_too_large(response)


def test_a_body_under_the_limit_is_accepted(api, small_limit):
    body = payload(20)
    assert len(body) < LIMIT
    response = api.generic("POST", URL, body, content_type="application/json")
    assert response.status_code == 201, response.content


def test_a_chunked_body_is_read_up_to_the_limit_and_no_further(api, small_limit):
    stream = io.BytesIO(payload(200))  # ~190 KB, sent without Content-Length
    response = api.generic(
        "POST",
        URL,
        b"",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": stream, "wsgi.input_terminated": True},
    )
    assert_too_large(response)
    assert stream.tell() == LIMIT + 1  # one byte past the limit proves it; no more is read
    assert not FeedbackItem.objects.exists()


def test_a_chunked_body_under_the_limit_is_handed_on_whole(api, small_limit):
    # Django alone reads Content-Length bytes, so without this a chunked post arrived empty.
    body = payload(20)
    response = api.generic(
        "POST",
        URL,
        b"",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(body), "wsgi.input_terminated": True},
    )
    assert response.status_code == 201, response.content
    assert response.json()["created"] == 20


def test_a_chunked_body_from_a_server_that_does_not_mark_its_end_needs_a_length(api):
    response = api.generic(
        "POST", URL, b"", content_type="application/json", HTTP_TRANSFER_ENCODING="chunked"
    )
    assert response.status_code == 411
    assert json.loads(response.content)["title"] == "Length required"


def test_djangos_own_body_limit_answers_413_in_the_api(api, settings):
    # Past the middleware (a larger MAX_REQUEST_BYTES), Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    # still applies where the body is read whole (here: hashing it for Idempotency-Key).
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    settings.MAX_REQUEST_BYTES = 10**9
    response = api.generic(
        "POST", URL, payload(20), content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert response.status_code == 413
    assert json.loads(response.content)["type"].endswith("/request-too-large")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_gunicorn_answers_413_to_an_endless_chunked_body_and_takes_a_chunked_post(ingest_key, logs):
    """Over a real socket: a chunked body that never ends gets its 413 as soon as it passes
    the limit (a server that read it whole would wait forever), and a normal chunked post
    is stored."""
    web = WebServer(env=process_env(MAX_REQUEST_BYTES=LIMIT), log=logs / "web.log").start()
    try:
        head = (
            f"POST {URL} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ingest_key}\r\n"
            "Content-Type: application/json\r\n"
        )
        with socket.create_connection(("127.0.0.1", web.port), timeout=10) as sock:
            sock.sendall(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
            chunk = b"x" * 16384
            for _ in range(6):  # 96 KiB, and no terminating chunk: the body never ends
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]

        with socket.create_connection(("127.0.0.1", web.port), timeout=10) as sock:
            sock.sendall(f"{head}Content-Length: {2 * 1024**3}\r\n\r\n".encode())
            answer = sock.recv(65536)  # refused before a byte of the body was sent
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]

        conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
        conn.request(
            "POST",
            URL,
            body=iter([payload(10)]),
            headers={
                "Authorization": f"Bearer {ingest_key}",
                "Content-Type": "application/json",
            },
            encode_chunked=True,
        )
        response = conn.getresponse()
        assert response.status == 201, response.read()
        assert json.loads(response.read())["created"] == 10
    finally:
        web.stop()
