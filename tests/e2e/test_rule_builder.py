"""The rule builder by keyboard: rows for conditions and actions, the dry run beside them,
errors by the row they are about, and the JSON view following the rows (and back)."""

import json
from contextlib import contextmanager

import pytest

from departments.models import Department
from feedback.models import FeedbackItem
from routing.models import Rule
from tests.e2e.conftest import assert_accessible, login, screenshot
from tests.factories import FeedbackItemFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCORES = {"product": 0.1, "support": 0.2, "hr": 0.0, "marketing": 0.1, "noise": 0.1}


@pytest.fixture
def admin():
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def posts():
    bodies = [
        "I want a refund for order #4417, it never came",
        "Refund please, order # 88 arrived broken",
        "Love the new colours in the app",
    ]
    # The model alone routes nothing here (the posts are routed when created, and a model
    # version sure about refunds would already send them to support), so what the dry
    # run shows is the rule's effect whatever the shipped model is.
    Department.objects.update(routing_threshold=1.01)
    for body in bodies:
        FeedbackItemFactory(body=body, state=FeedbackItem.State.TRIAGE, scores=SCORES)


@contextmanager
def synced(page):
    """Wait for the builder's htmx round trip that the keys pressed inside start."""
    with page.expect_response(lambda response: "/dry-run/" in response.url):
        yield
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    page.wait_for_timeout(100)  # htmx settles swapped attributes after 20 ms


def test_create_and_edit_a_rule_by_keyboard(new_page, live_server, admin, posts):
    page = new_page(1440, 900)
    login(page, live_server, "root")
    page.goto(f"{live_server.url}/rules/new/")
    page.focus("#id_name")
    page.keyboard.type("Refunds to support")

    # The first condition row is there: type its words, then add a second row by keyboard.
    page.focus("#c0-value")
    page.keyboard.type("refund, charged twice")
    with synced(page):
        page.keyboard.press("Tab")
    page.focus("button[value=condition]")
    page.keyboard.press("Enter")
    with synced(page):
        page.wait_for_selector("#c1-field")
    assert page.evaluate("document.activeElement.id") == "c1-field"  # the new row's field

    # Pick the operator by arrow keys; only the text operators are offered for the post text.
    page.keyboard.press("Tab")
    ops = page.locator("#c1-op option").all_inner_texts()
    assert ops == ["contains any of", "contains all of", "matches regex"]
    with synced(page):
        page.keyboard.press("ArrowDown")
    with synced(page):
        page.keyboard.press("ArrowDown")
    assert page.input_value("#c1-op") == "regex"
    page.keyboard.press("Tab")
    page.keyboard.type("order ([0-9")  # an invalid regex: the error shows by its row
    with synced(page):
        page.keyboard.press("Tab")
    error = page.locator("#c1-error")
    assert "invalid regular expression" in error.inner_text()
    assert page.locator("#c0-error").inner_text() == ""
    assert_accessible(page)

    page.fill("#c1-value", r"order\s*#\s*\d+")
    page.focus("#c1-value")
    with synced(page):
        page.keyboard.press("Tab")
    assert error.inner_text() == ""
    page.focus("#a0-value")
    with synced(page):
        page.select_option("#a0-value", "support")
    panel = page.locator("#dry-run")
    assert "2 match the conditions" in panel.inner_text().replace("\n", " ")
    assert "order # 88 arrived broken" in panel.inner_text()

    # The JSON view says the same rule as the rows.
    page.click("summary:has-text('Advanced')")
    shown = json.loads(page.input_value("#id_conditions"))
    assert shown[1] == {"field": "body", "op": "regex", "value": r"order\s*#\s*\d+"}
    screenshot(page, "rule-builder")

    page.focus("#c1-value")
    page.keyboard.press("Enter")  # submits the form: saved, back on the list
    page.wait_for_url(f"{live_server.url}/rules/")
    assert_accessible(page)
    rule = Rule.objects.get()
    assert rule.name == "Refunds to support"
    assert rule.conditions == [
        {"field": "body", "op": "contains_any", "value": ["refund", "charged twice"]},
        {"field": "body", "op": "regex", "value": r"order\s*#\s*\d+"},
    ]
    assert rule.actions == [{"type": "route_to", "department": "support"}]

    # Edit: the rows show the stored rule; a JSON edit redraws the rows, a row edit saves.
    page.goto(f"{live_server.url}/rules/{rule.pk}/")
    assert page.input_value("#c0-value") == "refund, charged twice"
    page.click("summary:has-text('Advanced')")
    edited = [{"field": "followers", "op": "above", "value": 10000}, *rule.conditions[1:]]
    page.fill("#id_conditions", json.dumps(edited))
    with synced(page):
        page.keyboard.press("Tab")
    assert page.input_value("#c0-field") == "followers"
    assert page.get_attribute("#c0-value", "type") == "number"
    assert page.locator("#c0-op option").all_inner_texts() == ["is above", "is below"]
    page.fill("#c0-value", "500")
    page.focus("#c0-value")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/rules/")
    rule.refresh_from_db()
    assert rule.conditions[0] == {"field": "followers", "op": "above", "value": 500}
    assert not page.errors
