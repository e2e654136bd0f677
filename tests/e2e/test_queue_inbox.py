"""The queue as an inbox, in Chromium by keyboard: one-line rows (25+ on a 1440x900 screen)
with unread state, the reading pane (Enter opens, act in it, Esc closes, j/k follow, the URL
keeps it), the one-click views and the filter chips."""

from datetime import timedelta

import pytest
from django.utils import timezone

from departments.models import Case, CaseView, Department
from feedback.models import FeedbackItem, Source
from tests.e2e.conftest import SCREENSHOTS, login, screenshot
from tests.factories import AuthorFactory, UserFactory, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PRIORITIES = ["normal", "high", "low", "normal", "urgent"]


@pytest.fixture
def inbox():
    source = Source.objects.create(slug="x", name="X", kind="x")
    sam = UserFactory(username="sam")
    member(sam, "support")
    member(UserFactory(username="tess"), "support")
    support = Department.objects.get(slug="support")
    now = timezone.now()
    cases = []
    for n in range(40):
        item = FeedbackItem.objects.create(
            source=source,
            external_id=f"inbox-{n}",
            body=f"Post {n}: my order #{1000 + n} arrived damaged and support has not answered "
            "my two emails about a replacement or a refund yet",
            author=AuthorFactory(name=f"Customer {n}"),
            state="routed",
        )
        created = now - timedelta(minutes=5 * (40 - n))
        cases.append(
            Case.objects.create(
                item=item,
                department=support,
                routed_by="model",
                reason="t",
                priority=PRIORITIES[n % 5],
                created_at=created,
                updated_at=created,
                # Every seventh case is past its first-response target.
                due_at=now - timedelta(hours=1) if n % 7 == 0 else now + timedelta(hours=3),
                assignee=sam if n % 4 == 0 else None,
            )
        )
    # The newest case was read after its last change: it is not unread.
    CaseView.objects.create(user=sam, case=cases[-1], seen_at=now)
    return {"sam": sam, "cases": cases}


