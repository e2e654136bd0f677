"""GET /metrics: Prometheus text format, counters kept in Redis for every process."""

import json
import os
import subprocess
import sys

import pytest
from celery import shared_task
from prometheus_client.parser import text_string_to_metric_families

from config import metrics
from feedback.models import FeedbackItem
from routing.tasks import route_items
from tests.faults.procs import free_port
from tests.workers import ROOT

URL = "/api/v1/feedback/"


SCRAPE_TOKEN = "scrape-me"


@pytest.fixture(autouse=True)
def _fresh_metrics(settings):
    settings.METRICS_TOKEN = SCRAPE_TOKEN  # production closes /metrics without a token
    metrics.metrics_reset()
    yield
    metrics.metrics_reset()


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {SCRAPE_TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_ingest_and_routing_move_the_counters(
    api, source, client, django_capture_on_commit_callbacks
):
    posts = [
        {"external_id": "m-1", "body": "The app crashes on start"},
        {"external_id": "m-2", "body": "My parcel never arrived"},
        {"external_id": "m-1", "body": "The app crashes on start"},  # repeat: duplicate
        {"external_id": "m-3"},  # no body: rejected
    ]
    with django_capture_on_commit_callbacks(execute=True):  # routing runs in-process
        response = api.post(URL, data=json.dumps(posts), content_type="application/json")
    assert response.status_code == 201
    assert FeedbackItem.objects.exclude(state="received").count() == 2  # routed in-process

    samples = scrape(client)
    ingested = "switchboard_items_ingested_total"
    assert samples[(ingested, (("status", "created"),))] == 2
    assert samples[(ingested, (("status", "duplicate"),))] == 1
    assert samples[(ingested, (("status", "rejected"),))] == 1
    decided = sum(
        samples[("switchboard_items_routed_total", (("state", s),))]
        for s in ("routed", "triage", "noise")
    )
    assert decided == 2
    latency = "switchboard_routing_latency_seconds"
    assert samples[(f"{latency}_count", ())] == 2
    assert samples[(f"{latency}_bucket", (("le", "+Inf"),))] == 2
    assert 0 <= samples[(f"{latency}_sum", ())] < 60
    assert samples[("switchboard_http_responses_total", (("status_class", "2xx"),))] >= 1
    assert samples[("switchboard_items_waiting", ())] == 0
    assert samples[("switchboard_metrics_store_up", ())] == 1

    api.post(URL, data=json.dumps(posts[:1]), content_type="application/json")
    again = scrape(client)
    assert again[(ingested, (("status", "duplicate"),))] == 2  # counters only go up


def test_server_errors_are_counted(api, source, client, monkeypatch):
    from django.db import OperationalError

    def down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("feedback.api.views.feedback_ingest", down)
    body = json.dumps({"external_id": "e-1", "body": "hello"})
    assert api.post(URL, data=body, content_type="application/json").status_code == 503
    samples = scrape(client)
    assert samples[("switchboard_http_responses_total", (("status_class", "5xx"),))] == 1


@shared_task(name="tests.faults.always_fails")
def always_fails():
    raise RuntimeError("boom")


def test_task_failures_are_counted(client, db, settings):
    settings.CELERY_TASK_EAGER_PROPAGATES = False
    always_fails.apply()
    samples = scrape(client)
    key = ("switchboard_task_failures_total", (("task", "tests.faults.always_fails"),))
    assert samples[key] == 1


def test_queue_depth_is_read_from_the_broker(client, db, broker):
    route_items.apply_async(args=[[1, 2, 3]])
    samples = scrape(client)
    assert samples[("switchboard_queue_depth", (("queue", "routing"),))] == 1
    assert samples[("switchboard_queue_depth", (("queue", "webhooks"),))] == 0


def test_a_dead_metrics_store_fails_nothing(api, source, client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    body = json.dumps({"external_id": "d-1", "body": "still taken"})
    assert api.post(URL, data=body, content_type="application/json").status_code == 201
    samples = scrape(client)
    assert samples[("switchboard_metrics_store_up", ())] == 0
    assert samples[("switchboard_items_ingested_total", (("status", "created"),))] == 0


def test_a_metrics_token_is_required_when_set(client, db, settings):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200


def test_production_without_a_token_closes_metrics(client, db, settings):
    settings.METRICS_TOKEN = ""
    assert not settings.DEBUG and not settings.METRICS_PUBLIC  # the production defaults
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything")
    assert response.status_code == 403
    assert b"METRICS_TOKEN" in response.content and b"switchboard_" not in response.content
    settings.METRICS_PUBLIC = True  # opened on purpose, e.g. on a private scrape network
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize(("debug", "public"), [("false", "False"), ("true", "True")])
def test_metrics_are_public_by_default_only_in_development(debug, public):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DEBUG": debug,
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "switchboard.example.com",
    }
    code = "import config.settings.base as s; print(s.METRICS_PUBLIC)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.stdout.strip() == public, result.stderr
