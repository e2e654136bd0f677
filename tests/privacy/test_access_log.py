"""Who opened a sealed department's case is logged, and only its managers read the log."""

import csv
import io

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from departments.models import Case, Department
from feedback.services import apikey_create
from privacy.models import SealedAccess
from tests.privacy.conftest import make_case

pytestmark = pytest.mark.django_db

LOG = "/departments/hr/access-log/"


def entries(**filters):
    return list(
        SealedAccess.objects.filter(**filters).values_list("user__username", "case_id", "via")
    )


def test_an_hr_members_visit_is_logged_and_hr_manager_sees_it(client, hana, helen):
    hr_case = make_case("hr")
    client.force_login(hana)
    assert client.get(f"/items/{hr_case.item_id}/").status_code == 200
    entry = SealedAccess.objects.get()
    assert (entry.user, entry.case, entry.item_id, entry.department.slug, entry.via) == (
        hana,
        hr_case,
        hr_case.item_id,
        "hr",
        "page",
    )

    client.force_login(helen)
    html = client.get(LOG).content.decode()
    assert "Hana" in html and f"#{hr_case.pk}" in html and "Item page" in html
    assert "shouts at the night team" in html  # the post, for the manager to recognise it


def test_cases_outside_sealed_departments_are_not_logged(client, alice, hana):
    support_case = make_case("support", body="My parcel is late")
    client.force_login(alice)
    client.get(f"/items/{support_case.item_id}/")
    # An item HR shares with support: alice sees only support's case, so nothing of HR's.
    shared = make_case("hr")
    Case.objects.create(
        item=shared.item, department=Department.objects.get(slug="support"), routed_by="person"
    )
    assert client.get(f"/items/{shared.item_id}/").status_code == 200
    assert entries() == []
    client.force_login(hana)
    client.get(f"/items/{shared.item_id}/")
    assert entries() == [("hana", shared.pk, "page")]


def test_a_reload_within_a_minute_is_logged_once(client, hana):
    hr_case = make_case("hr")
    client.force_login(hana)
    client.get(f"/items/{hr_case.item_id}/")
    client.get(f"/items/{hr_case.item_id}/")
    assert len(entries()) == 1
    cache.clear()  # as if the minute had passed
    client.get(f"/items/{hr_case.item_id}/")
    assert len(entries()) == 2


def test_api_reads_are_logged_with_the_key(hana, source):
    hr_case = make_case("hr", source=source)
    session = APIClient()
    session.force_login(hana)
    assert session.get(f"/api/v1/cases/{hr_case.pk}/").status_code == 200
    assert entries() == [("hana", hr_case.pk, "api")]

    cache.clear()
    key, raw = apikey_create(name="hr tool", source=source, scopes=["read"], acts_as=hana)
    tool = APIClient()
    tool.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert tool.get(f"/api/v1/feedback/{hr_case.item_id}/").status_code == 200
    assert tool.get(f"/api/v1/cases/{hr_case.pk}/notes/").status_code == 200
    by_key = SealedAccess.objects.get(api_key=key)  # the notes read was within the minute
    assert (by_key.user, by_key.case, by_key.viewer_name) == (hana, hr_case, "hr tool")


def test_a_key_that_cannot_see_hr_leaves_no_entry(api, source):
    hr_case = make_case("hr", source=source)
    # The key reads its source's items, never HR's cases: nothing of HR was shown.
    assert api.get(f"/api/v1/feedback/{hr_case.item_id}/").status_code == 200
    assert entries() == []


def test_an_export_logs_every_hr_case_in_it(client, helen):
    hr_cases = [make_case("hr", body=f"complaint {i}") for i in range(3)]
    make_case("support", body="parcel")
    client.force_login(helen)
    response = client.get("/dashboards/export.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 1 + 4  # the support case is exported too, and not logged
    assert sorted(entries()) == sorted(("helen", c.pk, "export") for c in hr_cases)


@pytest.mark.parametrize("persona", ["alice", "hana", "maria", "charlie"])
def test_the_log_is_hidden_from_everyone_but_hr_managers(client, persona, request):
    make_case("hr")
    client.force_login(request.getfixturevalue(persona))
    assert client.get(LOG).status_code == 404


def test_superusers_read_it_and_no_one_reads_a_log_of_an_open_department(client, root, maria):
    client.force_login(root)
    assert client.get(LOG).status_code == 200
    assert client.get("/departments/support/access-log/").status_code == 404
    client.force_login(maria)
    assert client.get("/departments/support/access-log/").status_code == 404
    client.logout()
    assert client.get(LOG)["Location"].startswith("/login/")


def test_the_queue_links_to_the_log_for_its_managers_only(client, hana, helen):
    client.force_login(helen)
    assert LOG in client.get("/queue/hr/").content.decode()
    client.force_login(hana)
    assert LOG not in client.get("/queue/hr/").content.decode()


def test_the_log_pages_newest_first_with_bounded_queries(
    client, helen, hana, django_assert_max_num_queries
):
    hr_case = make_case("hr")
    hr = Department.objects.get(slug="hr")
    SealedAccess.objects.bulk_create(
        SealedAccess(
            department=hr,
            case=hr_case,
            item=hr_case.item,
            user=hana,
            viewer_name="hana",
            via="page",
        )
        for _ in range(60)
    )
    newest = SealedAccess.objects.order_by("-at", "-id").first()
    client.force_login(helen)
    with django_assert_max_num_queries(9):  # 8, plus the header bell's unread count
        first = client.get(LOG)
    assert first.context["entries"][0] == newest
    assert len(first.context["entries"]) == 50 and first.context["has_next"]
    second = client.get(LOG, {"page": 2})
    assert len(second.context["entries"]) == 10 and not second.context["has_next"]


def test_the_admin_shows_the_log_read_only(client, root, hana):
    hr_case = make_case("hr")
    client.force_login(hana)
    client.get(f"/items/{hr_case.item_id}/")
    client.force_login(root)
    assert "hana" in client.get("/admin/privacy/sealedaccess/").content.decode()
    entry = SealedAccess.objects.get()
    assert client.get("/admin/privacy/sealedaccess/add/").status_code == 403
    change = client.post(f"/admin/privacy/sealedaccess/{entry.pk}/change/", {"viewer_name": "x"})
    assert change.status_code == 403 and SealedAccess.objects.get().viewer_name == "hana"
    assert client.post(f"/admin/privacy/sealedaccess/{entry.pk}/delete/").status_code == 403
