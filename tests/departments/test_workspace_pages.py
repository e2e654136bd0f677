"""The triage workspace pages: queues, filters, the item page, actions in place, access."""

import pytest
from django.urls import reverse

from departments.models import Case, CaseEvent, Department, Note, SavedView
from feedback.models import FeedbackItem
from tests.factories import AuthorFactory, FeedbackItemFactory, UserFactory, member

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def dept(slug):
    return Department.objects.get(slug=slug)


def make_case(slug, body="My parcel is late", **fields):
    item = FeedbackItemFactory(body=body, state="routed")
    return Case.objects.create(item=item, department=dept(slug), routed_by="model", **fields)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def test_agent_lands_on_their_department_queue(alice_client):
    response = alice_client.get("/")
    assert response.status_code == 302 and response["Location"] == "/queue/support/"


def test_queue_lists_open_cases_filters_and_searches(alice_client, django_assert_max_num_queries):
    late = make_case("support", body="My parcel is late again", priority="urgent")
    make_case("support", body="Refund for a broken blender")
    make_case("support", body="closed one", status="resolved")
    with django_assert_max_num_queries(12):
        html = alice_client.get("/queue/support/").content.decode()
    assert "My parcel is late again" in html and "closed one" not in html
    html = alice_client.get("/queue/support/?priority=urgent").content.decode()
    assert "late again" in html and "blender" not in html
    html = alice_client.get("/queue/support/?q=blenders").content.decode()
    assert "blender" in html and "late again" not in html
    html = alice_client.get("/queue/support/?sort=priority&status=resolved").content.decode()
    assert "closed one" in html
    assert late.pk


def test_queue_htmx_request_gets_only_the_rows(alice_client):
    make_case("support")
    response = alice_client.get(
        "/queue/support/?q=parcel", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="queue-rows"
    )
    html = response.content.decode()
    assert 'id="queue-rows"' in html and "<html" not in html


def test_queue_htmx_rows_bring_the_count_and_query_out_of_band(alice_client):
    make_case("support", body="My parcel is late")
    make_case("support", body="Refund for a broken blender")
    response = alice_client.get(
        "/queue/support/?q=parcel&since=", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="queue-rows"
    )
    html = response.content.decode()
    assert '<span class="count" id="queue-count" hx-swap-oob="true">1 case</span>' in html
    for form in ("save-view-query", "bulk-query"):
        assert f'value="q=parcel&amp;since=" id="{form}" hx-swap-oob="true"' in html


def test_saved_view_with_an_empty_date_filter_counts(alice_client, alice):
    # A live search's query carries every field, empty ones too ("since=").
    make_case("support", body="My parcel is late")
    SavedView.objects.create(user=alice, name="Parcels", query="q=parcel&since=&until=")
    html = alice_client.get("/queue/support/").content.decode()
    assert "Parcels" in html and '<span class="count">1</span>' in html


def test_agent_cannot_open_another_departments_queue(alice_client):
    assert alice_client.get("/queue/product/").status_code == 404


def test_saved_view_with_count(alice_client, alice):
    make_case("support", priority="urgent")
    make_case("support")
    alice_client.post(
        reverse("departments:view-save"),
        {"name": "Urgent", "department": "support", "query": "priority=urgent"},
    )
    view = SavedView.objects.get(user=alice)
    html = alice_client.get("/queue/support/").content.decode()
    assert "Urgent" in html and '<span class="count">1</span>' in html
    assert view.query == "priority=urgent"


def test_item_page_shows_every_departments_case_and_the_timeline(alice_client, bob):
    case = make_case("support")
    Case.objects.create(
        item=case.item,
        department=dept("product"),
        routed_by="rule",
        reason="rule 'bugs'",
        assignee=bob,
    )
    Note.objects.create(
        item=case.item, author=bob, department=dept("product"), body="We know about this"
    )
    html = alice_client.get(f"/items/{case.item_id}/").content.decode()
    assert "Support" in html and "Product" in html and "assigned to bob" in html
    assert "We know about this" in html


