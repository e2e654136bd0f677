"""Drills: a worker killed in the middle of a batch, and the same routing task delivered
more than once. Real Celery workers, the real Redis broker, the real test database."""

import ast
import base64
import json
import os
import signal
from datetime import timedelta

import pytest

from config import metrics
from config.celery import app
from routing.services import items_sweep
from routing.tasks import route_items
from tests.faults.conftest import all_done, assert_routed_once, post_json, posts, states
from tests.faults.gate import WORKER_PGOPTIONS, BatchGate
from tests.faults.procs import CeleryProcess, process_env, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROUTE_ITEMS = "routing.tasks.route_items"


@pytest.fixture
def gate():
    """Batches stop in the middle (row locks taken, nothing committed) until released."""
    gate = BatchGate()
    gate.hold()
    try:
        yield gate
    finally:
        gate.remove()


def start_worker(settings, logs, *, concurrency: int = 1, name="fault", **env):
    # The worker fills a small batch up to ROUTING_BATCH_SIZE with other waiting items; it
    # gets the drill's batch size, as web and worker share one environment in production.
    env.setdefault("ROUTING_BATCH_SIZE", settings.ROUTING_BATCH_SIZE)
    return CeleryProcess(
        env=process_env(PGOPTIONS=WORKER_PGOPTIONS, **env),
        broker_url=settings.CELERY_BROKER_URL,
        log=logs / f"{name}.log",
        concurrency=concurrency,
        name=name,
    ).start()


def kill_at_the_gate(gate, kill) -> None:
    """Kill the worker holding the one batch at the gate, wait until PostgreSQL has ended
    its backend (the batch rolled back), then let everything else through."""
    [held] = gate.waiting()
    kill()
    assert wait_for(lambda: gate.gone([held]), timeout=10), "the killed batch's backend stayed"
    gate.release()


def forget_unacked(settings, ids) -> None:
    """Drop the dead worker's unacknowledged route_items messages for these ids from the
    broker, so that no later test run (same Redis, new database, same ids) gets them back
    when the visibility timeout expires."""
    client = metrics.redis_client(settings.CELERY_BROKER_URL)
    for tag, raw in client.hgetall("unacked").items():
        message = json.loads(raw)[0]
        if message.get("headers", {}).get("task") != ROUTE_ITEMS:
            continue
        body = json.loads(base64.b64decode(message["body"]))
        if set(body[0][0]) <= set(ids):
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


def test_a_pool_process_killed_mid_batch_is_redelivered_and_nothing_is_doubled(
    api, source, broker, every_item_to_support, settings, logs, gate
):
    """SIGKILL the pool process while its batch holds the row locks (stopped at the gate).
    PostgreSQL rolls the batch back; because the task is acknowledged late and rejected
    when its worker is lost (acks_late + reject_on_worker_lost), the broker hands the same
    message to the replacement pool process at once. This drill relies on that redelivery,
    not on the sweeper or the visibility timeout (900 s): it must finish in seconds."""
    settings.ROUTING_BATCH_SIZE = 20
    worker = start_worker(settings, logs)
    log = logs / "fault.log"
    try:
        response = post_json(api, posts(40, "kill"), HTTP_X_REQUEST_ID="drill-kill-1")
        assert response.status_code == 201
        ids = [r["id"] for r in response.json()["results"]]

        def in_the_middle() -> bool:
            # The batch waits at the gate, and the worker's main process knows its pool
            # process has taken the job. Killing the process before that would test
            # something else: the pool quietly hands a job nobody accepted to another one.
            if len(gate.waiting()) != 1:
                return False
            active = app.control.inspect([worker.name], timeout=0.5).active() or {}
            return bool(active.get(worker.name))

        assert wait_for(in_the_middle, timeout=15), "no batch started"
        assert states(ids) == {"received": 40}  # the first batch is in flight, uncommitted
        [child] = worker.child_pids()
        kill_at_the_gate(gate, lambda: os.kill(child, signal.SIGKILL))

        assert wait_for(lambda: all_done(ids), timeout=30), states(ids)
        assert child not in worker.child_pids()
    finally:
        worker.stop()
    assert "exited with 'signal 9 (SIGKILL)'" in log.read_text()
    assert_routed_once(ids)
    # The worker's log lines for these tasks name the request that enqueued them.
    results = task_lines(log)
    assert len(results) == 2 and {e["request_id"] for e in results} == {"drill-kill-1"}


