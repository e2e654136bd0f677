"""The triage inbox by keyboard: accept a suggestion with `a`, pick a department with `d`,
select rows with space and J and accept them all, mark noise with `x`; the row leaves in
place, focus moves to the next one and the sidebar's count follows."""

from datetime import timedelta

import pytest
from django.utils import timezone

from departments.models import Case
from feedback.models import Author, FeedbackItem, Source
from routing.models import RoutingLabel
from tests.e2e.conftest import login, screenshot
from tests.factories import UserFactory, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def inbox():
    source = Source.objects.create(slug="x", name="X", kind="x")
    sam = UserFactory(username="sam", first_name="Sam")
    member(sam, "support")
    now = timezone.now()
    posts = {}

    def post(key, body, scores, priority="normal", hours_ago=1.0, handle="dana"):
        author, _ = Author.objects.get_or_create(
            source=source, handle=handle, defaults={"name": handle.title()}
        )
        posts[key] = FeedbackItem.objects.create(
            source=source,
            external_id=key,
            body=body,
            author=author,
            state="triage",
            scores=scores,
            priority=priority,
            received_at=now - timedelta(hours=hours_ago),
        )

    post("outage", "Checkout fails with error 500 for everyone", {"support": 0.44}, "urgent", 3)
    for n, handle in enumerate(("lee", "mo", "kai")):
        post(
            f"crash-{n}",
            f"The app crashes when I open my order history{'!' * n}",
            {"product": 0.41, "support": 0.3},
            "high",
            5 - n,
            handle,
        )
    post("refund", "Where is my refund for order 1182?", {"support": 0.38}, "high", 1)
    post("logo", "Love the new logo, who designed it?", {"marketing": 0.35}, hours_ago=20)
    post("spam", "Follow me for free crypto giveaways", {"marketing": 0.2, "noise": 0.4}, "low", 2)
    post("rota", "My shift lead changes my rota every week", {"hr": 0.22, "support": 0.2}, "low", 4)
    post("dark", "Please add a dark mode to the app", {"product": 0.39}, hours_ago=8)
    return posts


def rows(page) -> list[str]:
    return page.eval_on_selector_all("#triage-list tr.case-row", "rs => rs.map(r => r.id)")


def focused_row(page) -> str:
    return page.eval_on_selector("#triage-list tr.case-row.selected", "r => r.id")


def settled(page, gone: str) -> None:
    """Wait until row `gone` left the list and the focus moved on (htmx settles the swap
    a moment after it)."""
    page.wait_for_function(
        f"() => !document.getElementById('{gone}')"
        " && document.querySelector('#triage-list tr.case-row.selected')"
    )


def triage_count(page) -> str:
    return page.inner_text("#nav-queues a[href='/triage/'] .count")


def test_accept_pick_and_noise_by_keyboard(new_page, live_server, inbox):
    page = new_page(1440, 900)
    login(page, live_server, "sam", "/login/?next=/triage/")
    page.goto(f"{live_server.url}/triage/")
    assert "look like Product" in page.inner_text(".chips")
    assert "HR" not in page.inner_text("#triage-list")  # Sam is not in HR
    screenshot(page, "triage-suggestions")
    first, group = rows(page)[:2]
    assert first == f"trow-{inbox['outage'].pk}" and "×3 similar" in page.inner_text(f"#{group}")
    assert triage_count(page) == "9"
    page.click(f"#{group} [data-members-toggle]")  # the group's other posts, on demand
    assert page.locator(f"#{group} ul.members li").count() == 2
    screenshot(page, "triage-group-open")
    page.click(f"#{group} [data-members-toggle]")

    page.keyboard.press("j")
    page.keyboard.press("a")  # accept "Support" for the outage
    settled(page, f"trow-{inbox['outage'].pk}")
    assert focused_row(page) == group  # the next row took its place
    assert triage_count(page) == "8"
    assert Case.objects.get(item=inbox["outage"]).department.slug == "support"
    assert RoutingLabel.objects.get(item=inbox["outage"], department="support").kind == (
        "confirmation"
    )

    page.keyboard.press("d")  # the group, to a department picked by typing
    page.wait_for_selector("#triage-picker[open]")
    page.keyboard.type("supp")
    screenshot(page, "triage-picker")
    page.keyboard.press("Enter")
    settled(page, group)
    assert triage_count(page) == "5"
    for n in range(3):
        assert Case.objects.get(item=inbox[f"crash-{n}"]).department.slug == "support"
        assert RoutingLabel.objects.get(item=inbox[f"crash-{n}"], department="support").kind == (
            "correction"
        )

    spam = f"trow-{inbox['spam'].pk}"
    while focused_row(page) != spam:
        page.keyboard.press("j")
    page.keyboard.press("x")
    settled(page, spam)
    assert FeedbackItem.objects.get(pk=inbox["spam"].pk).state == "noise"
    assert "Marked 1 post as noise." in page.inner_text(".toast")
    assert not page.errors


def test_bulk_accept_of_a_keyboard_selection(new_page, live_server, inbox):
    page = new_page(1440, 900)
    login(page, live_server, "sam", "/login/?next=/triage/")
    page.goto(f"{live_server.url}/triage/?suggest=support")
    rota = f"trow-{inbox['rota'].pk}"
    assert rows(page) == [f"trow-{inbox['outage'].pk}", f"trow-{inbox['refund'].pk}", rota]
    page.keyboard.press("j")
    page.keyboard.press(" ")  # select the first
    page.keyboard.press("J")  # and the next
    assert page.inner_text("[data-selected-count]") == "2 selected"
    screenshot(page, "triage-selection")
    page.keyboard.press("a")  # with a selection, `a` accepts every selected suggestion
    page.wait_for_selector("#triage-list .toast")
    assert rows(page) == [rota]  # not selected, still waiting
    assert "Routed 2 posts as suggested." in page.inner_text(".toast")
    for key in ("outage", "refund"):
        assert Case.objects.get(item=inbox[key]).department.slug == "support"
    assert FeedbackItem.objects.filter(state="triage").count() == 7
    assert not page.errors
