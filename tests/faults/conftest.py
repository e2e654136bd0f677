"""Fixtures for the fault drills: helpers to check the routing invariants after a fault.

The invariants every drill ends on:

- every item is out of `received` (routed, triage or noise);
- no (item, department) pair has two cases;
- each item has one set of routing events (one `routed` event per case, at most one
  triage/noise event, never both) and was routed in one committed attempt.
"""

import json
from pathlib import Path

import pytest
from django.db.models import Count

from departments.models import Case, CaseEvent, Department
from feedback.models import FeedbackItem

DONE = ("routed", "triage", "noise")


@pytest.fixture
def logs(tmp_path) -> Path:
    return tmp_path


@pytest.fixture
def every_item_to_support(db):
    """Mechanics, not model quality: every item gets at least a support case."""
    Department.objects.filter(slug="support").update(routing_threshold=0.0)


def posts(n: int, prefix: str) -> list[dict]:
    bodies = [
        "The app crashes every time I open my saved recipes",
        "My delivery is three days late and nobody answers the phone",
        "Are you hiring warehouse staff in Leeds?",
        "Loving the new autumn menu, best meal kit ever!",
    ]
    return [
        {"external_id": f"{prefix}-{i}", "body": f"{bodies[i % len(bodies)]} (#{i})"}
        for i in range(n)
    ]


def post_json(api, data, **extra):
    return api.post(
        "/api/v1/feedback/", data=json.dumps(data), content_type="application/json", **extra
    )


def states(ids) -> dict[str, int]:
    rows = FeedbackItem.objects.filter(pk__in=ids).values_list("state").annotate(n=Count("pk"))
    return dict(rows)


def all_done(ids) -> bool:
    return FeedbackItem.objects.filter(pk__in=ids, state__in=DONE).count() == len(set(ids))


def assert_routed_once(ids) -> None:
    """The invariants above, with a message that says which item broke which."""
    ids = set(ids)
    assert states(ids).keys() <= set(DONE), states(ids)
    doubled = list(
        Case.objects.filter(item__in=ids)
        .values("item", "department")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    assert not doubled, f"cases doubled: {doubled}"
    cases = dict(Case.objects.filter(item__in=ids).values_list("item").annotate(n=Count("pk")))
    routed_events = dict(
        CaseEvent.objects.filter(item__in=ids, kind=CaseEvent.Kind.ROUTED)
        .values_list("item")
        .annotate(n=Count("pk"))
    )
    other_events = dict(
        CaseEvent.objects.filter(
            item__in=ids, kind__in=[CaseEvent.Kind.TRIAGED, CaseEvent.Kind.NOISE]
        )
        .values_list("item")
        .annotate(n=Count("pk"))
    )
    for pk in ids:
        assert routed_events.get(pk, 0) == cases.get(pk, 0), (pk, routed_events, cases)
        assert other_events.get(pk, 0) == (0 if cases.get(pk) else 1), (pk, other_events)
    attempts = dict(FeedbackItem.objects.filter(pk__in=ids).values_list("pk", "routing_attempts"))
    twice = {pk: n for pk, n in attempts.items() if n != 1}
    assert not twice, f"items routed more than once: {twice}"
