"""SLA badges in a real browser: the default queue puts the breaching cases first, each row
says how long until (or since) its breach, and the item page says the same."""

from datetime import timedelta

import pytest
from django.utils import timezone

from departments.models import Case, Department
from feedback.models import FeedbackItem, Source
from tests.e2e.conftest import login, screenshot
from tests.factories import UserFactory, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

M = timedelta(minutes=1)
H = timedelta(hours=1)

# body, priority, status, opened ago, first response due after opening
CASES = [
    ("Your app charged my card three times tonight", "high", "open", 3 * H, 2 * H),
    ("Refund still not here after two weeks", "normal", "new", 30 * M, 2 * H),
    ("Someone keeps posting my address in the comments", "urgent", "new", 25 * M, H),
    ("Love the new dark mode", "low", "new", 10 * M, 2 * H),
    ("Parcel arrived damaged, photos attached", "normal", "waiting", 5 * H, 2 * H),
    ("How do I export my invoices?", "normal", "new", 5 * M, 2 * H),
]


@pytest.fixture
def queue():
    source = Source.objects.create(slug="x", name="Trustpilot", kind="x")
    member(UserFactory(username="sam"), "support")
    support = Department.objects.get(slug="support")
    now = timezone.now()
    for n, (body, priority, status, ago, target) in enumerate(CASES):
        item = FeedbackItem.objects.create(
            source=source, external_id=f"sla-{n}", body=body, state="routed", priority=priority
        )
        opened = now - ago
        waiting = status == "waiting"
        Case.objects.create(
            item=item,
            department=support,
            routed_by="model",
            reason="test",
            priority=priority,
            status=status,
            created_at=opened,
            due_at=opened + target,
            resolution_due_at=opened + timedelta(days=2),
            first_response_at=opened + H if waiting else None,
            sla_paused_at=now - 2 * H if waiting else None,
            sla_due_at=None if waiting else opened + target,
        )


def test_queue_sorts_by_time_to_breach_and_badges_say_it(new_page, live_server, queue):
    page = new_page(1440, 900)
    login(page, live_server, "sam")
    rows = page.locator("#queue-rows tr.case-row")
    assert rows.count() == len(CASES)
    assert page.locator("select[name=sort] option:checked").inner_text() == "breaching soon"
    first, second, third = (rows.nth(n).locator(".sla").inner_text() for n in range(3))
    assert first.endswith("breached 1 h") and "charged my card" in rows.nth(0).inner_text()
    assert second.endswith("due in 34 m") or second.endswith("due in 35 m")
    assert "my address" in rows.nth(1).inner_text()
    assert rows.nth(0).locator(".sla-breached").count() == 1
    assert rows.nth(1).locator(".sla-soon").count() == 1
    assert third.endswith(("due in 1 h 29 m", "due in 1 h 30 m"))  # of 2 h: calm
    assert rows.nth(len(CASES) - 1).locator(".sla-paused").count() == 1  # waiting: last
    screenshot(page, "queue-sla-badges")

    # The inbox row's link opens the reading pane; its href is the full item page.
    href = rows.nth(0).locator("a.row-link").get_attribute("href")
    page.goto(f"{live_server.url}{href}")
    page.wait_for_load_state("networkidle")
    badge = page.locator(".case-card .sla")
    assert badge.inner_text() == "first response breached 1 h"
    assert "high priority" in badge.get_attribute("title")
    screenshot(page, "item-sla-badge")
    assert not page.errors


def test_admin_edits_policies_and_business_hours_inline(new_page, live_server):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    support = Department.objects.get(slug="support")
    page = new_page(1440, 900)
    login(page, live_server, "root", path="/admin/login/")
    page.goto(f"{live_server.url}/admin/departments/department/{support.pk}/change/")
    assert page.locator("#sla_policies-group tbody tr.has_original").count() == 4
    page.fill("#sla_policies-group input[name$='first_response'] >> nth=3", "00:30:00")
    screenshot(page, "admin-sla-policies")
    page.click("input[name=_save]")
    page.wait_for_load_state("networkidle")
    assert support.sla_policies.filter(first_response=timedelta(minutes=30)).count() == 1
    assert not page.errors
