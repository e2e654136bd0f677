"""The queue as an inbox: unread state (CaseView), the reading pane (?open=<item>), the
one-click views and their counts, within the page's query budget and the access rules."""

from datetime import timedelta

import pytest
from django.utils import timezone

from departments.models import Case, CaseView, Department
from tests.factories import FeedbackItemFactory

pytestmark = pytest.mark.django_db

ROWS = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "queue-rows"}
PANE = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "reading-pane"}


def make_case(slug, body="My parcel is late", **fields):
    item = FeedbackItemFactory(body=body, state="routed")
    return Case.objects.create(
        item=item, department=Department.objects.get(slug=slug), routed_by="model", **fields
    )


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def row_class(html: str, case: Case) -> str:
    start = html.index(f'id="row-{case.pk}" class="')
    return html[start:].split('"')[3]


def test_a_case_is_unread_until_opened_and_again_after_a_change(alice_client, alice):
    case = make_case("support")
    assert "unread" in row_class(alice_client.get("/queue/support/").content.decode(), case)
    alice_client.get(f"/items/{case.item_id}/")
    assert "unread" not in row_class(alice_client.get("/queue/support/").content.decode(), case)
    # Someone else changes the case: it is unread again.
    Case.objects.filter(pk=case.pk).update(updated_at=timezone.now() + timedelta(seconds=1))
    assert "unread" in row_class(alice_client.get("/queue/support/").content.decode(), case)


def test_ones_own_action_leaves_the_case_read(alice_client, alice):
    case = make_case("support")
    alice_client.get(f"/queue/support/?open={case.item_id}", **PANE)
    alice_client.post(f"/cases/{case.pk}/claim/", HTTP_HX_REQUEST="true")
    case.refresh_from_db()
    assert case.assignee == alice
    assert CaseView.objects.get(user=alice, case=case).seen_at >= case.updated_at
    assert "unread" not in row_class(alice_client.get("/queue/support/").content.decode(), case)


def test_the_reading_pane_answers_the_item_content_and_marks_it_seen(alice_client, alice):
    case = make_case("support", body="The pane shows <b>this</b>")
    response = alice_client.get(f"/queue/support/?q=pane&open={case.item_id}", **PANE)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "data-item-page" in html and 'id="work"' in html
    assert "The pane shows &lt;b&gt;this&lt;/b&gt;" in html
    # Its links: the full page (naming the queue for previous / next) and closing it.
    assert f"/items/{case.item_id}/?from=%2Fqueue%2Fsupport%2F%3Fq%3Dpane" in html
    assert 'href="/queue/support/?q=pane" data-pane-close' in html
    assert CaseView.objects.filter(user=alice, case=case).exists()


def test_a_reload_with_an_open_item_shows_the_pane_within_the_query_budget(
    alice_client, django_assert_max_num_queries
):
    case = make_case("support")
    make_case("support", body="Another one")
    with django_assert_max_num_queries(24):  # 22 today: the queue's and the item page's
        html = alice_client.get(f"/queue/support/?open={case.item_id}").content.decode()
    assert 'class="queue pane-open"' in html and 'id="reading-pane"' in html
    assert "selected" in row_class(html, case)
    assert f'name="open" value="{case.item_id}" id="pane-open">' in html


def test_the_pane_never_opens_a_sealed_item_for_an_outsider(alice_client):
    hr = make_case("hr", body="A private grievance about my manager")
    response = alice_client.get(f"/queue/support/?open={hr.item_id}", **PANE)
    assert response.status_code == 404
    html = alice_client.get(f"/queue/support/?open={hr.item_id}").content.decode()
    assert "private grievance" not in html and "queue pane-open" not in html
    for bad in ("x", "-1", "9" * 40, "²"):
        assert alice_client.get(f"/queue/support/?open={bad}").status_code == 200


def test_views_count_and_filter_mine_unassigned_breaching(alice_client, alice):
    now = timezone.now()
    # sla_due_at is the next target due (departments.sla), what the views filter on.
    in_5h, ago_5m, in_30m = (
        now + timedelta(hours=5),
        now - timedelta(minutes=5),
        now + timedelta(minutes=30),
    )
    mine = make_case("support", assignee=alice, due_at=in_5h, sla_due_at=in_5h)
    late = make_case("support", due_at=ago_5m, sla_due_at=ago_5m)
    soon = make_case("support", due_at=in_30m, sla_due_at=in_30m)
    make_case("support", status="resolved", assignee=alice)
    html = alice_client.get("/queue/support/").content.decode()
    for key, n in (("all", 3), ("mine", 1), ("unassigned", 2), ("breaching", 2)):
        assert f'data-view="{key}"' in html
        chip = html[html.index(f'data-view="{key}"') :]
        assert f'<span class="chip-count">{n}</span>' in chip[: chip.index("</a>")], key
    for query, expected in (
        ("assignee=alice", {mine}),
        ("assignee=none", {late, soon}),
        ("sla=breaching", {late, soon}),
    ):
        html = alice_client.get(f"/queue/support/?{query}", **ROWS).content.decode()
        shown = {c for c in (mine, late, soon) if f'id="row-{c.pk}"' in html}
        assert shown == expected, query
        assert 'class="chip on"' in html  # the view chips come out of band, one active


def test_filter_menus_summarise_the_chosen_values(alice_client):
    make_case("support", priority="urgent")
    html = alice_client.get("/queue/support/?priority=urgent&priority=high", **ROWS)
    html = html.content.decode()
    assert (
        '<summary class="chip on" id="menu-priority" hx-swap-oob="true">Priority: '
        '<span class="chip-value">High, Urgent</span></summary>'
    ) in html
    assert '<summary class="chip" id="menu-sla" hx-swap-oob="true">SLA</summary>' in html
    # A bad value is a field error on the page, not a 500.
    response = alice_client.get("/queue/support/?priority=bogus&since=notadate")
    assert response.status_code == 200 and "priority" in response.content.decode()


def test_capped_counts_sends_a_repeated_query_once(django_assert_num_queries, alice):
    from departments.selectors import capped_counts

    make_case("support")
    make_case("support", assignee=alice)
    make_case("product")
    support = Case.objects.visible_to(alice).filter(department__slug="support")
    with django_assert_num_queries(1) as captured:
        counts = capped_counts(
            {
                "all": support,
                "again": support.order_by("-pk"),  # the same rows: counted once
                "mine": support.filter(assignee=alice),
                "none": support.none(),
            },
            cap=1,
        )
    assert counts == {"all": (1, True), "again": (1, True), "mine": (1, False), "none": (0, False)}
    assert captured.captured_queries[0]["sql"].count("count(*)") == 2
