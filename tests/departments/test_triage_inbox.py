"""The triage inbox: suggestions as the viewer may see them, one-action decisions (each a
routing label: a confirmation when it is the model's own first choice, a correction
otherwise), bulk accept, groups of posts that say the same thing, and bad input."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from departments.models import Case
from departments.triage import post_tokens
from feedback.models import FeedbackItem
from routing.models import RoutingLabel
from tests.abuse.test_sealed_differential import mask
from tests.factories import FeedbackItemFactory, SourceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def post(body, *, scores=None, priority="normal", hours_ago=1.0, **fields):
    return FeedbackItemFactory(
        body=body,
        state="triage",
        scores=scores if scores is not None else {"support": 0.4, "product": 0.1},
        priority=priority,
        received_at=timezone.now() - timedelta(hours=hours_ago),
        **fields,
    )


def row_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="trow-(\d+)"', html)]


def labels(item) -> dict[str, tuple[bool, str]]:
    return {
        label.department: (label.positive, label.kind)
        for label in RoutingLabel.objects.filter(item=item)
    }


def test_rows_are_sorted_by_priority_then_oldest_first(alice_client):
    newer_urgent = post("Checkout is down for everyone", priority="urgent", hours_ago=1)
    older_urgent = post("Cannot log in since the update", priority="urgent", hours_ago=5)
    old_normal = post("Is there a student discount", hours_ago=30)
    high = post("My parcel never arrived", priority="high", hours_ago=2)
    html = alice_client.get("/triage/").content.decode()
    assert row_ids(html) == [older_urgent.pk, newer_urgent.pk, high.pk, old_normal.pk]


def test_a_row_shows_the_suggested_departments_with_their_score(alice_client):
    post(
        "Where is my <script>refund</script>",
        scores={"support": 0.42, "product": 0.35, "noise": 0.6},
    )
    row = alice_client.get("/triage/").content.decode().split('<tr id="trow-')[1]
    assert "Where is my &lt;script&gt;refund&lt;/script&gt;" in row
    suggest = row.split('class="suggest">')[1].split("</td>")[0]
    assert "Support <b>0.42</b>" in suggest and "Product <b>0.35</b>" in suggest
    assert "oise" not in suggest  # noise is a decision (x), not a department
    assert 'value="accept"' in row and "Route to Support (a)" in row


def test_accepting_the_suggestion_is_a_confirmation(alice_client):
    item = post("Where is my refund", scores={"support": 0.45, "product": 0.2})
    response = alice_client.post("/triage/act/", {"action": "accept", "row": str(item.pk)})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.state == "routed"
    assert list(item.cases.values_list("department__slug", flat=True)) == ["support"]
    assert labels(item) == {
        "support": (True, RoutingLabel.Kind.CONFIRMATION),
        "noise": (False, RoutingLabel.Kind.CONFIRMATION),
    }


def test_picking_another_department_is_a_correction(alice_client):
    item = post("Where is my refund", scores={"support": 0.45, "product": 0.2})
    alice_client.post(
        "/triage/act/", {"action": "route", "row": str(item.pk), "department": "product"}
    )
    assert Case.objects.get(item=item).department.slug == "product"
    assert labels(item)["product"] == (True, RoutingLabel.Kind.CORRECTION)


def test_noise_takes_the_post_out_with_a_noise_label(alice_client):
    item = post("follow me for free crypto")
    alice_client.post("/triage/act/", {"action": "noise", "row": str(item.pk)})
    item.refresh_from_db()
    assert item.state == "noise" and not item.cases.exists()
    assert labels(item) == {"noise": (True, RoutingLabel.Kind.CORRECTION)}


def test_bulk_accept_routes_each_row_to_its_own_suggestion(alice_client):
    refund = post("Where is my refund", scores={"support": 0.45, "product": 0.1})
    feature = post("Please add a dark mode", scores={"product": 0.4, "support": 0.1})
    untouched = post("Love the new logo", scores={"marketing": 0.4})
    response = alice_client.post(
        "/triage/act/", {"action": "accept", "row": [str(refund.pk), str(feature.pk)]}
    )
    assert response.status_code == 302
    assert Case.objects.get(item=refund).department.slug == "support"
    assert Case.objects.get(item=feature).department.slug == "product"
    assert RoutingLabel.objects.filter(item=refund, positive=True).count() == 1
    assert RoutingLabel.objects.filter(item=feature, positive=True).count() == 1
    assert FeedbackItem.objects.get(pk=untouched.pk).state == "triage"


def test_posts_that_say_the_same_thing_within_a_wave_are_one_row(alice_client):
    first = post("The app crashes when I open my order history", hours_ago=10)
    again = post("App crashes when I open my ORDER HISTORY!!! @shop", hours_ago=9)
    more = post("the app crashes when i open my order history again today", hours_ago=3)
    # Same words, but more than 48 hours from the first: another wave.
    later = post("The app crashes when I open my order history", hours_ago=70)
    other = post("The app crashes when I upload a photo", hours_ago=8)
    html = alice_client.get("/triage/").content.decode()
    assert row_ids(html) == [later.pk, first.pk, other.pk]
    group = html.split(f'<tr id="trow-{first.pk}"')[1].split("</tr>")[0]
    assert "×3 similar" in group
    assert f'value="{first.pk},{again.pk},{more.pk}"' in group
    assert "similar" not in html.split(f'<tr id="trow-{other.pk}"')[1].split("</tr>")[0]


def test_one_action_handles_the_whole_group_with_one_label_per_post(alice_client):
    posts = [
        post("Refund for order 1182 still missing", scores={"support": 0.3}),
        post("refund for order 2291 still missing!", scores={"support": 0.3}),
        post("Refund for order 3310 still missing", scores={"product": 0.3, "support": 0.2}),
    ]
    html = alice_client.get("/triage/").content.decode()
    assert len(row_ids(html)) == 1 and "×3 similar" in html
    ids = ",".join(str(p.pk) for p in posts)
    alice_client.post("/triage/act/", {"action": "accept", "row": ids})
    for item in posts:
        assert Case.objects.get(item=item).department.slug == "support"
        assert RoutingLabel.objects.filter(item=item, department="support").count() == 1
    # The group's suggestion is the model's own first choice for the first two only.
    assert labels(posts[0])["support"][1] == RoutingLabel.Kind.CONFIRMATION
    assert labels(posts[2])["support"][1] == RoutingLabel.Kind.CORRECTION
    alice_client.post("/triage/act/", {"action": "noise", "row": ids})  # already routed
    assert not FeedbackItem.objects.filter(state="noise").exists()


def test_suggestion_chips_count_posts_and_narrow_the_list(alice_client):
    for n in range(3):
        post(f"Order {n} late, courier {'abcdefgh'[n] * 3} lost it {n}", scores={"support": 0.4})
    dark = post("Please add a dark mode", scores={"product": 0.4})
    post("🙂", scores={})
    html = alice_client.get("/triage/").content.decode()
    chips = html.split('aria-label="Filter by suggestion"')[1].split("</nav>")[0]
    texts = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<a [^>]*>.*?</a>", chips)]
    assert texts == [
        "All 5",
        "3 look like Support",
        "1 looks like Product",
        "1 without a suggestion",
    ]
    narrowed = alice_client.get("/triage/?suggest=product").content.decode()
    assert row_ids(narrowed) == [dark.pk]


def test_sealed_suggestions_do_not_reach_outsiders(client, alice, hana):
    """Alice (support) gets the same inbox whether or not the model leans to HR; Hana, in
    HR, sees HR suggested, so the comparison can fail."""
    item = post("My shift lead keeps changing my rota", scores={"support": 0.3, "product": 0.1})

    def page(user, query=""):
        client.force_login(user)
        response = client.get(f"/triage/{query}")
        return response.status_code, mask(response.content.decode())  # CSRF tokens, times

    before = {q: page(alice, q) for q in ("", "?suggest=hr", "?suggest=support")}
    hana_before = page(hana)
    item.scores = {**item.scores, "hr": 0.24}  # below the sealed floor: stays shared
    item.save(update_fields=["scores"])
    assert {q: page(alice, q) for q in before} == before
    assert before["?suggest=hr"][0] == page(alice, "?suggest=nope")[0] == 400
    assert page(hana) != hana_before and "HR <b>0.24</b>" in page(hana)[1]
    assert page(hana, "?suggest=hr")[0] == 200


def test_accept_for_an_outsider_routes_to_what_they_were_shown(alice_client):
    item = post("Rota changes", scores={"hr": 0.24, "support": 0.2})
    alice_client.post("/triage/act/", {"action": "accept", "row": str(item.pk)})
    assert Case.objects.get(item=item).department.slug == "support"
    # The model ranked HR first, so for the learning loop this is a correction.
    assert labels(item)["support"] == (True, RoutingLabel.Kind.CORRECTION)


def test_an_htmx_action_answers_the_list_without_the_row_and_the_sidebar(alice_client):
    gone = post("Where is my refund")
    stays = post("Another question about invoices", hours_ago=0.5)
    html = alice_client.post(
        "/triage/act/?suggest=support",
        {"action": "accept", "row": str(gone.pk)},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert row_ids(html) == [stays.pk]
    assert "Routed 1 post as suggested." in html
    sidebar = html.split('id="nav-queues"')[1].split("</ul>")[0]
    assert (
        'hx-swap-oob="true"' in sidebar and 'Triage inbox <span class="count">1</span>' in sidebar
    )
    assert 'action="/triage/act/?suggest=support"' in html  # the list keeps its filter


def test_posts_in_a_sealed_triage_cannot_be_acted_on_by_outsiders(alice_client):
    from departments.models import Department

    sealed = post("About my manager", scores={"hr": 0.5})
    sealed.triage_department = Department.objects.get(slug="hr")
    sealed.save(update_fields=["triage_department"])
    alice_client.post("/triage/act/", {"action": "noise", "row": str(sealed.pk)})
    assert FeedbackItem.objects.get(pk=sealed.pk).state == "triage"


@pytest.mark.parametrize(
    "data",
    [
        {"action": "zap", "row": "1"},
        {"action": "accept", "row": "12,abc"},
        {"action": "accept", "row": "-4"},
        {"action": "route", "row": "1"},
        {"action": "route", "row": "1", "department": "nope"},
        {"action": "noise", "row": ",".join(str(n) for n in range(1, 600))},
        {"action": "noise", "row": "9" * 30},
        {"action": "noise", "row": "1\x00"},
        {"action": "route", "row": "1", "department": "support\x00"},
    ],
)
def test_bad_input_is_a_400(alice_client, data):
    assert alice_client.post("/triage/act/", data).status_code == 400


def test_the_inbox_reads_a_bounded_number_of_queries(alice_client, django_assert_max_num_queries):
    source = SourceFactory()
    words = [f"topic{a}{b}" for a in "abcde" for b in "abcdef"]
    for word in words:
        post(f"A question about {word}", source=source)
    with django_assert_max_num_queries(12):
        response = alice_client.get("/triage/")
    assert len(row_ids(response.content.decode())) == 30


def test_post_tokens_ignore_case_links_handles_numbers_and_filler():
    assert post_tokens("The APP crashes!! https://x.co/1 @shop order 1182") == {
        "app",
        "crashes",
        "order",
    }


def test_hr_works_its_own_triage_with_hr_suggested(client, hana):
    from departments.models import Department

    item = post("About my manager", scores={"hr": 0.4, "support": 0.2})
    item.triage_department = Department.objects.get(slug="hr")
    item.save(update_fields=["triage_department"])
    client.force_login(hana)
    html = client.get("/triage/?inbox=hr").content.decode()
    assert row_ids(html) == [item.pk] and "HR <b>0.40</b>" in html
    assert 'action="/triage/act/?inbox=hr"' in html
    client.post("/triage/act/?inbox=hr", {"action": "accept", "row": str(item.pk)})
    assert Case.objects.unscoped().get(item=item).department.slug == "hr"
    assert labels(item)["hr"] == (True, RoutingLabel.Kind.CONFIRMATION)
