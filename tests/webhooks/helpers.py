"""Real objects to build event payloads from."""

from departments.models import Case, Department
from tests.factories import FeedbackItemFactory
from webhooks.payloads import payload_item_routed
from webhooks.services import subscription_create


def routed(*slugs: str, body: str = "The app crashes when I upload a photo.", **item_fields):
    """A routed item with a case in each department; returns (item, cases)."""
    item = FeedbackItemFactory(body=body, state="routed", **item_fields)
    cases = [
        Case.objects.create(
            item=item,
            department=Department.objects.get(slug=slug),
            routed_by="model",
            reason="model v1: score 0.91",
            confidence=0.91,
        )
        for slug in slugs
    ]
    return item, cases


def routed_event(*slugs: str, **item_fields) -> dict:
    """Keyword arguments for webhook_emit, the way routing calls it."""
    item, cases = routed(*slugs, **item_fields)
    return {
        "event": "item.routed",
        "payload": payload_item_routed(item=item, cases=cases),
        "departments": [c.department.slug for c in cases],
        "backfill": item.backfill,
    }


def everything_and_hr(*events: str):
    """Two subscriptions to `events`: one without a department filter, one naming HR
    (created by a superuser, so approved for HR's events at once)."""
    from tests.factories import UserFactory

    root = UserFactory(username="helper-root", is_staff=True, is_superuser=True)
    everything = subscription_create(
        name="all", url="https://hooks.example.com/all", events=list(events)
    )
    hr_tool = subscription_create(
        name="hr",
        url="https://hooks.example.com/hr",
        events=list(events),
        departments=[Department.objects.get(slug="hr")],
        created_by=root,
    )
    return everything, hr_tool
