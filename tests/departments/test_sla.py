"""SLA policies by priority: business-hours arithmetic, targets per priority, the pause
while waiting on the customer, the migrated defaults, the queue order and the badges."""

import importlib
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.utils import timezone

from departments.filters import CaseFilter
from departments.models import BusinessHours, Case, Department, SlaPolicy
from departments.services import case_set_priority, case_set_status, triage_route
from departments.sla import (
    Hours,
    Targets,
    business_add,
    business_between,
    sla_badge,
    sla_policies_ensure,
    sla_targets,
)
from feedback.models import FeedbackItem
from tests.factories import FeedbackItemFactory

BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


OFFICE = Hours(BERLIN, frozenset(range(5)), time(9), time(17))  # Mon-Fri 9-17
NIGHTS = Hours(BERLIN, frozenset(range(7)), time(22), time(6))  # every night 22-06


# --- Business-hours arithmetic (no database) ----------------------------------------------


def test_without_business_hours_time_is_plain_addition():
    start = datetime(2026, 12, 4, 16, tzinfo=UTC)
    assert business_add(start, 2 * H, None) == start + 2 * H
    assert business_between(start, start + 5 * H, None) == 5 * H


def test_a_friday_afternoon_clock_runs_on_into_monday():
    friday = berlin(2026, 12, 4, 16)  # a Friday
    assert business_add(friday, 2 * H, OFFICE) == berlin(2026, 12, 7, 10)
    assert business_between(friday, berlin(2026, 12, 7, 10), OFFICE) == 2 * H
    # Nothing counts over the weekend.
    assert business_between(berlin(2026, 12, 5, 9), berlin(2026, 12, 6, 18), OFFICE) == timedelta(0)


def test_a_clock_started_after_hours_starts_next_morning():
    evening = berlin(2026, 12, 1, 20)  # Tuesday evening
    assert business_add(evening, H, OFFICE) == berlin(2026, 12, 2, 10)
    assert business_add(berlin(2026, 12, 2, 7), 8 * H, OFFICE) == berlin(2026, 12, 2, 17)
    assert business_add(berlin(2026, 12, 2, 16), 3 * H, OFFICE) == berlin(2026, 12, 3, 11)


def test_an_overnight_window_crosses_midnight():
    assert business_add(berlin(2026, 12, 1, 23), 3 * H, NIGHTS) == berlin(2026, 12, 2, 2)
    # 7 h left that night, then the next night from 22:00.
    assert business_add(berlin(2026, 12, 1, 23), 8 * H, NIGHTS) == berlin(2026, 12, 2, 23)
    # A window that started the evening before still counts after midnight.
    assert business_add(berlin(2026, 12, 2, 1), H, NIGHTS) == berlin(2026, 12, 2, 2)


def test_daylight_saving_nights_are_an_hour_shorter_or_longer():
    # Berlin springs forward in the night to Sunday 29 March 2026 and falls back in the
    # night to Sunday 25 October 2026.
    spring = business_between(berlin(2026, 3, 28, 22), berlin(2026, 3, 29, 6), NIGHTS)
    autumn = business_between(berlin(2026, 10, 24, 22), berlin(2026, 10, 25, 6), NIGHTS)
    assert (spring, autumn) == (7 * H, 9 * H)
    assert business_add(berlin(2026, 3, 28, 22), 8 * H, NIGHTS) == berlin(2026, 3, 29, 23)
    assert business_add(berlin(2026, 10, 24, 22), 9 * H, NIGHTS) == berlin(2026, 10, 25, 6)
    # Office hours on a DST Monday are still 9 to 17 local time.
    assert business_add(berlin(2026, 3, 27, 16), 2 * H, OFFICE) == berlin(2026, 3, 30, 10)


@pytest.mark.parametrize("hours", [OFFICE, NIGHTS])
def test_adding_then_measuring_gives_back_the_duration(hours):
    start = berlin(2026, 3, 26, 13, 17)
    for minutes in (0, 1, 59, 481, 3000, 10_000):
        duration = timedelta(minutes=minutes)
        assert business_between(start, business_add(start, duration, hours), hours) == duration


# --- Targets by priority --------------------------------------------------------------------


def dept(slug: str) -> Department:
    return Department.objects.get(slug=slug)


