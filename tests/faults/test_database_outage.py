"""Drill: PostgreSQL unreachable. A real gunicorn server reaches the test database through a
TCP proxy that the drill cuts (connects refused, open sessions reset) and restores; the
shared PostgreSQL server itself is never touched."""

import time
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from django.db import connection
from django.test import Client

from feedback.models import FeedbackItem
from tests.faults.procs import TcpProxy, WebServer, process_env, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

POOL_TIMEOUT = 2  # seconds a request waits for a database connection before answering 503


@pytest.fixture
def proxy():
    db = connection.settings_dict
    p = TcpProxy((db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432))).start()
    yield p
    p.cut()


@pytest.fixture
def web(proxy, logs):
    plain = urlsplit(process_env()["DATABASE_URL"])
    auth = plain.netloc.rpartition("@")[0]
    netloc = f"{auth}@127.0.0.1:{proxy.port}" if auth else f"127.0.0.1:{proxy.port}"
    env = process_env(
        DATABASE_URL=urlunsplit(plain._replace(netloc=netloc)),
        DATABASE_POOL_TIMEOUT=POOL_TIMEOUT,
    )
    server = WebServer(env=env, log=logs / "web.log").start()
    yield server
    server.stop()


def test_database_outage_answers_503_then_recovers_without_a_restart(
    web, proxy, ingest_key, alice, logs
):
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {ingest_key}"
    browser = requests.Session()
    login = Client()
    login.force_login(alice)
    browser.cookies.set("sessionid", login.cookies["sessionid"].value)

    def post(external_id: str) -> requests.Response:
        return api.post(
            f"{web.url}/api/v1/feedback/",
            json={"external_id": external_id, "body": "The checkout page times out"},
            timeout=30,
        )

    assert post("before").status_code == 201
    assert browser.get(f"{web.url}/", timeout=30).status_code == 200
    pids = web.worker_pids()

    proxy.cut()

    started = time.monotonic()
    response = post("during")
    took = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
    problem = response.json()
    assert problem["status"] == 503 and problem["title"] == "Service unavailable"
    assert problem["detail"] == "The database is unavailable; retry shortly."
    assert took < POOL_TIMEOUT + 3, f"the outage took {took:.1f} s to answer"

    # Later requests find no pooled connection and wait at most the pool timeout.
    def timed(session, path):
        started = time.monotonic()
        response = session.get(f"{web.url}{path}", timeout=60)
        took = time.monotonic() - started
        assert took < POOL_TIMEOUT + 3, f"{path} took {took:.1f} s to answer"
        return response

    listing = timed(api, "/api/v1/feedback/")
    assert listing.status_code == 503
    assert listing.json()["type"].endswith("/database-unavailable")

    page = timed(browser, "/")
    assert page.status_code == 503
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Retry-After"] == "5"
    assert "The database is unavailable" in page.text
    assert "Traceback" not in page.text and "OperationalError" not in page.text

    health = timed(requests, "/healthz")
    assert health.status_code == 503
    assert health.json()["database"] == {"ok": False, "error": "OperationalError"}
    assert health.json()["redis"]["ok"] is True

    proxy.restore()
    restored = time.monotonic()
    answers: list[int] = []

    def recovered() -> bool:
        answers.append(post(f"after-{len(answers)}").status_code)
        return answers[-1] == 201

    assert wait_for(recovered, timeout=30, interval=0.5), answers
    recovery = time.monotonic() - restored
    assert browser.get(f"{web.url}/", timeout=30).status_code == 200
    assert requests.get(f"{web.url}/healthz", timeout=30).status_code == 200
    assert web.worker_pids() == pids, "the web process was restarted"
    assert recovery < 15, f"recovered only after {recovery:.1f} s"
    # Nothing half-stored: the post made during the outage is not there, the others are.
    stored = set(FeedbackItem.objects.values_list("external_id", flat=True))
    assert "before" in stored and "during" not in stored
    assert f"after-{len(answers) - 1}" in stored
