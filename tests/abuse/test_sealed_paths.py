"""The sealed-department leaks and side findings of the review, one test each, and the
access layer's own guarantees (config/access.py): an unscoped read in a request fails
loudly, a scoped query cannot join hidden rows, and each test here failed on the code
before the access layer."""

import pytest
from django.db.models import Exists, OuterRef
from rest_framework.test import APIClient

from config.access import UnscopedRead, guarded
from departments.models import Case, CaseEvent, Department, Note
from departments.services import ActionError, case_set_status, case_share, note_add
from feedback.models import FeedbackItem
from routing.services import items_route
from tests.factories import FeedbackItemFactory, UserFactory, member

pytestmark = pytest.mark.django_db


def dept(slug: str) -> Department:
    return Department.objects.get(slug=slug)


def case(item, slug, **fields) -> Case:
    return Case.objects.create(item=item, department=dept(slug), routed_by="model", **fields)


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


# --- the guard ------------------------------------------------------------------------------


def test_an_unscoped_read_in_a_request_fails_loudly(alice):
    FeedbackItemFactory()
    with guarded():
        with pytest.raises(UnscopedRead, match="without naming the viewer"):
            list(FeedbackItem.objects.all())
        with pytest.raises(UnscopedRead):  # a subquery counts too
            list(
                FeedbackItem.objects.visible_to(alice).filter(
                    Exists(Case.objects.filter(item=OuterRef("pk")))
                )
            )
        with pytest.raises(UnscopedRead):  # and a related manager
            list(FeedbackItem.objects.visible_to(alice).first().cases.all())
        with pytest.raises(UnscopedRead, match="joins departments_case"):
            list(FeedbackItem.objects.visible_to(alice).filter(cases__department__slug="hr"))
        assert FeedbackItem.objects.visible_to(alice).count() == 1
        assert FeedbackItem.objects.unscoped().count() == 1
    assert len(list(FeedbackItem.objects.all())) == 1  # outside a request: the system


def test_pages_and_the_api_run_guarded(alice, client):
    """The middleware turns the guard on for every view but the admin's."""
    seen = {}

    def spy(request):
        from config.access import guard_active

        seen["active"] = guard_active()

    from departments import views

    original = views._nav
    try:
        views._nav = lambda request, **kw: (spy(request), original(request, **kw))[1]
        client.force_login(alice)
        assert client.get("/queue/support/").status_code == 200
    finally:
        views._nav = original
    assert seen == {"active": True}


# --- leak 3: filters as an oracle ----------------------------------------------------------


def test_a_department_filter_does_not_find_items_by_their_hidden_hr_case(alice):
    shared = FeedbackItemFactory(body="Support and HR both")
    case(shared, "support")
    case(shared, "hr", status="waiting")
    plain = FeedbackItemFactory(body="Only support")
    case(plain, "support")
    client = api_as(alice)
    as_hr = client.get("/api/v1/feedback/", {"department": "hr"}).json()["results"]
    as_nothing = client.get("/api/v1/feedback/", {"department": "nope"}).json()["results"]
    assert as_hr == as_nothing == []
    by_status = client.get("/api/v1/feedback/", {"case_status": "waiting"}).json()["results"]
    assert by_status == []


# --- leak 4: scores and tags -----------------------------------------------------------------


def test_an_item_shared_with_support_shows_no_hr_score_or_hr_case(alice, client):
    item = FeedbackItemFactory(
        body="shared", state="routed", scores={"hr": 0.97, "support": 0.6, "noise": 0.01}
    )
    case(item, "support")
    case(item, "hr", tags=["grievance"], reason="HR rule")
    data = api_as(alice).get(f"/api/v1/feedback/{item.pk}/").json()
    assert set(data["scores"]) == {"support", "noise"}
    assert [c["department"] for c in data["cases"]] == ["support"]
    client.force_login(alice)
    page = client.get(f"/items/{item.pk}/").content.decode()
    assert "0.97" not in page and "grievance" not in page and "HR rule" not in page


# --- leak 5: the shared triage inbox ------------------------------------------------------