def test_actions_in_place_return_the_work_panel(alice_client, alice):
    case = make_case("support")
    htmx = {"HTTP_HX_REQUEST": "true"}
    response = alice_client.post(f"/cases/{case.pk}/claim/", **htmx)
    assert response.status_code == 200 and 'id="work"' in response.content.decode()
    case.refresh_from_db()
    assert case.assignee == alice
    alice_client.post(
        f"/cases/{case.pk}/reroute/", {"department": "product", "note": "checkout bug"}, **htmx
    )
    assert Case.objects.get(item=case.item, department__slug="product").status == "new"
    response = alice_client.post(f"/cases/{case.pk}/status/", {"status": "dismissed"}, **htmx)
    assert "This case is already" not in response.content.decode()
    kinds = set(CaseEvent.objects.filter(item=case.item).values_list("kind", flat=True))
    assert {"claimed", "rerouted"} <= kinds


def test_action_errors_are_shown_not_raised(alice_client):
    case = make_case("support")
    response = alice_client.post(
        f"/cases/{case.pk}/status/", {"status": "dismissed"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and "needs a reason" in response.content.decode()


def test_agent_cannot_act_on_another_departments_case(alice_client):
    case = make_case("product")
    response = alice_client.post(f"/cases/{case.pk}/claim/", HTTP_HX_REQUEST="true")
    assert "Only Product can act" in response.content.decode()
    case.refresh_from_db()
    assert case.assignee is None


def test_hr_only_item_is_invisible_to_other_departments(client, bob, hana):
    hr_case = make_case("hr", body="Harassment complaint about a shift lead")
    Note.objects.create(item=hr_case.item, author=hana, department=dept("hr"), body="sealed")
    client.force_login(bob)
    assert client.get(f"/items/{hr_case.item_id}/").status_code == 404
    assert client.post(f"/cases/{hr_case.pk}/claim/").status_code == 404
    assert client.post(f"/items/{hr_case.item_id}/note/", {"body": "x"}).status_code == 404
    html = client.get("/queue/product/?q=harassment").content.decode()
    assert "Harassment" not in html
    client.force_login(hana)
    assert "Harassment complaint" in client.get(f"/items/{hr_case.item_id}/").content.decode()


def test_item_shared_from_hr_shows_to_others_without_hr_notes(client, bob, hana):
    case = make_case("hr", body="Candidate asks about the product roadmap")
    from departments.services import case_share, note_add

    note_add(item=case.item, actor=hana, body="HR-only remark")
    case_share(case=case, to_department=dept("product"), actor=hana, note="")
    client.force_login(bob)
    html = client.get(f"/items/{case.item_id}/").content.decode()
    assert "Candidate asks" in html and "HR-only remark" not in html
    assert "<strong>HR</strong>" not in html  # the HR case itself stays hidden


def test_untrusted_text_is_escaped_everywhere(alice_client, source):
    author = AuthorFactory(source=source, name=XSS, handle="<b>bold</b>")
    item = FeedbackItem.objects.create(
        source=source, external_id="x", author=author, body=XSS, state="routed", tags=["<i>t</i>"]
    )
    case = Case.objects.create(
        item=item, department=dept("support"), routed_by="model", reason=XSS, tags=["<u>u</u>"]
    )
    Note.objects.create(item=item, author=None, department=dept("support"), body=XSS)
    for url in ("/queue/support/", f"/items/{item.pk}/"):
        html = alice_client.get(url).content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "<b>bold</b>" not in html and "<i>t</i>" not in html
        assert "&lt;script&gt;" in html
    assert case.pk


def test_triage_inbox_and_routing_from_it(alice_client, charlie, client):
    item = FeedbackItemFactory(body="Unclear post", state="triage")
    assert "Unclear post" in alice_client.get("/triage/").content.decode()
    alice_client.post(f"/items/{item.pk}/route/", {"department": ["product", "marketing"]})
    item.refresh_from_db()
    assert item.state == "routed" and item.cases.count() == 2
    client.force_login(charlie)
    assert client.get("/triage/").status_code == 404


def test_bulk_actions(alice_client):
    cases = [make_case("support", body=f"spam {i}") for i in range(3)]
    response = alice_client.post(
        "/queue/support/bulk/", {"action": "dismiss_spam", "case": [c.pk for c in cases[:2]]}
    )
    assert response.status_code == 302
    statuses = sorted(
        Case.objects.filter(pk__in=[c.pk for c in cases]).values_list("status", flat=True)
    )
    assert statuses == ["dismissed", "dismissed", "new"]


def test_presence_shows_other_viewers(client, alice):
    maria = UserFactory(username="maria", first_name="Maria")
    member(maria, "support")
    case = make_case("support")
    client.force_login(maria)
    client.get(f"/items/{case.item_id}/")
    client.force_login(alice)
    html = client.get(f"/items/{case.item_id}/presence/").content.decode()
    assert "Maria is also viewing this item" in html


def test_csp_header_allows_only_own_scripts(alice_client):
    response = alice_client.get("/queue/support/")
    csp = response["Content-Security-Policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )


def test_login_is_throttled_after_repeated_failures(client, alice):
    for _ in range(5):
        client.post("/login/", {"username": "alice", "password": "wrong"})
    response = client.post(
        "/login/", {"username": "alice", "password": "correct horse battery staple"}
    )
    assert response.status_code == 429


def test_a_note_shows_once_on_the_timeline(alice_client):
    case = make_case("support")
    alice_client.post(f"/items/{case.item_id}/note/", {"body": "Customer called twice"})
    assert CaseEvent.objects.filter(item=case.item, kind="noted").exists()
    html = alice_client.get(f"/items/{case.item_id}/").content.decode()
    timeline = html.split('<section class="timeline">')[1]
    assert timeline.count("Customer called twice") == 1
    assert "added a note" not in timeline


def test_a_reroute_and_a_share_show_once_on_the_timeline(alice_client):
    case = make_case("support")
    alice_client.post(f"/cases/{case.pk}/share/", {"department": "marketing", "note": "fyi"})
    alice_client.post(f"/cases/{case.pk}/reroute/", {"department": "product", "note": "bug"})
    # Each handoff is logged on both cases.
    assert CaseEvent.objects.filter(item=case.item, kind="rerouted").count() == 2
    html = alice_client.get(f"/items/{case.item_id}/").content.decode()
    timeline = html.split('<section class="timeline">')[1]
    assert timeline.count("rerouted Support → Product") == 1
    assert timeline.count("shared Support → Marketing") == 1


def test_routing_from_triage_updates_the_state_the_work_panel_and_the_sidebar(alice_client):
    item = FeedbackItemFactory(body="Unclear post", state="triage")
    page = alice_client.get(f"/items/{item.pk}/").content.decode()
    assert "state: Triage" in page and 'class="triage-route"' in page
    assert 'id="nav-queues"' in page and "hx-swap-oob" not in page
    html = alice_client.post(
        f"/items/{item.pk}/route/", {"department": ["product"]}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'id="work"' in html and 'class="triage-route"' not in html
    assert "routed to Product" in html
    state = html.split('id="item-state"')[1].split("</span>")[0]
    assert 'hx-swap-oob="true"' in state and "state: Routed" in state
    sidebar = html.split('id="nav-queues"')[1].split("</ul>")[0]
    assert 'hx-swap-oob="true"' in sidebar
    assert 'Triage inbox <span class="count">0</span>' in sidebar


def test_routing_from_triage_to_a_sealed_department_only_leaves_the_page(alice_client):
    item = FeedbackItemFactory(body="About my manager", state="triage")
    response = alice_client.post(
        f"/items/{item.pk}/route/", {"department": ["hr"]}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and response["HX-Redirect"] == "/"
    assert alice_client.get(f"/items/{item.pk}/").status_code == 404


def test_an_admin_in_no_department_lands_on_the_triage_inbox(client, charlie):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/triage/"
    client.force_login(charlie)  # no department, not staff: told why
    assert "not a member of any department" in client.get("/").content.decode()


def test_scores_name_departments_as_they_are_spelled(client, hana):
    case = make_case("hr")
    FeedbackItem.objects.filter(pk=case.item_id).update(scores={"hr": 0.9, "noise": 0.1})
    client.force_login(hana)
    html = client.get(f"/items/{case.item_id}/").content.decode()
    scores = html.split('<table class="scores">')[1].split("</table>")[0]
    assert "<th>HR</th>" in scores and "<th>Noise</th>" in scores


def test_words_that_pushed_it_leave_out_function_words_and_punctuation(alice_client):
    terms = [["hiring", 0.8], ["my", 0.5], ["?", 0.4], ["hiring ?", 0.2], ["night shift", 0.1]]
    case = make_case("support", explanation={"terms": terms})
    html = alice_client.get(f"/items/{case.item_id}/").content.decode()
    why = html.split('<p class="why">')[1].split("</p>")[0]
    assert "<mark>hiring</mark>, <mark>night shift</mark>" in why
    assert "<mark>my</mark>" not in why and "<mark>?</mark>" not in why
    case.refresh_from_db()
    assert case.explanation["terms"] == terms  # stored as the model gave them


@pytest.mark.parametrize(
    ("explanation", "said"),
    [
        ({"terms": []}, None),
        ({"terms": [], "organisation_head": 0.91}, "weighed with what your team's decisions"),
        (
            {"terms": [], "organisation_head": 0.91, "similar": [{"item": 1}, {"item": 2}]},
            "like 2 posts your team labelled",
        ),
        (
            {"terms": [], "organisation_head": 0.91, "lead": 0.47},
            "0.47 ahead of the next department, a lead your team's decisions showed",
        ),
    ],
)
def test_the_why_line_says_when_the_teams_labels_had_a_say(alice_client, explanation, said):
    case = make_case("support", explanation=explanation)
    html = alice_client.get(f"/items/{case.item_id}/").content.decode()
    why = html.split('<p class="why">')[1].split("</p>")[0]
    if said is None:
        assert "your team" not in why
    else:
        assert said in why


def test_pages_link_a_favicon(client):
    html = client.get("/login/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html


def test_forbidden_is_a_page_of_the_app(alice_client):
    response = alice_client.get("/dashboards/")
    assert response.status_code == 403
    html = response.content.decode()
    assert 'class="topbar"' in html and "You can’t open this page" in html


def test_the_lockout_page_says_how_long_it_lasts(client, alice, settings):
    from datetime import timedelta

    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    for _ in range(5):
        client.post("/login/", {"username": "alice", "password": "wrong"})
    response = client.post("/login/", {"username": "alice", "password": "wrong"})
    html = response.content.decode()
    assert response.status_code == 429 and 'class="topbar"' in html
    assert "locked for 15\xa0minutes" in html and "<strong>alice</strong>" in html


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_item_is_a_page_of_the_app_with_or_without_debug(alice_client, settings, debug):
    # With DEBUG on (make run's development server) Django's technical page listed every
    # URL pattern instead.
    settings.DEBUG = debug
    response = alice_client.get("/items/999999/")
    html = response.content.decode()
    assert response.status_code == 404
    assert 'class="topbar"' in html and "Nothing here" in html
    assert "URLconf" not in html and "urlpatterns" not in html


def test_item_page_neighbours_come_only_from_a_queue_the_user_works(alice_client):
    older = make_case("support", body="older parcel")
    newer = make_case("support", body="newer parcel")
    product = make_case("product", body="product parcel")
    html = alice_client.get(f"/items/{newer.item_id}/?from=/queue/support/").content.decode()
    assert f'href="/items/{older.item_id}/?from=%2Fqueue%2Fsupport%2F%3Fpage%3D1"' in html
    assert 'data-item-nav="prev"' not in html
    for source in ("https://evil.example/queue/support/", "/queue/product/", "/triage/"):
        html = alice_client.get(f"/items/{newer.item_id}/", {"from": source}).content.decode()
        assert "data-item-nav" not in html and "Back to the queue" not in html
    assert product.pk


def test_a_server_error_is_a_page_of_the_app_and_tells_nothing_of_the_error(rf):
    from config.health import server_error

    request = rf.get("/queue/support/")
    try:
        raise RuntimeError("secret detail of the failure")
    except RuntimeError:
        response = server_error(request)
    html = response.content.decode()
    assert response.status_code == 500
    assert 'class="topbar"' in html and 'href="/static/css/app.css"' in html
    assert "Something went wrong on our side" in html
    assert "secret detail" not in html and "Traceback" not in html
