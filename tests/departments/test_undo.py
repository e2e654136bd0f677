"""Undoing resolve, dismiss and reroute: only the actor, only within the window, and the
action's webhooks wait out the window and are never sent once it is undone."""

from datetime import timedelta

import pytest
from django.utils import timezone

from departments import undo
from departments.models import Case, CaseEvent, Department
from departments.services import ActionError, case_reroute, case_set_status
from routing.models import RoutingLabel
from tests.factories import FeedbackItemFactory, UserFactory, member
from tests.webhooks.receiver import Receiver
from webhooks.models import Delivery
from webhooks.selectors import subscription_targets_forget
from webhooks.services import delivery_attempt, subscription_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    member(alice, "support")
    member(bob, "support")
    support = Department.objects.get(slug="support")
    item = FeedbackItemFactory(body="My parcel never came", state="routed")
    case = Case.objects.create(
        item=item, department=support, routed_by="model", reason="t", assignee=alice, status="open"
    )
    return {"alice": alice, "bob": bob, "case": case}


@pytest.fixture(autouse=True)
def commits(django_capture_on_commit_callbacks):
    """The undo record is kept once the action commits: run on-commit work in these tests."""
    global committed
    committed = django_capture_on_commit_callbacks


def resolve(case, actor):
    with committed(execute=True):
        return undo.action_undoable(
            case=case,
            actor=actor,
            run=lambda: case_set_status(case=case, status="resolved", actor=actor),
        )


def test_undo_of_a_resolve_reopens_and_withdraws_the_label(world):
    case, alice = world["case"], world["alice"]
    token = resolve(case, alice)
    assert RoutingLabel.objects.filter(item=case.item, department="support").exists()
    undo.action_undo(token=token, actor=alice)
    case.refresh_from_db()
    assert (case.status, case.resolved_at, case.assignee) == ("open", None, alice)
    last = CaseEvent.objects.unscoped().filter(case=case).latest("pk")
    assert (last.kind, last.data["to"], last.data["undo_of"]) == ("status_changed", "open", token)
    assert not RoutingLabel.objects.filter(item=case.item).exists()
    with pytest.raises(ActionError, match="nothing to undo"):
        undo.action_undo(token=token, actor=alice)  # once only


def test_undo_after_the_window_is_refused(world):
    case, alice = world["case"], world["alice"]
    token = resolve(case, alice)
    later = timezone.now() + timedelta(seconds=undo.UNDO_SECONDS + 1)
    with pytest.raises(ActionError, match="Too late to undo"):
        undo.action_undo(token=token, actor=alice, now=later)
    case.refresh_from_db()
    assert case.status == "resolved"


def test_undo_by_someone_else_is_refused(world, client):
    case, alice, bob = world["case"], world["alice"], world["bob"]
    token = resolve(case, alice)
    client.force_login(bob)
    response = client.post(f"/undo/{token}/")
    assert response.status_code == 400
    assert "Only the person who did this can undo it" in response.content.decode()
    case.refresh_from_db()
    assert case.status == "resolved"
    client.force_login(alice)
    assert client.post(f"/undo/{token}/").status_code == 302
    case.refresh_from_db()
    assert case.status == "open"


def test_undo_of_a_reroute_sends_it_back(world):
    case, alice = world["case"], world["alice"]
    product = Department.objects.get(slug="product")
    with committed(execute=True):
        token = undo.action_undoable(
            case=case,
            actor=alice,
            run=lambda: case_reroute(case=case, to_department=product, actor=alice),
        )
    undo.action_undo(token=token, actor=alice)
    case.refresh_from_db()
    target = Case.objects.unscoped().get(item=case.item, department=product)
    assert (case.status, case.assignee, target.status) == ("open", alice, "dismissed")
    back = CaseEvent.objects.unscoped().filter(case=case, kind="rerouted").latest("pk")
    assert (back.from_department, back.to_department) == (product, case.department)
    assert not RoutingLabel.objects.filter(item=case.item).exists()


@pytest.mark.parametrize("undone", [False, True])
def test_the_webhook_of_an_undone_resolve_is_not_delivered(world, settings, undone):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    receiver = Receiver().start()
    subscription_targets_forget()
    try:
        subscription_create(name="ops", url=receiver.url, events=["case.status_changed"])
        case, alice = world["case"], world["alice"]
        token = resolve(case, alice)
        delivery = Delivery.objects.get()
        # Held for the undo window: an attempt now (the task's countdown lost) sends nothing.
        assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=undo.UNDO_SECONDS)
        assert delivery_attempt(delivery_id=delivery.pk).attempts == 0
        if undone:
            undo.action_undo(token=token, actor=alice)
        # The window has passed: the task that was waiting runs.
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        delivery = delivery_attempt(delivery_id=delivery.pk)
        assert delivery.status == ("withdrawn" if undone else "succeeded")
        assert len(receiver.requests) == (0 if undone else 1)
    finally:
        receiver.stop()
        subscription_targets_forget()


def test_a_plain_resolve_moves_on_to_the_next_item_and_refuses_an_outside_next(world, client):
    case, alice = world["case"], world["alice"]
    nxt = FeedbackItemFactory(body="next one", state="routed")
    client.force_login(alice)
    onward = f"/items/{nxt.pk}/?from=/queue/support/"
    response = client.post(f"/cases/{case.pk}/status/", {"status": "resolved", "next": onward})
    assert (response.status_code, response.url) == (302, onward)
    client.post(f"/cases/{case.pk}/status/", {"status": "open"})
    response = client.post(
        f"/cases/{case.pk}/status/", {"status": "resolved", "next": "https://evil.example/"}
    )
    assert response.url == f"/items/{case.item_id}/"
