"""Queue rows built in Python (departments/rows.py): every untrusted cell escaped as the
template engine would, and the sidebar counted in the page's own count query."""

import re

import pytest
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from config.html import html_format
from departments.models import Case, Department, SavedView
from departments.rows import rows_prepare
from departments.views import _with_seen
from tests.factories import AuthorFactory, FeedbackItemFactory, UserFactory

pytestmark = pytest.mark.django_db

HOSTILE = [
    '<img src=x onerror="alert(1)">',
    'Tom & Jerry\'s "quote"',
    "</td></tr><tr><td>",
    "' onmouseover='x",
    "plain text",
    "",
]


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.mark.parametrize("value", HOSTILE)
def test_html_format_escapes_exactly_as_format_html(value):
    template = '<a title="{}">{}</a> <b>{name}</b>'
    assert html_format(template, value, 7, name=value) == format_html(
        template, value, 7, name=value
    )
    # Markup already marked safe stays as it is, as with format_html.
    safe = mark_safe("<em>ok</em>")
    assert html_format("{}", safe) == format_html("{}", safe) == "<em>ok</em>"


def test_every_untrusted_cell_of_a_row_is_escaped(alice):
    evil = '<img src=x onerror="alert(1)">'
    author = AuthorFactory(name=evil)
    item = FeedbackItemFactory(body=f"Late parcel {evil}", author=author, state="routed")
    assignee = UserFactory(username="bob")
    assignee.username = evil  # usernames are validated; stored text need not be
    assignee.save()
    case = Case.objects.create(
        item=item,
        department=Department.objects.get(slug="support"),
        routed_by="model",
        assignee=assignee,
    )
    row = _with_seen(
        Case.objects.visible_to(alice).select_related("item", "item__author", "assignee"), alice
    ).get(pk=case.pk)
    row.viewers = [evil]
    links = {"item_from": "from=%2Fqueue%2Fsupport%2F", "pane_base": "/queue/support/?"}
    rows_prepare([row], links, can_act=True, row_error=evil)
    html = str(row.row_html)
    assert "<img" not in html
    escaped = "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    # Body, presence (title and text), the claim error, the author and the assignee.
    assert html.count(escaped) == 6
    assert re.search(rf'<tr id="row-{case.pk}" class="case-row unread"', html)


def test_a_row_without_an_assignee_offers_claim_only_to_who_may_act(alice):
    item = FeedbackItemFactory(body="My parcel is late", state="routed")
    case = Case.objects.create(
        item=item, department=Department.objects.get(slug="support"), routed_by="model"
    )
    links = {"item_from": "", "pane_base": "/queue/support/?"}
    for can_act, shown in ((True, "data-claim>Claim"), (False, '<span class="muted">—</span>')):
        row = Case.objects.select_related("item", "item__author", "assignee").get(pk=case.pk)
        row.viewers = []
        rows_prepare([row], links, can_act=can_act)
        assert shown in row.row_html
        assert ("data-claim>" in row.row_html) is can_act


def test_the_queue_page_counts_the_sidebar_with_its_own_counts(alice_client, alice):
    """The queue page counts the sidebar (triage inbox, saved views) in the query that
    counts its view chips: the numbers match what every other page's sidebar shows."""
    support = Department.objects.get(slug="support")
    for body in ("Parcel late", "Parcel lost", "Refund please"):
        Case.objects.create(
            item=FeedbackItemFactory(body=body, state="routed"),
            department=support,
            routed_by="model",
        )
    FeedbackItemFactory.create_batch(2, body="Who owns this?", state="triage")
    SavedView.objects.create(user=alice, name="Parcels", department=support, query="q=parcel")

    def sidebar(path):
        html = alice_client.get(path).content.decode()
        triage = re.search(r'Triage inbox <span class="count">(\d+)', html).group(1)
        view = re.search(r'Parcels <span class="count">(\d+)', html).group(1)
        return triage, view

    assert sidebar("/queue/support/") == sidebar("/triage/") == ("2", "2")
