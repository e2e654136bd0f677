"""The admin: subscriptions with their secret, the delivery log, and redelivery."""

import pytest

from tests.factories import UserFactory
from tests.webhooks.helpers import routed_event
from webhooks.models import Delivery, Subscription
from webhooks.services import webhook_emit

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def failed(subscribe):
    subscribe()
    webhook_emit(**routed_event("support"))
    Delivery.objects.update(status="failed", next_attempt_at=None, response_code=500)
    return Delivery.objects.get()


def test_an_admin_adds_a_subscription_with_event_checkboxes(admin_client, receiver, support):
    response = admin_client.post(
        "/admin/webhooks/subscription/add/",
        {
            "name": "Slack #support",
            "url": receiver.url,
            "events": ["item.routed", "case.shared"],
            "departments": [support.pk],
            "format": "slack",
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content
    subscription = Subscription.objects.get()
    assert subscription.events == ["item.routed", "case.shared"]
    assert list(subscription.departments.values_list("slug", flat=True)) == ["support"]
    page = admin_client.get(f"/admin/webhooks/subscription/{subscription.pk}/change/")
    assert subscription.secret in page.content.decode()


def test_the_admin_refuses_a_non_http_url(admin_client):
    response = admin_client.post(
        "/admin/webhooks/subscription/add/",
        {"name": "x", "url": "ftp://example.com/", "events": ["item.routed"], "format": "json"},
    )
    assert response.status_code == 200 and not Subscription.objects.exists()


def test_the_delivery_log_is_readable(admin_client, failed):
    listing = admin_client.get("/admin/webhooks/delivery/")
    assert listing.status_code == 200 and f"/admin/webhooks/delivery/{failed.pk}/" in (
        listing.content.decode()
    )
    page = admin_client.get(f"/admin/webhooks/delivery/{failed.pk}/change/")
    content = page.content.decode()
    assert page.status_code == 200
    assert "Redeliver</button>" in content and "item.routed" in content


def test_redeliver_selected(admin_client, failed, receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/webhooks/delivery/",
            {"action": "redeliver", "_selected_action": [failed.pk]},
        )
    assert response.status_code == 302
    redelivery = Delivery.objects.get(redelivery_of=failed)
    assert redelivery.status == "succeeded" and len(receiver.requests) == 1


def test_the_redeliver_button(admin_client, failed, receiver):
    assert admin_client.get(f"/admin/webhooks/delivery/{failed.pk}/redeliver/").status_code == 405
    response = admin_client.post(f"/admin/webhooks/delivery/{failed.pk}/redeliver/")
    redelivery = Delivery.objects.get(redelivery_of=failed)
    assert response.status_code == 302
    assert response["Location"].endswith(f"/admin/webhooks/delivery/{redelivery.pk}/change/")