@pytest.mark.django_db
def test_an_urgent_harassment_report_is_due_in_an_hour_a_low_one_in_a_day(hana):
    urgent, low = (
        FeedbackItemFactory(
            body="My manager harasses me", state=FeedbackItem.State.TRIAGE, priority=priority
        )
        for priority in ("urgent", "low")
    )
    [urgent_case] = triage_route(item=urgent, departments=[dept("hr")], actor=hana)
    [low_case] = triage_route(item=low, departments=[dept("hr")], actor=hana)
    assert urgent_case.due_at - urgent_case.created_at == H
    assert urgent_case.resolution_due_at - urgent_case.created_at == 8 * H
    assert low_case.due_at - low_case.created_at == 24 * H
    assert low_case.resolution_due_at - low_case.created_at == timedelta(days=7)
    assert urgent_case.sla_due_at == urgent_case.due_at
    assert sla_targets(urgent_case) == Targets(H, 8 * H)


@pytest.mark.django_db
def test_routing_gives_each_case_its_departments_policy_and_business_hours():
    from routing.services import items_route

    Department.objects.exclude(slug="support").update(routing_threshold=1.01)
    Department.objects.filter(slug="support").update(routing_threshold=0.0)
    SlaPolicy.objects.filter(department__slug="support").update(first_response=3 * H)
    BusinessHours.objects.create(
        department=dept("support"), timezone="Europe/Berlin", start=time(9), end=time(17)
    )
    item = FeedbackItemFactory(body="Where is my parcel?")
    items_route(item_ids=[item.pk])
    case = Case.objects.get(item=item, department__slug="support")
    assert business_between(case.created_at, case.due_at, OFFICE) == 3 * H
    assert case.due_at.astimezone(BERLIN).weekday() < 5
    assert time(9) <= case.due_at.astimezone(BERLIN).time() <= time(17)


@pytest.mark.django_db
def test_changing_the_priority_moves_the_due_times(alice):
    item = FeedbackItemFactory(state=FeedbackItem.State.TRIAGE)
    [case] = triage_route(item=item, departments=[dept("support")], actor=alice)
    assert case.due_at - case.created_at == 2 * H  # support's own target
    case = case_set_priority(case=case, priority="urgent", actor=alice)
    case.refresh_from_db()
    assert case.due_at - case.created_at == H and case.sla_due_at == case.due_at
    assert case.resolution_due_at - case.created_at == 8 * H
    assert case.events.filter(kind="prioritized", data__to="urgent").exists()


# --- The pause while waiting on the customer ------------------------------------------------


@pytest.mark.django_db
def test_waiting_on_the_customer_pauses_the_resolution_clock(alice):
    item = FeedbackItemFactory(state=FeedbackItem.State.TRIAGE)
    [case] = triage_route(item=item, departments=[dept("support")], actor=alice)
    promised = case.resolution_due_at
    case = case_set_status(case=case, status="waiting", actor=alice)
    case.refresh_from_db()
    assert case.sla_paused_at is not None and case.sla_due_at is None
    assert sla_badge(case, now=timezone.now()).tone == "paused"
    # Three hours pass while the customer is away.
    Case.objects.filter(pk=case.pk).update(sla_paused_at=case.sla_paused_at - 3 * H)
    case.refresh_from_db()
    case = case_set_status(case=case, status="open", actor=alice)
    case.refresh_from_db()
    assert case.sla_paused_at is None
    assert abs(case.sla_paused - 3 * H) < timedelta(seconds=5)
    assert case.resolution_due_at == promised + case.sla_paused
    assert case.sla_due_at == case.resolution_due_at  # responded: resolution is next


@pytest.mark.django_db
def test_a_paused_case_whose_due_time_has_passed_is_not_counted_as_missed(alice):
    item = FeedbackItemFactory(state=FeedbackItem.State.TRIAGE)
    [case] = triage_route(item=item, departments=[dept("support")], actor=alice)
    case = case_set_status(case=case, status="waiting", actor=alice)
    now = timezone.now()
    # Waiting since a day ago, due (before the pause) an hour from then: not missed.
    Case.objects.filter(pk=case.pk).update(
        sla_paused_at=now - 24 * H, resolution_due_at=now - 23 * H
    )
    missed = CaseFilter({"resolution": "missed"}, queryset=Case.objects.all()).qs
    assert not missed.filter(pk=case.pk).exists()
    # Due before the pause began: missed.
    Case.objects.filter(pk=case.pk).update(resolution_due_at=now - 25 * H)
    assert missed.filter(pk=case.pk).exists()


