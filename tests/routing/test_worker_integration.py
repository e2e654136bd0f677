"""Real Celery workers route items posted through the API (Redis broker, PostgreSQL)."""

import json
import time

import pytest
from django.db.models import Count

from departments.models import Case, Department
from feedback.models import FeedbackItem
from routing.services import items_sweep
from tests.workers import Worker, purge_queues, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# A new worker answers a ping before its pool processes have loaded the classifier and the
# language and sentiment models; on a busy two-core machine that took more than 15 s once.
# wait_until returns as soon as the items are routed, so only a real failure waits this long.
WARM_UP = 60

URL = "/api/v1/feedback/"
DONE = ("routed", "triage", "noise")


@pytest.fixture
def worker(broker):
    w = Worker().start()
    yield w
    w.stop()


def posts(n, prefix="w"):
    bodies = [
        "The app crashes every time I open my saved recipes",
        "My delivery is three days late and nobody answers the phone",
        "Are you hiring warehouse staff in Leeds?",
        "Loving the new autumn menu, best meal kit ever!",
        "WIN a FREE cruise!!! text YES to 80080",
    ]
    return [
        {"external_id": f"{prefix}-{i}", "body": f"{bodies[i % len(bodies)]} (#{i})"}
        for i in range(n)
    ]


def states(ids):
    return dict(
        FeedbackItem.objects.filter(pk__in=ids).values_list("state").annotate(n=Count("pk"))
    )


def test_worker_routes_a_posted_list_and_a_repeat_creates_nothing(api, source, worker):
    # Mechanics, not model quality: every item must get at least a support case.
    Department.objects.filter(slug="support").update(routing_threshold=0.0)
    started = time.monotonic()
    response = api.post(URL, data=json.dumps(posts(100)), content_type="application/json")
    assert response.status_code == 201
    ids = [r["id"] for r in response.json()["results"]]
    assert wait_until(
        lambda: FeedbackItem.objects.filter(pk__in=ids, state__in=DONE).count() == 100, timeout=10
    ), states(ids)
    elapsed = time.monotonic() - started
    assert elapsed < 10
    cases_before = Case.objects.count()
    assert cases_before >= 100
    assert not Case.objects.values("item", "department").annotate(n=Count("pk")).filter(n__gt=1)

    again = api.post(URL, data=json.dumps(posts(100)), content_type="application/json")
    assert again.status_code == 200 and again.json()["duplicate"] == 100
    time.sleep(0.5)
    assert FeedbackItem.objects.count() == 100 and Case.objects.count() == cases_before


def test_items_wait_while_the_worker_is_down_and_are_routed_once_when_it_returns(
    api, source, broker
):
    response = api.post(URL, data=json.dumps(posts(50, "down")), content_type="application/json")
    ids = [r["id"] for r in response.json()["results"]]
    time.sleep(1)
    assert states(ids) == {"received": 50}
    w = Worker().start()
    try:
        assert wait_until(lambda: states(ids).get("received", 0) == 0, timeout=WARM_UP), states(ids)
    finally:
        w.stop()
    assert sum(states(ids).values()) == 50
    assert not Case.objects.values("item", "department").annotate(n=Count("pk")).filter(n__gt=1)
    routed_events = (
        FeedbackItem.objects.filter(pk__in=ids).values("events__kind").annotate(n=Count("pk"))
    )
    assert routed_events  # every item has its decision on the timeline


def test_lost_messages_are_recovered_by_the_sweeper(api, source, broker, settings):
    response = api.post(URL, data=json.dumps(posts(30, "lost")), content_type="application/json")
    ids = [r["id"] for r in response.json()["results"]]
    purge_queues()  # the broker lost the messages
    w = Worker().start()
    try:
        time.sleep(1)
        assert states(ids) == {"received": 30}
        settings.ROUTING_SWEEP_AFTER = settings.ROUTING_SWEEP_AFTER * 0  # everything is "old"
        assert items_sweep() == 30
        assert wait_until(lambda: states(ids).get("received", 0) == 0, timeout=WARM_UP), states(ids)
    finally:
        w.stop()


def test_a_staff_correction_changes_the_next_similar_posts_route_within_seconds(
    api, source, worker, alice
):
    """The learning loop through the real worker: a person routes a post from triage; the
    next post like it is routed there by the worker, long before any retrain (the target
    is five minutes; this allows one)."""
    from departments.services import triage_route

    Department.objects.update(routing_threshold=1.01)  # the model alone routes nothing
    text = "The lamp in the hotel lobby keeps flickering every evening"
    first = api.post(
        URL,
        data=json.dumps({"external_id": "loop-1", "body": text}),
        content_type="application/json",
    ).json()["id"]
    assert wait_until(
        lambda: FeedbackItem.objects.filter(pk=first, state__in=DONE).exists(), timeout=WARM_UP
    )
    marketing = Department.objects.get(slug="marketing")
    started = time.monotonic()
    triage_route(item=FeedbackItem.objects.get(pk=first), departments=[marketing], actor=alice)
    second = api.post(
        URL,
        data=json.dumps({"external_id": "loop-2", "body": text.replace("every", "each")}),
        content_type="application/json",
    ).json()["id"]
    assert wait_until(
        lambda: FeedbackItem.objects.filter(pk=second, state__in=DONE).exists(), timeout=60
    )
    assert time.monotonic() - started < 60
    case = Case.objects.get(item_id=second)
    assert case.department == marketing
    assert case.explanation["similar"][0]["item"] == first
