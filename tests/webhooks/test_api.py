"""The webhook API: staff sessions and `webhooks`-scope keys manage their own subscriptions
and redeliver; everyone else is refused. Errors are problem details."""

import pytest
from rest_framework.test import APIClient

from tests.webhooks.helpers import routed_event
from webhooks.models import Delivery, Subscription
from webhooks.services import webhook_emit

pytestmark = pytest.mark.django_db

URL = "/api/v1/webhooks/"


def new(receiver, **fields):
    return {"name": "ops", "url": receiver.url, "events": ["item.routed"], **fields}


def test_staff_creates_a_subscription_and_sees_the_secret_once(staff_api, receiver):
    response = staff_api.post(
        URL, new(receiver, departments=["support", "product"], format="slack"), format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    subscription = Subscription.objects.get(pk=body["id"])
    assert body["secret"] == subscription.secret and body["secret"].startswith("whsec_")
    assert sorted(body["departments"]) == ["product", "support"]
    assert body["format"] == "slack" and body["active"] is True
    assert body["deliveries_url"].endswith(f"/api/v1/webhooks/{subscription.pk}/deliveries/")

    listed = staff_api.get(URL).json()
    assert [s["id"] for s in listed] == [subscription.pk]
    assert "secret" not in listed[0] and listed[0]["secret_hint"].endswith("…")
    assert "secret" not in staff_api.get(f"{URL}{subscription.pk}/").json()


def test_a_webhooks_key_manages_its_subscriptions(hooks_api, receiver):
    created = hooks_api.post(URL, new(receiver), format="json")
    assert created.status_code == 201
    pk = created.json()["id"]
    assert Subscription.objects.get(pk=pk).owner_key == hooks_api.key
    patched = hooks_api.patch(
        f"{URL}{pk}/", {"active": False, "events": ["case.shared"]}, format="json"
    )
    assert patched.status_code == 200
    assert patched.json()["active"] is False and patched.json()["events"] == ["case.shared"]
    assert hooks_api.delete(f"{URL}{pk}/").status_code == 204
    assert not Subscription.objects.exists()


@pytest.mark.parametrize("who", ["read_key", "write_key", "agent", "no_department"])
def test_others_are_refused(who, request, api, write_api, alice, charlie, receiver):
    client = {"read_key": api, "write_key": write_api}.get(who)
    if client is None:
        client = APIClient()
        client.force_login(alice if who == "agent" else charlie)
    response = client.post(URL, new(receiver), format="json")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert client.get(URL).status_code == 403
    assert not Subscription.objects.exists()


def test_anonymous_requests_must_authenticate(anon_api):
    assert anon_api.get(URL).status_code == 401


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": "ftp://example.com/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"events": ["item.exploded"]}, "events"),
        ({"events": []}, "events"),
        ({"departments": ["nope"]}, "departments"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(staff_api, receiver, fields, field):
    response = staff_api.post(URL, new(receiver, **fields), format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["type"].endswith("/validation") and field in body["errors"]


def test_a_private_address_is_refused_in_production(staff_api, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = False
    response = staff_api.post(
        URL, {"name": "x", "url": "http://127.0.0.1:9/", "events": ["item.routed"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"]["url"] == ["Refused: 127.0.0.1 is a loopback address."]


def test_the_delivery_log_is_newest_first_with_cursor_pages(
    staff_api, sam, subscribe, django_assert_max_num_queries
):
    subscription = subscribe(created_by=sam)
    for _ in range(5):
        webhook_emit(**routed_event("support"))
    Delivery.objects.filter(pk=Delivery.objects.order_by("id").first().pk).update(status="failed")
    ids = list(Delivery.objects.order_by("-id").values_list("id", flat=True))

    url = f"{URL}{subscription.pk}/deliveries/?page_size=2"
    with django_assert_max_num_queries(4):
        first = staff_api.get(url).json()
    assert [d["id"] for d in first["results"]] == ids[:2]
    second = staff_api.get(first["next"]).json()
    assert [d["id"] for d in second["results"]] == ids[2:4]
    failed = staff_api.get(f"{URL}{subscription.pk}/deliveries/?status=failed").json()
    assert [d["id"] for d in failed["results"]] == [ids[-1]]
    assert staff_api.get(f"{URL}999999/deliveries/").status_code == 404


def test_redeliver_endpoint_sends_again(
    hooks_api, subscribe, receiver, django_capture_on_commit_callbacks
):
    subscribe(owner_key_id=hooks_api.key.pk)
    receiver.status = 503
    webhook_emit(**routed_event("support"))  # pending, enqueue lost (no commit in this test)
    delivery = Delivery.objects.get()
    pending = hooks_api.post(f"{URL}deliveries/{delivery.pk}/redeliver/")
    assert pending.status_code == 409

    Delivery.objects.filter(pk=delivery.pk).update(status="failed", next_attempt_at=None)
    receiver.status = 200
    with django_capture_on_commit_callbacks(execute=True):
        response = hooks_api.post(f"{URL}deliveries/{delivery.pk}/redeliver/")
    assert response.status_code == 202
    redelivery = Delivery.objects.get(pk=response.json()["id"])
    assert redelivery.redelivery_of_id == delivery.pk and redelivery.status == "succeeded"
    assert len(receiver.requests) == 1
    detail = hooks_api.get(f"{URL}deliveries/{redelivery.pk}/").json()
    assert detail["status"] == "succeeded" and detail["response_code"] == 200


def test_redeliver_failed_endpoint_and_refusals(api, write_api, hooks_api, subscribe):
    subscription = subscribe(owner_key_id=hooks_api.key.pk)
    webhook_emit(**routed_event("support"))
    Delivery.objects.update(status="failed", next_attempt_at=None)
    delivery = Delivery.objects.get()
    assert api.post(f"{URL}deliveries/{delivery.pk}/redeliver/").status_code == 403
    assert write_api.post(f"{URL}{subscription.pk}/redeliver-failed/").status_code == 403
    response = hooks_api.post(f"{URL}{subscription.pk}/redeliver-failed/")
    assert response.status_code == 202 and response.json() == {"redelivered": 1}
    assert hooks_api.post(f"{URL}{subscription.pk}/redeliver-failed/").json() == {"redelivered": 0}


def test_rotating_the_secret_shows_the_new_one_once(staff_api, sam, subscribe):
    subscription = subscribe(created_by=sam)
    old = subscription.secret
    response = staff_api.post(f"{URL}{subscription.pk}/rotate-secret/")
    assert response.status_code == 200
    subscription.refresh_from_db()
    assert response.json()["secret"] == subscription.secret != old


def test_listing_subscriptions_has_a_bounded_query_count(
    staff_api, sam, subscribe, support, product, django_assert_max_num_queries
):
    for i in range(5):
        subscribe(name=f"s{i}", departments=[support, product], created_by=sam)
    with django_assert_max_num_queries(4):
        assert len(staff_api.get(URL).json()) == 5