@pytest.mark.django_db
def test_the_rollups_count_a_paused_case_by_its_clock_at_the_pause(alice):
    from django.db.models import Sum

    from departments.models import DailyRollup
    from departments.rollups import rollups_refresh

    now = timezone.now()
    items = [FeedbackItemFactory(state=FeedbackItem.State.TRIAGE) for _ in range(2)]
    cases = [triage_route(item=i, departments=[dept("support")], actor=alice)[0] for i in items]
    for case in cases:
        case_set_status(case=case, status="waiting", actor=alice)
    # Both overdue by the wall clock; the first was paused before its due time.
    Case.objects.filter(pk=cases[0].pk).update(sla_paused_at=now - 2 * H, resolution_due_at=now - H)
    Case.objects.filter(pk=cases[1].pk).update(sla_paused_at=now - H, resolution_due_at=now - 2 * H)
    rollups_refresh(start=now.date(), end=now.date())
    rows = DailyRollup.objects.filter(department=dept("support"), day=now.date())
    assert rows.aggregate(met=Sum("resolution_met"), missed=Sum("resolution_missed")) == {
        "met": 0,
        "missed": 1,
    }


@pytest.mark.django_db
def test_the_api_changes_a_cases_priority_and_reports_its_clock(alice):
    from rest_framework.test import APIClient

    item = FeedbackItemFactory(state=FeedbackItem.State.TRIAGE)
    [case] = triage_route(item=item, departments=[dept("support")], actor=alice)
    client = APIClient()
    client.force_login(alice)
    url = f"/api/v1/cases/{case.pk}/"
    response = client.patch(url, {"priority": "urgent"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["priority"] == "urgent" and body["sla_due_at"] == body["due_at"]
    case.refresh_from_db()
    assert case.due_at - case.created_at == H
    bad = client.patch(url, {"priority": "whenever"}, format="json")
    assert bad.status_code == 400 and "priority" in bad.json()["errors"]


# --- The migration and new departments ----------------------------------------------------


@pytest.mark.django_db
def test_the_migration_made_policies_from_each_departments_targets():
    targets = {
        (p.department.slug, p.priority): (p.first_response, p.resolution)
        for p in SlaPolicy.objects.select_related("department")
    }
    assert targets[("hr", "low")] == targets[("hr", "normal")] == (24 * H, timedelta(days=7))
    assert targets[("hr", "urgent")] == (H, 8 * H)
    assert targets[("hr", "high")] == (2 * H, 24 * H)
    assert targets[("support", "normal")] == (2 * H, timedelta(days=2))
    assert targets[("support", "high")] == (2 * H, 24 * H)  # never looser than its own
    assert len(targets) == 4 * Department.objects.count()


@pytest.mark.django_db
def test_the_migration_function_and_new_departments_get_the_same_defaults():
    migration = importlib.import_module("departments.migrations.0007_sla_policies")
    legal = Department.objects.create(
        slug="legal", name="Legal", first_response_sla=3 * H, resolution_sla=timedelta(days=5)
    )
    assert sla_policies_ensure(department=legal) == 4
    assert sla_policies_ensure(department=legal) == 0  # idempotent
    ensured = set(
        SlaPolicy.objects.filter(department=legal).values_list(
            "priority", "first_response", "resolution"
        )
    )
    SlaPolicy.objects.filter(department=legal).delete()
    migration.create_policies(apps, None)
    migrated = set(
        SlaPolicy.objects.filter(department=legal).values_list(
            "priority", "first_response", "resolution"
        )
    )
    assert (
        ensured
        == migrated
        == {
            ("low", 3 * H, timedelta(days=5)),
            ("normal", 3 * H, timedelta(days=5)),
            ("high", 2 * H, 24 * H),
            ("urgent", H, 8 * H),
        }
    )


# --- Badges -------------------------------------------------------------------------------


def badge(now, **fields):
    case = Case(status=fields.pop("status", "open"), created_at=now - 10 * H, **fields)
    result = sla_badge(case, now=now)
    return result.tone, result.text


def test_badge_text_by_time_to_breach():
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert badge(now, due_at=now - 2 * H - timedelta(seconds=30)) == ("breached", "breached 2 h")
    assert badge(now, due_at=now - 2 * H - timedelta(minutes=5)) == ("breached", "breached 2 h 5 m")
    assert badge(now, due_at=now - 26 * H) == ("breached", "breached 26 h")
    assert badge(now, due_at=now + timedelta(minutes=35)) == ("soon", "due in 35 m")
    # 3 h of a 13 h target left: under a quarter, amber.
    assert badge(now, due_at=now + 3 * H) == ("soon", "due in 3 h")
    assert badge(now, due_at=now + 5 * H) == ("calm", "due in 5 h")
    assert badge(now, due_at=now + 72 * H) == ("calm", "due in 3 d")
    # Responded: the resolution target is the one shown.
    responded = {"first_response_at": now - H, "due_at": now - 9 * H}
    assert badge(now, resolution_due_at=now + 30 * H, **responded) == ("calm", "due in 30 h")
    assert badge(now, status="waiting", resolution_due_at=now - H) == ("paused", "paused")
    assert badge(now, status="resolved", due_at=now - H) == ("closed", "closed")
    assert badge(now) == ("none", "no SLA")


# --- The queue --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_default_queue_order_puts_breaching_soonest_first(client, alice):
    now = timezone.now()

    def case(body, **fields):
        item = FeedbackItemFactory(body=body, state="routed")
        return Case.objects.create(
            item=item, department=dept("support"), routed_by="model", **fields
        )

    case("calm one", due_at=now + 20 * H, sla_due_at=now + 20 * H)
    case("no clock")
    case("breached one", due_at=now - 2 * H, sla_due_at=now - 2 * H, priority="urgent")
    case("soon one", due_at=now + timedelta(minutes=35), sla_due_at=now + timedelta(minutes=35))
    client.force_login(alice)
    html = client.get("/queue/support/").content.decode()
    order = [html.index(body) for body in ("breached one", "soon one", "calm one", "no clock")]
    assert order == sorted(order)
    assert "breached 2 h" in html and "due in 3" in html  # 34-35 m left by now
    assert 'class="sla sla-soon"' in html and 'class="sla sla-breached"' in html
    html = client.get("/queue/support/?sla=overdue").content.decode()
    assert "breached one" in html and "soon one" not in html


# --- Admin ------------------------------------------------------------------------------


def _department_form(**extra) -> dict:
    data = {
        "slug": "legal",
        "name": "Legal",
        "colour": "#607d8b",
        "first_response_sla": "04:00:00",
        "resolution_sla": "2 00:00:00",
        "created_at_0": "2026-12-01",
        "created_at_1": "10:00:00",
    }
    for prefix in ("sla_policies", "business_hours", "memberships"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    return data | extra


HOURS_FORM = {
    "business_hours-TOTAL_FORMS": "1",
    "business_hours-0-timezone": "Europe/Berlin",
    "business_hours-0-weekdays": ["0", "1", "2", "3", "4"],
    "business_hours-0-start": "09:00",
    "business_hours-0-end": "17:00",
}


@pytest.mark.django_db
def test_a_department_added_in_the_admin_gets_policies_and_business_hours(admin_client):
    response = admin_client.post(
        "/admin/departments/department/add/", _department_form(**HOURS_FORM)
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    legal = Department.objects.get(slug="legal")
    assert legal.business_hours.weekdays == [0, 1, 2, 3, 4]
    assert dict(legal.sla_policies.values_list("priority", "first_response")) == {
        "low": 4 * H,
        "normal": 4 * H,
        "high": 2 * H,
        "urgent": H,
    }
    page = admin_client.get(f"/admin/departments/department/{legal.pk}/change/")
    assert page.status_code == 200 and b"SLA policies" in page.content


@pytest.mark.django_db
def test_the_admin_refuses_an_unknown_time_zone(admin_client):
    form = _department_form(**(HOURS_FORM | {"business_hours-0-timezone": "Mars/Olympus"}))
    response = admin_client.post("/admin/departments/department/add/", form)
    assert response.status_code == 200 and b"Unknown time zone" in response.content
    assert not Department.objects.filter(slug="legal").exists()