def viewport(page, name: str) -> None:
    """A screenshot of the 1440x900 screen as the agent sees it (not the whole page)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def visible_rows(page) -> int:
    return page.evaluate(
        """() => [...document.querySelectorAll('#queue-rows tr.case-row')].filter((row) => {
            const box = row.getBoundingClientRect();
            return box.top >= 0 && box.bottom <= window.innerHeight && box.height > 0;
        }).length"""
    )


def test_rows_are_one_line_dense_and_show_unread(new_page, live_server, inbox):
    page = new_page(1440, 900)
    login(page, live_server, "sam")
    assert page.url.endswith("/queue/support/")
    assert visible_rows(page) >= 25
    newest, older = inbox["cases"][-1], inbox["cases"][-2]
    assert "unread" not in page.get_attribute(f"#row-{newest.pk}", "class")
    assert "unread" in page.get_attribute(f"#row-{older.pk}", "class")
    # The text is plain, not an underlined link.
    decoration = page.evaluate(
        "getComputedStyle(document.querySelector('a.row-link')).textDecorationLine"
    )
    assert decoration == "none"
    viewport(page, "queue-inbox")
    assert not page.errors


def test_reading_pane_by_keyboard(new_page, live_server, inbox):
    page = new_page(1440, 900)
    login(page, live_server, "sam")
    first, second = inbox["cases"][-1], inbox["cases"][-2]
    target = inbox["cases"][-3]  # unassigned and unread
    assert target.assignee is None
    page.locator("h1").click()
    for _ in range(3):
        page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_selector("#reading-pane .post-body")
    assert f"open={target.item_id}" in page.url
    assert "Post 37" in page.inner_text("#reading-pane .post-body")
    assert "unread" not in page.get_attribute(f"#row-{target.pk}", "class")
    # Act in the pane: claim it (assign to me) with its shortcut.
    page.keyboard.press("c")
    page.wait_for_selector("#reading-pane .case-card .assignee:has-text('assigned to sam')")
    page.wait_for_selector(f"#row-{target.pk} td.col-assignee:has-text('sam')")
    target.refresh_from_db()
    assert target.assignee == inbox["sam"]
    # One's own action leaves the case read.
    assert "unread" not in page.get_attribute(f"#row-{target.pk}", "class")
    viewport(page, "queue-reading-pane")
    # k moves up a row and the pane follows.
    page.keyboard.press("k")
    page.wait_for_function(
        f"() => location.search.includes('open={second.item_id}')"
        " && document.querySelector('#reading-pane .post-body')"
        "?.textContent.includes('Post 38')"
    )
    # A reload keeps the open item.
    page.reload()
    page.wait_for_selector("#reading-pane .post-body")
    assert "Post 38" in page.inner_text("#reading-pane .post-body")
    assert "selected" in page.get_attribute(f"#row-{second.pk}", "class")
    page.locator("h1").click()
    page.keyboard.press("Escape")
    page.wait_for_function("() => document.getElementById('reading-pane').hidden")
    assert "open=" not in page.url
    # The full item page still works.
    page.goto(f"{live_server.url}/items/{first.item_id}/")
    assert "Post 39" in page.inner_text(".post-body")
    assert not page.errors


def test_views_mine_unassigned_breaching(new_page, live_server, inbox):
    cases, sam = inbox["cases"], inbox["sam"]
    # The views filter on sla_due_at, the next SLA target due (departments.sla), which the
    # case services keep; the fixture writes the cases directly, so set it here.
    for c in cases:
        Case.objects.filter(pk=c.pk).update(sla_due_at=c.due_at)
    mine = {c.pk for c in cases if c.assignee_id == sam.pk}
    unassigned = {c.pk for c in cases if c.assignee_id is None}
    breaching = {c.pk for c in cases if c.due_at < timezone.now()}
    page = new_page(1440, 900)
    login(page, live_server, "sam")

    def rows() -> set[int]:
        ids = page.eval_on_selector_all("#queue-rows tr.case-row", "rows => rows.map(r => r.id)")
        return {int(i.removeprefix("row-")) for i in ids}

    for key, expected in (("mine", mine), ("unassigned", unassigned), ("breaching", breaching)):
        # A row is selected; Enter on the focused chip follows the chip, not the row.
        page.locator("h1").click()
        page.keyboard.press("j")
        chip = page.locator(f"#queue-views [data-view={key}]")
        assert chip.locator(".chip-count").inner_text() == str(len(expected))
        chip.focus()
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#queue-views [data-view={key}].on")
        assert rows() == expected, key
        assert page.locator("#reading-pane").is_hidden()
    page.locator("#queue-views [data-view=all]").click()
    page.wait_for_selector("#queue-views [data-view=all].on")
    assert len(rows()) == 40
    assert not page.errors


def test_filter_chips_change_the_rows_and_the_url(new_page, live_server, inbox):
    page = new_page(1440, 900)
    login(page, live_server, "sam")
    urgent = {c.pk for c in inbox["cases"] if c.priority == "urgent"}
    page.focus("#menu-priority")
    page.keyboard.press("Enter")  # opens the menu
    page.focus("#filters input[name=priority][value=urgent]")
    page.keyboard.press("Space")
    page.wait_for_function(
        f"() => document.querySelectorAll('#queue-rows tr.case-row').length === {len(urgent)}"
    )
    page.wait_for_load_state("networkidle")
    assert "priority=urgent" in page.url
    assert page.inner_text("#menu-priority .chip-value") == "Urgent"
    assert page.inner_text("#queue-count") == f"{len(urgent)} cases"
    assert "priority=urgent" in page.input_value("#save-view-query")
    screenshot(page, "queue-filter-chips")
    page.keyboard.press("Escape")  # closes the menu
    assert page.locator("details.filter-menu[open]").count() == 0
    # The unread row of one's own filter still opens in the pane with a click on the row.
    page.locator("#queue-rows tr.case-row td.col-author").first.click()
    page.wait_for_selector("#reading-pane .post-body")
    assert "priority=urgent" in page.url and "open=" in page.url
    assert not page.errors
