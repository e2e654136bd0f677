"""Each integration manages only its own subscriptions: another key's are 404 on every
endpoint (as if they did not exist), and so are their deliveries. A key needs the
`webhooks` scope; `write` alone (changing cases) is not enough."""

import pytest

from tests.webhooks.helpers import routed_event
from webhooks.models import Delivery, Subscription
from webhooks.services import webhook_emit

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhooks/"


@pytest.fixture
def ops_subscription(hooks_api, subscribe):
    """The ops integration's subscription, with one failed delivery in its log."""
    subscription = subscribe(owner_key_id=hooks_api.key.pk)
    webhook_emit(**routed_event("support"))
    Delivery.objects.update(status="failed", next_attempt_at=None)
    return subscription


def test_another_key_cannot_see_or_touch_it(other_hooks_api, ops_subscription):
    pk = ops_subscription.pk
    delivery = Delivery.objects.get()
    client = other_hooks_api
    assert client.get(URL).json() == []
    assert client.get(f"{URL}{pk}/").status_code == 404
    assert (
        client.patch(f"{URL}{pk}/", {"url": "https://evil.example/"}, format="json").status_code
        == 404
    )
    assert (
        client.put(
            f"{URL}{pk}/",
            {"name": "x", "url": "https://evil.example/", "events": ["item.routed"]},
            format="json",
        ).status_code
        == 404
    )
    assert client.post(f"{URL}{pk}/rotate-secret/").status_code == 404
    assert client.post(f"{URL}{pk}/redeliver-failed/").status_code == 404
    assert client.post(f"{URL}{pk}/approve/").status_code == 404
    assert client.get(f"{URL}{pk}/deliveries/").status_code == 404
    assert client.get(f"{URL}deliveries/{delivery.pk}/").status_code == 404
    assert client.post(f"{URL}deliveries/{delivery.pk}/redeliver/").status_code == 404
    assert client.delete(f"{URL}{pk}/").status_code == 404

    unchanged = Subscription.objects.get(pk=pk)
    assert unchanged.url == ops_subscription.url and unchanged.secret == ops_subscription.secret
    assert not Delivery.objects.filter(redelivery_of=delivery).exists()


def test_the_owner_can(hooks_api, ops_subscription):
    pk = ops_subscription.pk
    assert [s["id"] for s in hooks_api.get(URL).json()] == [pk]
    assert hooks_api.get(f"{URL}{pk}/deliveries/").json()["results"]
    assert hooks_api.post(f"{URL}{pk}/rotate-secret/").status_code == 200
    assert hooks_api.delete(f"{URL}{pk}/").status_code == 204


def test_a_write_only_key_cannot_manage_webhooks(write_api, ops_subscription, receiver):
    new = {"name": "x", "url": receiver.url, "events": ["item.routed"]}
    assert write_api.get(URL).status_code == 403
    assert write_api.post(URL, new, format="json").status_code == 403
    assert write_api.get(f"{URL}{ops_subscription.pk}/deliveries/").status_code == 403
    assert Subscription.objects.count() == 1


def test_staff_see_their_own_and_superusers_see_all(
    staff_api, sam, hooks_api, ops_subscription, subscribe
):
    mine = subscribe(name="sam's", created_by=sam)
    assert [s["id"] for s in staff_api.get(URL).json()] == [mine.pk]
    assert staff_api.get(f"{URL}{ops_subscription.pk}/").status_code == 404
    # The key does not see sam's either.
    assert [s["id"] for s in hooks_api.get(URL).json()] == [ops_subscription.pk]
    sam.is_superuser = True
    sam.save(update_fields=["is_superuser"])
    assert len(staff_api.get(URL).json()) == 2


def test_a_staff_admin_without_superuser_sees_only_their_delivery_log(
    client, sam, ops_subscription
):
    from django.contrib.auth.models import Permission

    sam.user_permissions.add(*Permission.objects.filter(content_type__app_label="webhooks"))
    client.force_login(sam)
    listing = client.get("/admin/webhooks/delivery/")
    assert listing.status_code == 200
    delivery = Delivery.objects.get()
    assert f"/admin/webhooks/delivery/{delivery.pk}/" not in listing.content.decode()
    assert client.get(f"/admin/webhooks/delivery/{delivery.pk}/change/").status_code in (302, 404)
