"""The cases API: same services and access rules as the browser; bounded queries."""

import json

import pytest
from rest_framework.test import APIClient

from departments.models import Case, CaseEvent, Department
from feedback.services import apikey_create
from tests.factories import FeedbackItemFactory, UserFactory, member

pytestmark = pytest.mark.django_db


def dept(slug):
    return Department.objects.get(slug=slug)


def make_case(slug, body="Order 42 never arrived", **item_fields):
    item = FeedbackItemFactory(body=body, state="routed", **item_fields)
    return Case.objects.create(item=item, department=dept(slug), routed_by="model")


@pytest.fixture
def as_alice(alice):
    client = APIClient()
    client.force_login(alice)
    return client


def key_client(source, scopes, acts_as=None):
    _, raw = apikey_create(name="tool", source=source, scopes=scopes, acts_as=acts_as)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def patch(client, url, data):
    return client.patch(url, data=json.dumps(data), content_type="application/json")


def post(client, url, data=None):
    return client.post(url, data=json.dumps(data or {}), content_type="application/json")


def test_list_filters_and_paginates_with_bounded_queries(as_alice, django_assert_max_num_queries):
    for i in range(30):
        make_case("support", body=f"parcel {i} is late")
    make_case("product", body="dark mode please")
    with django_assert_max_num_queries(8):
        response = as_alice.get("/api/v1/cases/?department=support&page_size=10")
    data = response.json()
    assert response.status_code == 200 and len(data["results"]) == 10 and data["next"]
    assert {c["department"] for c in data["results"]} == {"support"}
    second = as_alice.get(data["next"]).json()
    assert not {c["id"] for c in data["results"]} & {c["id"] for c in second["results"]}
    found = as_alice.get("/api/v1/cases/?q=dark%20mode").json()["results"]
    assert [c["item"]["body"] for c in found] == ["dark mode please"]


def test_sealed_hr_cases_are_invisible_to_other_departments(as_alice, hana):
    hr_case = make_case("hr", body="My manager shouts at the team")
    assert as_alice.get(f"/api/v1/cases/{hr_case.pk}/").status_code == 404
    assert hr_case.pk not in [c["id"] for c in as_alice.get("/api/v1/cases/").json()["results"]]
    assert as_alice.get(f"/api/v1/feedback/{hr_case.item_id}/").status_code == 404
    hana_client = APIClient()
    hana_client.force_login(hana)
    assert hana_client.get(f"/api/v1/cases/{hr_case.pk}/").status_code == 200


def test_update_status_assignee_and_tags(as_alice, alice):
    case = make_case("support")
    response = patch(
        as_alice,
        f"/api/v1/cases/{case.pk}/",
        {"assignee": "alice", "status": "waiting", "add_tags": ["Refund"]},
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert (
        data["assignee"] == "alice" and data["status"] == "waiting" and data["tags"] == ["refund"]
    )
    assert data["first_response_at"]
    kinds = set(CaseEvent.objects.filter(case=case).values_list("kind", flat=True))
    assert kinds == {"assigned", "status_changed", "tagged"}


def test_dismiss_without_reason_is_a_400_with_a_message(as_alice):
    case = make_case("support")
    response = patch(as_alice, f"/api/v1/cases/{case.pk}/", {"status": "dismissed"})
    assert response.status_code == 400
    assert "needs a reason" in json.dumps(response.json())


def test_agent_cannot_update_another_departments_case(as_alice):
    case = make_case("product")
    response = patch(as_alice, f"/api/v1/cases/{case.pk}/", {"status": "open"})
    assert response.status_code == 403
    assert "Only Product can act" in response.json()["detail"]


def test_reroute_and_share(as_alice):
    case = make_case("support")
    response = post(
        as_alice,
        f"/api/v1/cases/{case.pk}/reroute/",
        {"department": "product", "note": "Checkout bug"},
    )
    assert response.status_code == 200 and response.json()["department"] == "product"
    other = make_case("support")
    shared = post(as_alice, f"/api/v1/cases/{other.pk}/share/", {"department": "marketing"})
    assert shared.json()["department"] == "marketing"
    assert (
        post(as_alice, f"/api/v1/cases/{other.pk}/share/", {"department": "nope"}).status_code
        == 400
    )


def test_second_claim_is_a_409(as_alice, alice):
    case = make_case("support")
    maria = UserFactory(username="maria")
    member(maria, "support")
    assert post(as_alice, f"/api/v1/cases/{case.pk}/claim/").status_code == 200
    other = APIClient()
    other.force_login(maria)
    response = post(other, f"/api/v1/cases/{case.pk}/claim/")
    assert response.status_code == 409 and "Already claimed by alice" in response.json()["detail"]


def test_notes_and_timeline(as_alice):
    case = make_case("support")
    assert (
        post(as_alice, f"/api/v1/cases/{case.pk}/notes/", {"body": "Called them"}).status_code
        == 201
    )
    notes = as_alice.get(f"/api/v1/cases/{case.pk}/notes/").json()
    assert [n["body"] for n in notes] == ["Called them"]
    kinds = [e["kind"] for e in as_alice.get(f"/api/v1/cases/{case.pk}/events/").json()]
    assert kinds == ["noted"]


def test_keys_follow_scopes_and_their_user(source, alice):
    case = make_case("support", source=source)
    reader = key_client(source, ["read"])
    assert reader.get(f"/api/v1/cases/{case.pk}/").status_code == 200
    assert patch(reader, f"/api/v1/cases/{case.pk}/", {"status": "open"}).status_code == 403
    unlinked = key_client(source, ["read", "write"])
    response = patch(unlinked, f"/api/v1/cases/{case.pk}/", {"status": "open"})
    assert response.status_code == 403 and "not linked to a user" in response.json()["detail"]
    linked = key_client(source, ["read", "write"], acts_as=alice)
    assert patch(linked, f"/api/v1/cases/{case.pk}/", {"status": "open"}).status_code == 200


def test_departments_rules_versions_and_stats(as_alice):
    make_case("support")
    assert {d["slug"] for d in as_alice.get("/api/v1/departments/").json()} >= {"support", "hr"}
    assert as_alice.get("/api/v1/rules/").status_code == 200
    assert as_alice.get("/api/v1/classifier-versions/").status_code == 200
    stats = as_alice.get("/api/v1/stats/").json()
    support = next(d for d in stats["departments"] if d["slug"] == "support")
    assert support["open"] == 1
    assert "hr" not in {d["slug"] for d in stats["departments"]}  # sealed, alice not in HR
