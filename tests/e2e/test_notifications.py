"""The bell: it shows the unread count, opening it lists the notifications, and clicking
one goes to its item and the count drops."""

import re

import pytest
from playwright.sync_api import expect

from departments.models import Case, Department
from departments.services import case_assign, case_share, note_add
from feedback.models import FeedbackItem, Source
from notifications.models import Notification
from tests.e2e.conftest import login, screenshot
from tests.factories import UserFactory, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def case_in(slug: str, n: int, body: str) -> Case:
    source, _ = Source.objects.get_or_create(slug="x", defaults={"name": "X", "kind": "x"})
    item = FeedbackItem.objects.create(
        source=source, external_id=f"bell-{n}", body=body, state="routed"
    )
    department = Department.objects.get(slug=slug)
    return Case.objects.create(item=item, department=department, routed_by="model")


def test_bell_lists_opens_and_counts_down(new_page, live_server):
    sam = UserFactory(username="sam", first_name="Sam")
    member(sam, "support")
    tess = UserFactory(username="tess", first_name="Tess")
    member(tess, "support", role="manager")
    pia = UserFactory(username="pia", first_name="Pia")
    member(pia, "product")
    assigned = case_in("support", 1, "My parcel is late again, order 1182")
    case_assign(case=assigned, assignee=sam, actor=tess)
    shared = case_in("product", 2, "The app logs me out when I open my order history")
    case_share(case=shared, to_department=Department.objects.get(slug="support"), actor=pia)
    noted = case_in("support", 3, "Refund for a broken blender")
    note_add(item=noted.item, actor=tess, body="@sam can you call this customer today?")

    page = new_page(1440, 900)
    login(page, live_server, "sam")
    # The count arrives once the page has loaded (notifications/_bell_count.html).
    expect(page.locator("#bell-count")).to_have_text("3")
    page.click("details[data-bell] summary")
    rows = page.locator("#bell-panel [data-notification]")
    rows.first.wait_for()
    assert rows.count() == 3
    titles = rows.locator(".n-title").all_inner_texts()
    assert titles == [
        "Tess mentioned you in a note (Support)",
        "Pia shared a case with Support",
        "Tess assigned you a Support case",
    ]
    screenshot(page, "notifications-bell")

    rows.nth(2).locator("a").click()
    page.wait_for_url(re.compile(rf"/items/{assigned.item_id}/$"))
    expect(page.locator("#bell-count")).to_have_text("2")
    assert Notification.objects.filter(case=assigned).get().read_at is not None

    page.click("details[data-bell] summary")
    page.locator("#bell-panel [data-read-all]").click()
    page.wait_for_selector("#bell-count", state="hidden")
    assert page.locator("#bell-panel li.notification.unread").count() == 0
    page.keyboard.press("Escape")
    assert not page.locator("details[data-bell]").evaluate("d => d.open")
    page.goto(f"{live_server.url}/notifications/")
    assert page.locator("main [data-notification]").count() == 3
    screenshot(page, "notifications-page")
    assert not page.errors
