"""The item page's keyboard: a focused field sends its form, Ctrl/Cmd+Enter adds the note,
r reaches the route-from-triage form, and j / k walk the queue the item was opened from."""

import pytest

from departments.models import Case, Department, Note
from feedback.models import FeedbackItem, Source
from tests.e2e.conftest import login, screenshot
from tests.factories import UserFactory, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world():
    source = Source.objects.create(slug="x", name="X", kind="x")
    member(UserFactory(username="sam"), "support")
    member(UserFactory(username="tess"), "support")
    support = Department.objects.get(slug="support")
    cases = []
    for n, body in enumerate(["Oldest parcel", "Middle parcel", "Newest parcel", "A blender"]):
        item = FeedbackItem.objects.create(
            source=source, external_id=f"kb-{n}", body=body, state="routed"
        )
        cases.append(
            Case.objects.create(item=item, department=support, routed_by="model", reason="t")
        )
    triage = FeedbackItem.objects.create(
        source=source, external_id="kb-triage", body="Who handles this?", state="triage"
    )
    return {"cases": cases, "triage": triage}


def test_enter_sends_the_focused_field_and_ctrl_enter_the_note(new_page, live_server, world):
    case = world["cases"][0]
    page = new_page(1440, 900)
    login(page, live_server, "sam")
    page.goto(f"{live_server.url}/items/{case.item_id}/")
    page.locator("h2").first.click()
    page.keyboard.press("a")
    assert page.evaluate("document.activeElement.dataset.action") == "assign"
    page.select_option("select[data-action=assign]", "tess")
    page.focus("select[data-action=assign]")
    page.keyboard.press("Enter")
    page.wait_for_selector(".case-card .assignee:has-text('assigned to tess')")
    case.refresh_from_db()
    assert case.assignee.username == "tess"

    page.locator("h2").first.click()
    page.keyboard.press("n")
    page.keyboard.type("First line")
    page.keyboard.press("Enter")  # a new line, not a send
    page.keyboard.type("second line")
    assert not Note.objects.exists()
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(".timeline .note-body:has-text('second line')")
    assert Note.objects.get().body == "First line\nsecond line"
    screenshot(page, "item-keyboard-note")
    assert not page.errors


def test_r_on_a_triage_item_focuses_the_route_form(new_page, live_server, world):
    page = new_page(1440, 900)
    login(page, live_server, "sam")
    page.goto(f"{live_server.url}/items/{world['triage'].pk}/")
    page.locator("h2").first.click()
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.closest('form.triage-route') !== null")
    # The first department (alphabetically) may be a sealed one: tick support instead.
    page.focus("form.triage-route input[value=support]")
    page.keyboard.press("Space")
    page.keyboard.press("Enter")
    page.wait_for_selector(".case-card")
    assert Case.objects.filter(item=world["triage"]).count() == 1
    screenshot(page, "item-triage-routed-by-keyboard")
    assert not page.errors


def test_j_and_k_walk_the_queue_the_item_was_opened_from(new_page, live_server, world):
    page = new_page(1440, 900)
    login(page, live_server, "sam")
    page.fill("#id_q", "parcel")
    page.wait_for_function(
        "() => document.querySelectorAll('#queue-rows tr.case-row').length === 3"
    )
    page.wait_for_load_state("networkidle")
    page.click("text=Newest parcel")  # the reading pane; its link opens the full page
    page.click("#reading-pane a:has-text('Open full page')")
    page.wait_for_selector(".item-nav")
    assert page.locator("[data-item-nav=prev]").count() == 0
    page.keyboard.press("j")
    page.wait_for_selector(".post-body:has-text('Middle parcel')")
    screenshot(page, "item-queue-neighbours")
    page.keyboard.press("j")
    page.wait_for_selector(".post-body:has-text('Oldest parcel')")
    assert page.locator("[data-item-nav=next]").count() == 0  # the blender is filtered out
    page.keyboard.press("k")
    page.wait_for_selector(".post-body:has-text('Middle parcel')")
    page.click("text=Back to the queue")
    page.wait_for_selector("#queue-rows")
    assert page.input_value("#id_q") == "parcel"
    assert page.locator("#queue-rows tr.case-row").count() == 3
    assert not page.errors