def test_an_unsure_post_leaning_to_hr_waits_in_hrs_own_triage(alice, hana, client, settings):
    settings.SEALED_TRIAGE_FLOOR = 0.0  # any HR score counts: the test is about the path
    Department.objects.update(routing_threshold=1.01)  # nobody is sure: triage
    item = FeedbackItemFactory(
        body="current employee, throwaway account, morale is not great", state="received"
    )
    items_route(item_ids=[item.pk])
    item.refresh_from_db()
    assert item.state == "triage" and item.triage_department.slug == "hr"
    client.force_login(alice)
    assert client.get(f"/items/{item.pk}/").status_code == 404
    assert "morale" not in client.get("/triage/").content.decode()
    assert client.get("/triage/?inbox=hr").status_code == 404
    client.force_login(hana)
    assert "morale" not in client.get("/triage/").content.decode()
    assert "morale" in client.get("/triage/?inbox=hr").content.decode()
    # Routing it from HR's triage takes it out, into HR.
    response = client.post(f"/items/{item.pk}/route/", {"department": ["hr"]})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.state == "routed" and item.triage_department is None


def test_below_the_floor_a_post_stays_in_the_shared_inbox(settings):
    settings.SEALED_TRIAGE_FLOOR = 1.5  # no score reaches it
    Department.objects.update(routing_threshold=1.01)
    item = FeedbackItemFactory(body="current employee, morale is not great", state="received")
    items_route(item_ids=[item.pk])
    item.refresh_from_db()
    assert item.state == "triage" and item.triage_department is None


# --- side findings -------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["reroute", "share"])
def test_handing_a_case_to_hr_over_the_api_answers_with_the_callers_own_case(alice, action):
    item = FeedbackItemFactory(body="my manager shouts at me")
    mine = case(item, "support")
    response = api_as(alice).post(
        f"/api/v1/cases/{mine.pk}/{action}/", {"department": "hr"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["id"] == mine.pk and response.json()["department"] == "support"
    assert Case.objects.filter(item=item, department__slug="hr").exists()


def test_a_non_member_sharing_into_hr_neither_reopens_nor_unassigns_its_closed_case(alice, hana):
    item = FeedbackItemFactory(body="harassment, again")
    mine = case(item, "support")
    theirs = case(item, "hr", assignee=hana)
    case_set_status(case=theirs, status="resolved", actor=hana)
    case_share(case=mine, to_department=dept("hr"), actor=alice, note="it happened again")
    theirs.refresh_from_db()
    assert theirs.status == "resolved" and theirs.assignee == hana
    # HR still hears of it on its own case's timeline.
    assert CaseEvent.objects.filter(case=theirs, kind="shared", note="it happened again").exists()
    # HR itself reopens its case as before (sharing into it from a case of its own).
    other = FeedbackItemFactory(body="other")
    closed = case(other, "support", status="resolved")
    hr_open = case(other, "hr")
    case_share(case=hr_open, to_department=dept("support"), actor=hana)
    closed.refresh_from_db()
    assert closed.status == "new"


def test_someone_in_hr_and_support_files_a_note_where_they_choose(alice, hana):
    both = UserFactory(username="pat")
    member(both, "support")
    member(both, "hr")
    item = FeedbackItemFactory(body="shared item")
    case(item, "support")
    case(item, "hr")
    with pytest.raises(ActionError, match="choose which"):
        note_add(item=item, actor=both, body="which one?")
    hr_note = note_add(item=item, actor=both, body="HR only", department=dept("hr"))
    assert hr_note.department.slug == "hr"
    assert not Note.objects.visible_to(alice).filter(pk=hr_note.pk).exists()
    assert Note.objects.visible_to(hana).filter(pk=hr_note.pk).exists()
    # Its event is HR's too.
    assert not CaseEvent.objects.visible_to(alice).filter(kind="noted", item=item).exists()


def test_staff_who_are_not_superusers_do_not_see_hr(alice):
    staff = UserFactory(username="ops", is_staff=True)
    item = FeedbackItemFactory(body="HR only")
    case(item, "hr")
    assert not FeedbackItem.objects.visible_to(staff).filter(pk=item.pk).exists()
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    assert FeedbackItem.objects.visible_to(superuser).filter(pk=item.pk).exists()
