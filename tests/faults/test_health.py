"""GET /healthz: what a load balancer and an operator see, healthy and not."""

import time

import pytest
from django.conf import settings as django_settings

from config import metrics
from config.health import heartbeat_write
from tests.faults.procs import free_port


@pytest.fixture(autouse=True)
def _fresh_metrics():
    metrics.metrics_reset()
    yield
    metrics.metrics_reset()


def test_healthy_with_a_live_worker(client, db):
    heartbeat_write("routing-1@host")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True and body["database"]["latency_ms"] >= 0
    assert body["redis"]["ok"] is True
    assert body["broker"] == {
        "ok": True,
        "queues": {"routing": 0, "webhooks": 0, "maintenance": 0},
        "unacked": 0,
    }
    assert body["workers"]["ok"] is True and body["workers"]["alive"] == 1
    # No secrets, no addresses: nothing a stranger could use.
    text = response.content.decode()
    for secret in (django_settings.REDIS_URL, django_settings.DATABASES["default"]["NAME"]):
        assert secret not in text


def test_no_live_worker_is_degraded_but_still_serving(client, db):
    # A worker gone for three heartbeats counts as gone; posts are still taken and stored.
    gone = time.time() - 4 * django_settings.WORKER_HEARTBEAT_SECONDS
    metrics.store().hset(f"{django_settings.METRICS_KEY_PREFIX}:workers", "old@host", gone)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["workers"]["ok"] is False and body["workers"]["alive"] == 0
    assert body["workers"]["last_seen_seconds"] >= 4 * django_settings.WORKER_HEARTBEAT_SECONDS


def test_redis_down_is_unavailable(client, db, settings):
    settings.REDIS_URL = settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["redis"] == {"ok": False, "error": "ConnectionError"}
    assert body["broker"]["ok"] is False
    assert body["database"]["ok"] is True


def test_healthz_needs_no_login_and_answers_head(client, db):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405
