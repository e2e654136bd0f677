"""Drill: Redis stopped during ingest. A private redis-server (no persistence) is the broker
and cache of a real gunicorn server and a real Celery worker with beat; the drill kills it
while posts keep coming, then starts an empty one on the same port."""

import time

import pytest
import requests

from feedback.models import FeedbackItem
from tests.faults.conftest import all_done, assert_routed_once, posts, states
from tests.faults.procs import CeleryProcess, RedisServer, WebServer, process_env, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def private_redis():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def stack(private_redis, logs):
    """Web and worker (with beat) on the private Redis. The sweeper runs every second for
    items older than 2 s (production: every 30 s, older than 60 s) so the drill is quick;
    what it shows does not depend on the numbers."""
    env = process_env(
        REDIS_URL=private_redis.url,
        ROUTING_SWEEP_AFTER_SECONDS=2,
        ROUTING_SWEEP_EVERY_SECONDS=1,
        WORKER_HEARTBEAT_SECONDS=1,
    )
    web = WebServer(env=env, log=logs / "web.log").start()
    worker = CeleryProcess(
        env=env, broker_url=private_redis.url, log=logs / "worker.log", beat=True
    ).start()
    yield web, worker
    worker.stop()
    web.stop()


def test_redis_down_ingest_keeps_answering_and_everything_is_routed_after(
    stack, private_redis, ingest_key, every_item_to_support
):
    web, _ = stack
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {ingest_key}"
    url = f"{web.url}/api/v1/feedback/"

    before = api.post(url, json=posts(5, "before"), timeout=30)
    assert before.status_code == 201
    before_ids = [r["id"] for r in before.json()["results"]]
    assert wait_for(lambda: all_done(before_ids), timeout=20), states(before_ids)

    private_redis.stop()

    ids, slowest = [], 0.0
    for i, payload in enumerate(posts(15, "during")):
        started = time.monotonic()
        response = api.post(url, json=payload, timeout=30)
        slowest = max(slowest, time.monotonic() - started)
        assert response.status_code == 201, (i, response.status_code, response.text)
        ids.append(response.json()["id"])
    started = time.monotonic()
    bulk = api.post(url, json=posts(50, "during-bulk"), timeout=30)
    slowest = max(slowest, time.monotonic() - started)
    assert bulk.status_code == 201 and bulk.json()["created"] == 50
    ids += [r["id"] for r in bulk.json()["results"]]
    # The API does not wait on the dead Redis: no broker or cache timeout per request.
    assert slowest < 2.0, f"a post took {slowest:.2f} s while Redis was down"
    assert states(ids) == {"received": 65}  # stored, waiting for routing

    health = requests.get(f"{web.url}/healthz", timeout=30)
    assert health.status_code == 503
    assert health.json()["redis"]["ok"] is False and health.json()["database"]["ok"] is True

    time.sleep(1)
    private_redis.start()  # same port, empty: every queued message and cache entry is gone
    back = time.monotonic()
    assert wait_for(lambda: all_done(ids), timeout=60, interval=0.5), states(ids)
    recovered_in = time.monotonic() - back
    assert recovered_in < 60

    assert_routed_once(before_ids + ids)
    assert FeedbackItem.objects.count() == 70

    # The worker's heartbeat (written every second here) is back in the emptied Redis.
    def healthy() -> bool:
        health = requests.get(f"{web.url}/healthz", timeout=30)
        return health.status_code == 200 and health.json()["status"] == "ok"

    assert wait_for(healthy, timeout=10)
