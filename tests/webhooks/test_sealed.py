"""A sealed department's events reach only subscriptions that name it and that its manager
(or a superuser) created or approved; everyone else hears other departments' events
without the sealed part.

Personas on top of tests/webhooks/conftest.py: harriet, HR's manager (staff); root, a
superuser; the ops integration (`hooks_api`), a key with the `webhooks` scope.
"""

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from departments.models import Department
from departments.services import case_reroute, case_share
from routing.services import items_route
from tests.factories import FeedbackItemFactory, UserFactory, member
from tests.webhooks.helpers import routed, routed_event
from webhooks.models import Delivery, Subscription
from webhooks.services import (
    WebhookError,
    delivery_attempt,
    delivery_redeliver,
    subscription_create,
    subscription_sealed_approve,
    subscription_sealed_withdraw,
    subscription_update,
    webhook_emit,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhooks/"
HR_REASON = "Grievance about the night-shift lead"


@pytest.fixture
def hr(db):
    return Department.objects.get(slug="hr")


@pytest.fixture
def harriet(db):
    user = UserFactory(username="harriet", first_name="Harriet", is_staff=True)
    member(user, "hr", role="manager")
    return user


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def session(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def hr_event(**item_fields) -> dict:
    event = routed_event("hr", **item_fields)
    event["payload"]["cases"][0]["reason"] = HR_REASON
    return event


def hr_sync(receiver, **owner) -> Subscription:
    """A subscription to HR's routed items, owned as `owner` says (owner_key_id/created_by)."""
    return subscription_create(
        name="hr sync",
        url=receiver.url,
        events=["item.routed"],
        departments=[Department.objects.get(slug="hr")],
        **owner,
    )


def received(subscription) -> list[dict]:
    return [
        d.payload["data"] for d in Delivery.objects.filter(subscription=subscription).order_by("id")
    ]


def test_hr_only_item_is_not_sent_to_unfiltered_subscriptions(root):
    everything = subscription_create(
        name="all", url="https://hooks.example.com/all", events=["item.routed"]
    )
    hr_tool = subscription_create(
        name="hr",
        url="https://hooks.example.com/hr",
        events=["item.routed"],
        departments=[Department.objects.get(slug="hr")],
        created_by=root,  # a superuser's own subscription is approved at once
    )
    Department.objects.update(routing_threshold=1.01)
    Department.objects.filter(slug="hr").update(routing_threshold=0.0)
    hr_only = FeedbackItemFactory(body="My manager shouts at the night shift")
    items_route(item_ids=[hr_only.pk])
    Department.objects.filter(slug="support").update(routing_threshold=0.0)
    both = FeedbackItemFactory(body="Pay slip wrong and the app crashed")
    items_route(item_ids=[both.pk])

    def departments(subscription):
        return [{c["department"] for c in data["cases"]} for data in received(subscription)]

    # The unfiltered subscription hears only support's part of the second item.
    assert departments(everything) == [{"support"}]
    assert sorted(map(sorted, departments(hr_tool))) == [["hr"], ["hr"]]


def test_a_keys_hr_subscription_gets_nothing_of_hr_until_hrs_manager_approves_it(
    hooks_api, harriet, receiver
):
    created = hooks_api.post(
        URL,
        {"name": "hr sync", "url": receiver.url, "events": ["item.routed"], "departments": ["hr"]},
        format="json",
    )
    assert created.status_code == 201
    assert created.json()["sealed_awaiting_approval"] == ["hr"]
    assert created.json()["sealed_approved_for"] == []
    pk = created.json()["id"]

    webhook_emit(**hr_event())
    assert not Delivery.objects.exists()
    assert hooks_api.get(f"{URL}{pk}/deliveries/").json()["results"] == []

    # The key cannot approve its own subscription; HR's manager can.
    assert hooks_api.post(f"{URL}{pk}/approve/").status_code == 403
    approved = session(harriet).post(f"{URL}{pk}/approve/")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["sealed_approved_for"] == ["hr"]
    assert approved.json()["sealed_awaiting_approval"] == []
    assert approved.json()["sealed_approved_by"] == "harriet"

    webhook_emit(**hr_event())
    log = hooks_api.get(f"{URL}{pk}/deliveries/").json()["results"]
    assert [d["payload"]["data"]["cases"][0]["reason"] for d in log] == [HR_REASON]


def test_only_hrs_manager_or_a_superuser_approves(hooks_api, sam, harriet, root, receiver):
    subscription = hr_sync(receiver, owner_key_id=hooks_api.key.pk)
    # Sam (staff, not in HR) does not even see the key's subscription.
    assert session(sam).post(f"{URL}{subscription.pk}/approve/").status_code == 404
    assert subscription.pk not in [s["id"] for s in session(sam).get(URL).json()]
    # HR's manager sees it, to review it; so does a superuser.
    assert subscription.pk in [s["id"] for s in session(harriet).get(URL).json()]
    assert session(root).post(f"{URL}{subscription.pk}/approve/").status_code == 200
    subscription.refresh_from_db()
    assert subscription.sealed_approved_for == ["hr"]
    assert subscription.sealed_approved_by == root
    # Staff outside HR may not approve, through the services either.
    with pytest.raises(WebhookError) as refused:
        subscription_sealed_approve(subscription=subscription, user=sam)
    assert refused.value.forbidden


def test_approving_a_subscription_without_a_sealed_department_is_a_conflict(
    harriet, support, receiver
):
    subscription = subscription_create(
        name="support",
        url=receiver.url,
        events=["item.routed"],
        departments=[support],
        created_by=harriet,
    )
    assert session(harriet).post(f"{URL}{subscription.pk}/approve/").status_code == 409


def test_hrs_manager_or_a_superuser_creating_it_approves_at_once(sam, harriet, root, receiver):
    body = {"url": receiver.url, "events": ["item.routed"], "departments": ["hr"]}
    by_sam = session(sam).post(URL, {**body, "name": "sam's"}, format="json").json()
    by_harriet = session(harriet).post(URL, {**body, "name": "harriet's"}, format="json").json()
    by_root = session(root).post(URL, {**body, "name": "root's"}, format="json").json()
    assert by_sam["sealed_awaiting_approval"] == ["hr"]
    assert by_harriet["sealed_approved_for"] == by_root["sealed_approved_for"] == ["hr"]

    webhook_emit(**hr_event())
    owed = set(Delivery.objects.values_list("subscription__name", flat=True))
    assert owed == {"harriet's", "root's"}


def test_a_new_url_from_the_key_drops_the_approval(hooks_api, harriet, receiver):
    subscription = hr_sync(receiver, owner_key_id=hooks_api.key.pk)
    subscription_sealed_approve(subscription=subscription, user=harriet)
    moved = hooks_api.patch(
        f"{URL}{subscription.pk}/", {"url": "https://elsewhere.example.com/"}, format="json"
    )
    assert moved.status_code == 200
    assert moved.json()["sealed_awaiting_approval"] == ["hr"]
    webhook_emit(**hr_event())
    assert not Delivery.objects.exists()

    # HR's manager moving it keeps it approved: they could approve it again.
    subscription.refresh_from_db()
    subscription_update(subscription=subscription, url=receiver.url, actor=harriet)
    subscription_sealed_approve(subscription=subscription, user=harriet)
    subscription_update(subscription=subscription, url=receiver.url + "v2", actor=harriet)
    assert subscription.sealed_approved_for == ["hr"]


def test_a_withdrawn_approval_stops_pending_hr_deliveries_and_their_redelivery(harriet, receiver):
    subscription = hr_sync(receiver, created_by=harriet)
    webhook_emit(**hr_event())  # pending: no commit in this test, so not sent yet
    delivery = Delivery.objects.get()
    assert delivery.sealed == ["hr"]
    subscription_sealed_withdraw(subscription=subscription)

    delivery = delivery_attempt(delivery_id=delivery.pk)
    assert delivery.status == "failed" and "not approved for hr" in delivery.error
    assert receiver.requests == []
    with pytest.raises(WebhookError, match="not approved for hr"):
        delivery_redeliver(delivery=delivery)


def test_a_handoff_out_of_hr_reaches_support_without_hrs_case(subscribe, support, hana, alice):
    everything = subscribe(name="all")
    support_only = subscribe(name="support", departments=[support])
    _, (hr_case,) = routed("hr", body="A candidate asks about the product roadmap")
    hr_case.reason = HR_REASON
    hr_case.save(update_fields=["reason"])

    case_share(case=hr_case, to_department=support, actor=hana, note="Over to support")

    for subscription in (everything, support_only):
        (data,) = received(subscription)
        assert data["from_case"] is None and data["from_department"] == "hr"
        assert data["to_case"]["department"] == "support"
        assert data["note"] == "Over to support"
        assert HR_REASON not in str(data)


def test_a_reroute_into_hr_tells_support_its_case_ended_but_not_hrs(subscribe, support, alice):
    everything = subscribe(name="all")
    _, (support_case,) = routed("support")
    case_reroute(case=support_case, to_department=Department.objects.get(slug="hr"), actor=alice)
    (data,) = received(everything)
    assert data["from_case"]["status"] == "dismissed" and data["to_case"] is None


def test_a_spike_in_hr_goes_to_approved_hr_subscriptions_only(subscribe, root, hr):
    everything = subscribe(name="all", events=["spike.detected"])
    hr_tool = subscribe(name="hr", events=["spike.detected"], departments=[hr], created_by=root)
    spike = {"dimension": "department", "key": "hr", "related_departments": []}
    webhook_emit(event="spike.detected", payload=spike, departments=["hr"])
    source_spike = {"dimension": "source", "key": "web", "related_departments": ["hr", "support"]}
    webhook_emit(event="spike.detected", payload=source_spike, departments=["hr", "support"])
    assert [d["related_departments"] for d in received(everything)] == [["support"]]
    assert [d["key"] for d in received(hr_tool)] == ["hr", "web"]


def test_the_admin_approves_and_withdraws(client, root, harriet, hooks_api, receiver):
    subscription = hr_sync(receiver, owner_key_id=hooks_api.key.pk)
    harriet.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_subscription", "change_subscription"])
    )
    client.force_login(harriet)
    listing = client.get("/admin/webhooks/subscription/")
    assert "awaiting approval: hr" in listing.content.decode()
    client.post(
        "/admin/webhooks/subscription/",
        {"action": "approve_sealed", "_selected_action": [subscription.pk]},
    )
    subscription.refresh_from_db()
    assert subscription.sealed_approved_for == ["hr"] and subscription.sealed_approved_by == harriet
    client.post(
        "/admin/webhooks/subscription/",
        {"action": "withdraw_sealed", "_selected_action": [subscription.pk]},
    )
    subscription.refresh_from_db()
    assert subscription.sealed_approved_for == []


def test_a_subscription_added_in_the_admin_by_a_superuser_is_approved(client, root, hr, receiver):
    client.force_login(root)
    response = client.post(
        "/admin/webhooks/subscription/add/",
        {
            "name": "HR desk",
            "url": receiver.url,
            "events": ["item.routed"],
            "departments": [hr.pk],
            "format": "json",
            "active": "on",
        },
    )
    assert response.status_code == 302
    subscription = Subscription.objects.get()
    assert subscription.created_by == root and subscription.sealed_approved_for == ["hr"]
