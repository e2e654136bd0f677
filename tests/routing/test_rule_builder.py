"""The rule builder's rows (routing.builder): rows and JSON say the same rule, the one the
person edited wins, rows are added and removed without saving, and each row shows its own
error from the rules engine."""

import json
import re
from html import unescape

import pytest

from routing.models import Rule
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROWS = {
    "name": "refunds",
    "position": "10",
    "enabled": "on",
    "match": "all",
    "limit": "10",
    "c0-field": "body",
    "c0-op": "contains_any",
    "c0-value": "refund, charged twice",
    "c1-field": "followers",
    "c1-op": "above",
    "c1-value": "10000",
    "a0-type": "route_to",
    "a0-value": "support",
    "a1-type": "set_priority",
    "a1-value": "high",
    "conditions": "[]",
    "actions": "[]",
}
CONDITIONS = [
    {"field": "body", "op": "contains_any", "value": ["refund", "charged twice"]},
    {"field": "followers", "op": "above", "value": 10000},
]
ACTIONS = [
    {"type": "route_to", "department": "support"},
    {"type": "set_priority", "priority": "high"},
]


@pytest.fixture
def admin(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def textarea(html: str, name: str):
    [text] = re.findall(rf'<textarea name="{name}"[^>]*>(.*?)</textarea>', html, re.S)
    return json.loads(unescape(text))


def hidden(html: str, name: str) -> str:
    return re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)[1]


def test_rows_are_saved_as_the_rule_they_say(admin):
    assert admin.post("/rules/new/", ROWS).status_code == 302
    rule = Rule.objects.get()
    assert rule.conditions == CONDITIONS and rule.actions == ACTIONS


def test_rows_redraw_the_json_view_and_an_edited_json_redraws_the_rows(admin):
    html = admin.post("/rules/new/dry-run/", ROWS, HTTP_HX_REQUEST="true").content.decode()
    assert textarea(html, "conditions") == CONDITIONS
    assert textarea(html, "actions") == ACTIONS
    # The person now edits the JSON and leaves the rows as drawn.
    page = admin.get("/rules/new/").content.decode()
    edited = [{"field": "body", "op": "regex", "value": r"order\s*#\d+"}]
    data = {
        **ROWS,
        "rows_seen": hidden(html, "rows_seen") if "rows_seen" in html else "",
        "json_seen": hidden(html, "json_seen"),
        "conditions": json.dumps(edited),
        "actions": json.dumps(ACTIONS),
    }
    assert "rows_seen" in page
    html = admin.post("/rules/new/dry-run/", data, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="rule-rows" class="rule-rows" hx-swap-oob="true"' in html
    assert 'value="order\\s*#\\d+"' in html and "c1-field" not in html
    assert admin.post("/rules/new/", data).status_code == 302
    assert Rule.objects.get().conditions == edited


def test_rows_win_when_both_changed_and_json_alone_posts_still_work(admin):
    data = {**ROWS, "conditions": json.dumps([{"field": "tag", "op": "has", "value": ["x"]}])}
    assert admin.post("/rules/new/", data).status_code == 302  # no digests: the rows
    assert Rule.objects.get().conditions == CONDITIONS


def test_add_and_remove_rows_show_the_form_without_saving(admin):
    html = admin.post("/rules/new/", {**ROWS, "add": "condition"}).content.decode()
    assert not Rule.objects.exists()
    assert 'name="c2-field"' in html and "autofocus" in html
    assert "expected a non-empty list" not in html  # the new row is not an error yet
    html = admin.post("/rules/new/", {**ROWS, "remove": "c0"}).content.decode()
    assert not Rule.objects.exists()
    assert 'name="c1-field"' not in html and 'value="followers" selected' in html


def test_each_row_shows_its_own_error(admin):
    data = {**ROWS, "c0-op": "regex", "c0-value": "([a-z", "c1-field": "score", "c1-op": "above"}
    data |= {"c1-department": "nope", "c1-value": "2", "a1-value": "someday"}
    response = admin.post("/rules/new/", data)
    assert response.status_code == 200 and not Rule.objects.exists()
    html = response.content.decode()
    errors = dict(re.findall(r'<p class="row-error" id="([ca]\d)-error">([^<]*)</p>', html))
    assert "invalid regular expression" in errors["c0"]
    assert "unknown department" in errors["c1"]
    assert errors["a0"] == "" and "priority must be one of" in errors["a1"]
    # Only the text operators are offered for the post text, the number ones for a score.
    assert re.search(r'name="c1-value"[^>]*type="number"', html)


def test_a_field_gets_only_its_operators_and_a_wrong_one_is_refused(admin):
    html = admin.post("/rules/new/", {**ROWS, "c1-op": "regex"}).content.decode()
    assert "followers takes op above or below" in html
    ops = re.search(r'<select name="c1-op".*?</select>', html, re.S)[0]
    assert re.findall(r'<option value="(\w*)"', ops) == ["", "above", "below"]


@pytest.mark.parametrize("value", ["1e400", "nan", "inf", "ten"])
def test_a_number_that_is_not_finite_is_a_row_error_not_a_500(admin, value):
    response = admin.post("/rules/new/", {**ROWS, "c1-value": value})
    assert response.status_code == 200 and not Rule.objects.exists()
    assert "expected a number" in response.content.decode()


def test_a_change_does_not_press_the_remove_button_that_has_focus(admin):
    """htmx sends a form's last focused submit button with every request of the form; only
    the button's own request removes its row."""
    data = {**ROWS, "remove": "c1"}
    html = admin.post(
        "/rules/new/dry-run/", data, HTTP_HX_REQUEST="true", HTTP_HX_TRIGGER="rule-form"
    ).content.decode()
    assert textarea(html, "conditions") == CONDITIONS
    html = admin.post(
        "/rules/new/dry-run/", data, HTTP_HX_REQUEST="true", HTTP_HX_TRIGGER="remove-c1"
    ).content.decode()
    assert textarea(html, "conditions") == CONDITIONS[:1]
