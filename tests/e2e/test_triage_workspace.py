"""A support agent hands an item to product in the browser; product sees it with the
history; HR stays sealed; hostile posts render as text and run nothing."""

import pytest

from departments.models import Case, Department
from feedback.models import Author, FeedbackItem, Source
from tests.e2e.conftest import login, screenshot
from tests.factories import UserFactory, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
XSS_BODY = (
    'Broken checkout <script>window.__xss = "script"</script>'
    "<img src=x onerror=\"window.__xss = 'img'\"> please fix"
)


@pytest.fixture
def world():
    source = Source.objects.create(slug="x", name="X", kind="x")
    people = {}
    for username, slug in (("sam", "support"), ("paula", "product"), ("hank", "hr")):
        people[username] = UserFactory(username=username, first_name=username.title())
        member(people[username], slug)

    def case(body, slug, author="dana"):
        who, _ = Author.objects.get_or_create(
            source=source, handle=author, defaults={"name": f"{author.title()} <b>D</b>"}
        )
        item = FeedbackItem.objects.create(
            source=source, external_id=f"e2e-{body[:20]}", body=body, author=who, state="routed"
        )
        return Case.objects.create(
            item=item,
            department=Department.objects.get(slug=slug),
            routed_by="model",
            reason="model test: score 0.91",
        )

    target = case("The checkout button does nothing on Android", "support")
    case("Where is my refund for order 1182?", "support")
    hr = case("I was treated unfairly by my shift lead at the depot", "hr", author="erin")
    xss = case(XSS_BODY, "support", author="mallory")
    return {"people": people, "target": target, "hr": hr, "xss": xss}


def test_support_reroutes_to_product_with_the_keyboard(new_page, live_server, world):
    page = new_page()
    login(page, live_server, "sam")
    assert page.url.endswith("/queue/support/")
    # Filter the queue by typing in the search box (htmx swaps the rows).
    page.fill("#id_q", "android")
    page.wait_for_function(
        "() => document.querySelectorAll('#queue-rows tr.case-row').length === 1"
    )
    assert "checkout button" in page.inner_text("#queue-rows")
    page.locator("h1").click()  # leave the search box so the shortcuts apply
    page.wait_for_load_state("networkidle")
    page.keyboard.press("j")
    page.keyboard.press("c")  # claim from the list
    page.wait_for_selector("#queue-rows tr.case-row td.col-assignee:has-text('sam')")
    screenshot(page, "queue-support")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-item-page]")
    page.keyboard.press("r")  # focuses "reroute to"
    assert page.evaluate("document.activeElement.dataset.action") == "reroute"
    page.select_option("select[data-action=reroute]", "product")
    page.fill("form.handoff input[name=note]", "Android checkout bug, not a billing question")
    page.click("form.handoff button:has-text('Reroute')")
    page.wait_for_selector(".timeline li.event-rerouted")
    screenshot(page, "item-after-reroute")
    target = Case.objects.get(item=world["target"].item, department__slug="product")
    assert target.status == "new"
    assert Case.objects.get(pk=world["target"].pk).status == "dismissed"

    other = new_page()
    login(other, live_server, "paula")
    assert "The checkout button does nothing" in other.inner_text("#queue-rows")
    other.click("text=The checkout button does nothing")
    other.wait_for_selector("[data-item-page]")
    timeline = other.inner_text(".timeline")
    assert "Android checkout bug, not a billing question" in timeline
    assert "claimed the Support case" in timeline and "Support → Product" in timeline
    screenshot(other, "item-product-view")
    assert not page.errors and not other.errors


def test_hr_only_item_is_invisible_to_product(new_page, live_server, world):
    page = new_page()
    login(page, live_server, "paula")
    hr_item = world["hr"].item
    assert "treated unfairly" not in page.content()
    page.goto(f"{live_server.url}/queue/product/?q=unfairly&status=new&status=open")
    assert "treated unfairly" not in page.content()
    page.goto(f"{live_server.url}/triage/?q=unfairly")
    assert "treated unfairly" not in page.content()
    response = page.goto(f"{live_server.url}/items/{hr_item.pk}/")
    assert response.status == 404
    api = page.goto(f"{live_server.url}/api/v1/feedback/{hr_item.pk}/")
    assert api.status == 404

    hank = new_page()
    login(hank, live_server, "hank")
    hank.goto(f"{live_server.url}/items/{hr_item.pk}/")
    assert "treated unfairly" in hank.inner_text(".post-body")


def test_hostile_posts_render_as_text_and_run_nothing(new_page, live_server, world):
    page = new_page()
    login(page, live_server, "sam")
    page.goto(f"{live_server.url}/queue/support/")
    page.goto(f"{live_server.url}/items/{world['xss'].item_id}/")
    page.wait_for_selector(".post-body")
    assert page.evaluate("window.__xss") is None
    assert "<script>" in page.inner_text(".post-body")  # shown as text
    assert page.locator(".post-body img").count() == 0
    assert "<b>D</b>" in page.inner_text(".post header")
    screenshot(page, "item-hostile-post")
    assert not page.errors


def test_routing_from_triage_updates_the_page_in_place(new_page, live_server, world):
    item = FeedbackItem.objects.create(
        source=world["target"].item.source, external_id="e2e-triage", body="Hmm", state="triage"
    )
    page = new_page()
    login(page, live_server, "sam")
    page.goto(f"{live_server.url}/items/{item.pk}/")
    assert page.inner_text("#item-state") == "state: Triage"
    assert page.inner_text("#nav-queues a[href='/triage/'] .count") == "1"
    page.check("form.triage-route input[value=product]")
    page.click("form.triage-route button[type=submit]")
    page.wait_for_selector("#item-state:has-text('Routed')")
    assert page.locator("form.triage-route").count() == 0
    assert page.inner_text("#nav-queues a[href='/triage/'] .count") == "0"
    assert "routed to Product" in page.inner_text(".timeline")
    screenshot(page, "item-after-triage-route")
    assert not page.errors
