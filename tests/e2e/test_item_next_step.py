"""The item page's one obvious next step, by keyboard: reroute and share in a dialog (key,
type, Enter), resolve moves on to the queue's next item, and the toast's Undo puts the case
back (status, event, label withdrawn); in the reading pane the next row opens."""

import re

import pytest

from departments.models import Case, CaseEvent, Department
from feedback.models import FeedbackItem, Source
from routing.models import RoutingLabel
from tests.e2e.conftest import login, screenshot
from tests.factories import UserFactory, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world():
    source = Source.objects.create(slug="x", name="X", kind="x")
    sam = UserFactory(username="sam")
    member(sam, "support")
    support = Department.objects.get(slug="support")
    cases = []
    for n, body in enumerate(["Oldest parcel", "Middle parcel", "Newest parcel"]):
        item = FeedbackItem.objects.create(
            source=source, external_id=f"ns-{n}", body=body, state="routed"
        )
        cases.append(
            Case.objects.create(
                item=item,
                department=support,
                routed_by="model",
                reason="t",
                assignee=sam,
                status="open",
            )
        )
    return cases


def item_url(live_server, case) -> str:
    return f"{live_server.url}/items/{case.item_id}/?from=/queue/support/"


def test_reroute_and_share_by_dialog(new_page, live_server, world):
    newest, middle = world[2], world[1]
    page = new_page(1440, 900)
    login(page, live_server, "sam")
    page.goto(item_url(live_server, newest))
    assert page.locator(".case-card .actions .btn.primary").inner_text().startswith("Resolve")
    screenshot(page, "item-primary-action")
    page.click(".case-card summary:has-text('More')")
    screenshot(page, "item-more-menu")
    page.keyboard.press("Escape")
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.dataset.action") == "reroute"
    assert page.locator("dialog[data-dialog=reroute][open]").count() == 1
    page.keyboard.press("p")  # type to pick Product
    screenshot(page, "item-reroute-dialog")
    page.keyboard.press("Enter")
    page.wait_for_selector(".timeline li.event-rerouted")
    assert Case.objects.get(item=newest.item, department__slug="product").status == "new"
    assert page.locator(".toast [data-undo]").count() == 1

    page.goto(item_url(live_server, middle))
    page.keyboard.press("s")
    page.keyboard.press("m")  # Marketing
    page.keyboard.press("Escape")  # Esc closes without sending
    assert page.locator("dialog[data-dialog=share][open]").count() == 0
    page.keyboard.press("s")
    page.keyboard.press("m")
    page.keyboard.press("Enter")
    page.wait_for_selector(".timeline li.event-shared")
    assert Case.objects.filter(item=middle.item, department__slug="marketing").count() == 1
    assert not page.errors


def test_resolve_moves_on_and_undo_restores(new_page, live_server, world):
    newest, middle = world[2], world[1]
    page = new_page(1440, 900)
    login(page, live_server, "sam")
    page.goto(item_url(live_server, newest))
    page.keyboard.press("e")
    page.wait_for_url(re.compile(rf"/items/{middle.item_id}/"))
    newest.refresh_from_db()
    assert newest.status == "resolved"
    assert RoutingLabel.objects.filter(item=newest.item, department="support").exists()
    screenshot(page, "item-undo-toast")
    page.click(".toast [data-undo]")
    page.wait_for_url(re.compile(rf"/items/{newest.item_id}/"))
    page.wait_for_selector(".toast:has-text('Undone')")
    newest.refresh_from_db()
    assert (newest.status, newest.resolved_at) == ("open", None)
    back = CaseEvent.objects.unscoped().filter(case=newest).latest("pk")
    assert (back.kind, back.data["from"], back.data["to"]) == ("status_changed", "resolved", "open")
    assert not RoutingLabel.objects.filter(item=newest.item).exists()

    # The reading pane: resolving there opens the next row.
    page.goto(f"{live_server.url}/queue/support/?open={newest.item_id}")
    page.wait_for_selector("#reading-pane [data-item-page]")
    page.keyboard.press("e")
    page.wait_for_url(re.compile(rf"open={middle.item_id}"))
    page.wait_for_selector("#reading-pane .post-body:has-text('Middle parcel')")
    assert page.locator(".toast [data-undo]").count() == 1
    assert not page.errors