def test_a_worker_killed_whole_mid_batch_is_recovered_by_the_sweeper(
    api, source, broker, every_item_to_support, settings, logs, gate
):
    """SIGKILL the whole worker (main process and pool), as when a machine dies. Nobody is
    left to reject the message: it stays unacknowledged in Redis until the visibility
    timeout (900 s). What recovers the batch is the sweeper (beat runs it every 30 s for
    items older than 60 s); the drill calls it directly with a zero age instead of waiting,
    after showing that a new worker alone leaves the killed batch where it is."""
    settings.ROUTING_BATCH_SIZE = 20
    first = start_worker(settings, logs, name="doomed")
    ids: list[int] = []
    try:
        response = post_json(api, posts(40, "lost"))
        assert response.status_code == 201
        ids = [r["id"] for r in response.json()["results"]]
        assert wait_for(lambda: len(gate.waiting()) == 1, timeout=15), "no batch started"
        kill_at_the_gate(gate, first.kill)

        second = start_worker(settings, logs, name="survivor")
        try:
            # The second batch was still queued: the new worker routes it...
            assert wait_for(lambda: states(ids).get("received") == 20, timeout=20), states(ids)
            # ...but the killed batch waits for a redelivery that would take 900 s.
            assert not wait_for(lambda: all_done(ids), timeout=1.0)
            assert items_sweep(older_than=timedelta(0)) == 20
            assert wait_for(lambda: all_done(ids), timeout=20), states(ids)
        finally:
            second.stop()
    finally:
        first.kill()
        forget_unacked(settings, ids)
    assert_routed_once(ids)


def test_the_same_routing_task_delivered_again_doubles_nothing(
    api, source, broker, every_item_to_support, settings, logs, gate
):
    """The broker may deliver a message more than once: a redelivery while the first copy
    still runs (visibility timeout, a sweep racing a slow worker) or after it finished (a
    lost acknowledgement). Here the same route_items message (same task id, same ids) waits
    three more times in the queue and two pool processes take copies while a first copy
    holds the items at the gate; then one more copy arrives after everything is routed.
    The first copy locks the items; the others find them locked (SKIP LOCKED) or no longer
    `received`."""
    response = post_json(api, posts(20, "dup"))  # no worker yet: the message waits
    ids = [r["id"] for r in response.json()["results"]]

    def deliver_again() -> None:
        route_items.apply_async(args=[ids], task_id="drill-duplicate-delivery")

    for _ in range(3):
        deliver_again()
    worker = start_worker(settings, logs, concurrency=2, name="twice")
    log = logs / "twice.log"
    try:
        # One copy is held mid-batch while the other process ran a copy to the end (it
        # found the items locked), or while it is held too (the two split the items).
        def overlapped() -> bool:
            held = len(gate.waiting())
            return held == 2 or (held == 1 and len(task_results(log)) >= 1)

        assert wait_for(overlapped, timeout=20), (gate.waiting(), task_results(log))
        assert states(ids) == {"received": 20}  # nothing committed while the gate holds
        gate.release()
        assert wait_for(lambda: all_done(ids), timeout=20), states(ids)
        assert wait_for(lambda: len(task_results(log)) == 4, timeout=20)
        deliver_again()  # late: the items are routed by now
        assert wait_for(lambda: len(task_results(log)) == 5, timeout=20)
    finally:
        worker.stop()
    assert_routed_once(ids)
    # Between them the five deliveries decided each item once (usually the first took all
    # 20; two copies starting in the same instant may split them, SKIP LOCKED either way).
    results = task_results(log)
    assert sum(r["routed"] + r["triage"] + r["noise"] for r in results) == 20, results
    assert results[-1]["skipped"] == 20  # the late copy found nothing left to do


def task_lines(log) -> list[dict]:
    """The JSON lines a worker logged for finished route_items tasks."""
    lines = []
    for line in log.read_text().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        data = entry.get("data") or {}
        if entry["logger"] == "celery.app.trace" and data.get("name") == ROUTE_ITEMS:
            lines.append(entry)
    return lines


def task_results(log) -> list[dict]:
    """The return values of those tasks (celery.app.trace puts them in `data`)."""
    return [ast.literal_eval(e["data"]["return_value"]) for e in task_lines(log)]
