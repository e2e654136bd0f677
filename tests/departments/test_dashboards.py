"""Dashboard numbers against hand-computed fixtures; spikes; access rules; drill-down."""

import csv
import io
from datetime import timedelta

import pytest
from django.core import mail
from django.http import QueryDict
from django.utils import timezone

from departments.metrics import (
    DashboardFilter,
    backlog_refresh,
    handoffs,
    overview,
    routing_quality,
    spikes_for,
    stats_overview,
)
from departments.models import Case, Department, Spike, ThemeSnapshot
from departments.rollups import histogram_median, rollups_refresh
from departments.services import case_reroute
from departments.signals_detect import digest_send, spike_score, spikes_detect, themes_refresh
from feedback.models import FeedbackItem
from tests.factories import FeedbackItemFactory, UserFactory, member

pytestmark = pytest.mark.django_db
H = timedelta(hours=1)


def dept(slug):
    return Department.objects.get(slug=slug)


def make_case(slug, created, *, first=None, resolved=None, sentiment="neutral", body="x"):
    d = dept(slug)
    item = FeedbackItemFactory(
        body=body, state="routed", sentiment_label=sentiment, received_at=created
    )
    return Case.objects.create(
        item=item,
        department=d,
        routed_by="model",
        created_at=created,
        due_at=created + d.first_response_sla,
        resolution_due_at=created + d.resolution_sla,
        first_response_at=created + first if first else None,
        resolved_at=created + resolved if resolved else None,
        status="resolved" if resolved else "open",
    )


def window(days=10):
    query = QueryDict(mutable=True)
    today = timezone.now().date()
    query["since"] = (today - timedelta(days=days)).isoformat()
    query["until"] = today.isoformat()
    return DashboardFilter.from_query(query)


def test_sla_attainment_and_medians_match_hand_computed_values(manager):
    # Support's targets: first response 2 h, resolution 2 days.
    five_days_ago = timezone.now() - timedelta(days=5)
    make_case("support", five_days_ago, first=1 * H, resolved=10 * H, sentiment="positive")
    make_case("support", five_days_ago, first=3 * H, resolved=60 * H, sentiment="negative")
    make_case("support", five_days_ago, sentiment="negative")  # never answered: both missed
    make_case("support", timezone.now() - 10 * timedelta(minutes=1))  # not due yet: not counted
    flt = window()
    rollups_refresh(start=flt.start, end=flt.end)
    row = next(
        r for r in overview(manager, flt)["departments"] if r["department"].slug == "support"
    )
    assert row["cases"] == 4
    assert row["first_response_sla"] == pytest.approx(1 / 3, abs=1e-3)
    assert row["resolution_sla"] == pytest.approx(1 / 3, abs=1e-3)
    # Median of 1 h and 3 h is 2 h; the histogram interpolation gives exactly that here.
    assert row["median_first_response_hours"] == pytest.approx(2.0)
    assert row["sentiment"] == {"positive": 1, "neutral": 1, "negative": 2}
    assert row["open"] == 2
    assert row["oldest_open_age_hours"] == pytest.approx(5 * 24, abs=0.2)


def test_multi_department_share(manager):
    now = timezone.now() - timedelta(days=1)
    both = make_case("support", now)
    Case.objects.create(
        item=both.item, department=dept("product"), routed_by="model", created_at=now
    )
    make_case("support", now)
    flt = window()
    rollups_refresh(start=flt.start, end=flt.end)
    row = next(
        r for r in overview(manager, flt)["departments"] if r["department"].slug == "support"
    )
    assert row["multi_department_share"] == 0.5


def test_histogram_median():
    assert histogram_median([]) is None
    assert histogram_median([0, 2, 0]) == pytest.approx(300 + 600 * 0.5)


def test_handoff_matrix_and_ping_pong(manager, alice, bob):
    case = make_case("support", timezone.now() - timedelta(hours=5))
    product_case = case_reroute(case=case, to_department=dept("product"), actor=alice)
    case_reroute(case=product_case, to_department=dept("support"), actor=bob)
    once = make_case("support", timezone.now() - timedelta(hours=3))
    case_reroute(case=once, to_department=dept("marketing"), actor=alice)
    data = handoffs(manager, window())
    cells = {(c["kind"], c["from"].slug, c["to"].slug): c["count"] for c in data["matrix"]}
    assert cells == {
        ("rerouted", "support", "product"): 1,
        ("rerouted", "product", "support"): 1,
        ("rerouted", "support", "marketing"): 1,
    }
    assert data["ping_pong_items"] == [case.item_id]
    assert data["hours_lost_in_wrong_queue"] > 0


def test_sealed_department_numbers_do_not_reach_other_managers(manager, hana):
    make_case("hr", timezone.now() - timedelta(days=1))
    flt = window()
    rollups_refresh(start=flt.start, end=flt.end)
    slugs = {r["department"].slug for r in overview(manager, flt)["departments"]}
    assert "hr" not in slugs
    hr_manager = UserFactory(username="harriet")
    member(hr_manager, "hr", role="manager")
    assert "hr" in {r["department"].slug for r in overview(hr_manager, flt)["departments"]}


def test_spike_score_floors_the_spread():
    mean, z = spike_score(5, [0] * 168)
    assert mean == 0 and z == 5.0


def plant_hourly(slug, per_hour, hours, body="usual question about my order"):
    d = dept(slug)
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    rows = []
    for h in range(1, hours + 1):
        for n in range(per_hour):
            item = FeedbackItem.objects.create(
                source=FeedbackItemFactory().source if not rows else rows[0].item.source,
                external_id=f"{slug}-{h}-{n}-{per_hour}",
                body=body,
                state="routed",
                received_at=now - h * H + timedelta(minutes=1),
            )
            rows.append(
                Case(
                    item=item,
                    department=d,
                    routed_by="model",
                    created_at=now - h * H + timedelta(minutes=1),
                )
            )
    Case.objects.bulk_create(rows)
    return now


def test_spike_fires_on_a_planted_spike_and_concerns_marketing(manager):
    marketing_manager = UserFactory(username="mark", email="mark@example.com")
    member(marketing_manager, "marketing", role="manager")
    ThemeSnapshot.objects.create(scope="marketing", vocabulary=["promo", "discount", "love"])
    ThemeSnapshot.objects.create(scope="hr", vocabulary=["promo", "shift"])  # sealed
    now = plant_hourly("support", per_hour=1, hours=7 * 24)
    support = dept("support")
    for n in range(30):  # the promotion's complaints arrive within one hour
        item = FeedbackItem.objects.create(
            source=FeedbackItem.objects.first().source,
            external_id=f"promo-{n}",
            body="The promo code SPRING25 is refused at checkout",
            state="routed",
            received_at=now + timedelta(minutes=2),
        )
        Case.objects.create(
            item=item, department=support, routed_by="model", created_at=now + timedelta(minutes=2)
        )
    found = spikes_detect(now=now + timedelta(minutes=30))
    spike = next(s for s in found if s.dimension == "department")
    assert spike.key == "support" and spike.count == 30 and spike.baseline == pytest.approx(1.0)
    assert "promo" in spike.terms and spike.related == ["marketing"]
    assert spike in spikes_for(marketing_manager, department=dept("marketing"))
    recipients = {r for m in mail.outbox for r in m.to}
    assert {"mona@example.com", "mark@example.com"} <= recipients
    # Running detection again does not mail twice.
    sent = len(mail.outbox)
    spikes_detect(now=now + timedelta(minutes=40))
    assert len(mail.outbox) == sent


def plant_burst(slug, n, at, *, body, source, intents=()):
    """`n` items routed to `slug` (None: left in triage), all received at `at`."""
    for k in range(n):
        item = FeedbackItem.objects.create(
            source=source,
            external_id=f"burst-{slug}-{at:%H%M}-{k}",
            body=body,
            state="routed" if slug else "triage",
            intents=list(intents),
            received_at=at,
        )
        if slug:
            Case.objects.create(item=item, department=dept(slug), routed_by="model", created_at=at)


def test_hr_spike_concerns_hr_alone(manager, harriet, subscriptions, monkeypatch):
    from tests.webhooks.helpers import everything_and_hr
    from webhooks import services as webhook_services
    from webhooks.models import Delivery

    everything, hr_tool = everything_and_hr("spike.detected")
    emitted = []
    real_emit = webhook_services.webhook_emit
    monkeypatch.setattr(
        webhook_services,
        "webhook_emit",
        lambda **kw: emitted.append((kw["event"], list(kw["departments"]))) or real_emit(**kw),
    )
    # Support usually hears these words too: before, that made support "related".
    ThemeSnapshot.objects.create(scope="support", vocabulary=["harass", "grievanc", "shift"])
    now = plant_hourly("hr", per_hour=1, hours=7 * 24, body="A grievance about my shift")
    source = Case.objects.filter(department__slug="hr").first().item.source
    plant_burst(
        "hr",
        30,
        now + timedelta(minutes=2),
        body="Harassment grievance against my team lead",
        source=source,
        intents=["complaint"],
    )
    found = spikes_detect(now=now + timedelta(minutes=30))
    # The HR-only items make no source or intent spike that every manager would be told of.
    assert [(s.dimension, s.key) for s in found] == [("department", "hr")]
    [spike] = found
    assert spike.related == [] and "harassment" in spike.terms  # as written
    assert Spike.objects.get().related == []
    assert [m.to for m in mail.outbox] == [["harriet@example.com"]]
    assert emitted == [("spike.detected", ["hr"])]
    assert not Delivery.objects.filter(subscription=everything).exists()
    delivery = Delivery.objects.get(subscription=hr_tool)
    assert delivery.payload["data"]["related_departments"] == []
    assert spikes_for(manager) == [] and spikes_for(manager, department=dept("support")) == []


def test_source_spike_counts_only_items_others_may_see(manager, harriet, source):
    at = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(minutes=2)
    # A post each four days ago: support, HR and the web source have a history to stand on.
    for slug in ("support", "hr"):
        plant_burst(slug, 1, at - 100 * H, body="an older post", source=source)
    plant_burst("support", 12, at, body="The promo code is refused", source=source)
    plant_burst("hr", 20, at, body="Harassment grievance against my lead", source=source)
    found = {(s.dimension, s.key): s for s in spikes_detect(now=at + timedelta(minutes=20))}
    web = found[("source", "web")]
    assert web.count == 12 and "promo" in web.terms
    assert not {"harass", "grievanc", "lead"} & set(web.terms)
    assert found[("department", "hr")].related == []
    assert spikes_for(manager) == [found[("department", "support")], web]


def test_support_manager_numbers_ignore_hr_only_data(manager, harriet, source, other_source):
    """Differential: support's manager sees the same numbers with and without HR's data."""
    days_ago = timezone.now() - timedelta(days=3)
    shared = make_case("support", days_ago, first=1 * H, resolved=5 * H, body="refund late")
    Case.objects.create(
        item=shared.item, department=dept("product"), routed_by="model", created_at=days_ago
    )
    make_case("support", days_ago, sentiment="negative", body="refund missing again")
    person = make_case("support", days_ago, body="refund please")
    Case.objects.filter(pk=person.pk).update(routed_by="person")
    plant_burst(None, 2, days_ago, body="unclear post", source=other_source)

    def measure() -> dict:
        flt = window()
        rollups_refresh(start=flt.start, end=flt.end)
        backlog_refresh()
        themes_refresh()
        data = overview(manager, flt)
        for row in [*data["departments"], data["total"]]:
            row.pop("oldest_open_age_hours")  # moves with the clock
        stats = stats_overview(manager)
        stats.pop("generated_at")
        mail.outbox.clear()
        digest_send()
        [digest] = [m.body for m in mail.outbox if m.to == [manager.email]]
        return {
            "overview": data,
            "quality": routing_quality(manager, flt),
            "handoffs": handoffs(manager, flt),
            "stats": stats,
            "themes": [(t.terms, t.vocabulary) for t in ThemeSnapshot.objects.filter(scope="all")],
            "spikes": spikes_for(manager),
            "digest": "\n".join(line for line in digest.splitlines() if "oldest" not in line),
        }

    before = measure()
    support_row = next(
        r for r in before["overview"]["departments"] if r["department"].slug == "support"
    )
    assert support_row["multi_department_share"] == pytest.approx(1 / 3, abs=1e-3)
    # HR's own items, some routed by a person, some in triage-like states, and an HR case
    # on an item support already holds.
    for n in range(4):
        hr_case = make_case("hr", days_ago, first=9 * H, sentiment="negative", body="refund shift")
        if n % 2:
            Case.objects.filter(pk=hr_case.pk).update(routed_by="person")
    plant_burst("hr", 3, days_ago, body="refund grievance", source=other_source)
    Case.objects.create(
        item=person.item, department=dept("hr"), routed_by="person", created_at=days_ago
    )
    after = measure()
    assert after == before


def test_steady_traffic_raises_no_spike(manager):
    now = plant_hourly("support", per_hour=3, hours=7 * 24 + 1)
    source = FeedbackItem.objects.first().source
    plant_burst("support", 3, now + timedelta(minutes=5), body="usual question", source=source)
    assert spikes_detect(now=now + timedelta(minutes=30)) == []
    assert not Spike.objects.exists() and mail.outbox == []


def test_a_wave_over_steady_history_fires_and_says_why(client, manager):
    now = plant_hourly("support", per_hour=3, hours=7 * 24)
    source = FeedbackItem.objects.first().source
    plant_burst("support", 40, now + timedelta(minutes=5), body="checkout broken", source=source)
    found = {(s.dimension, s.key): s for s in spikes_detect(now=now + timedelta(minutes=30))}
    spike = found[("department", "support")]
    assert (spike.count, spike.baseline) == (40, pytest.approx(3.0))
    why = f"40 posts this hour against about 3 expected (z {spike.zscore:.1f})"
    assert spike.reason == why
    [message] = [m for m in mail.outbox if "department support" in m.subject]
    assert why in message.subject and why in message.body
    assert message.to == ["mona@example.com"]
    client.force_login(manager)
    assert why in client.get("/dashboards/support/").content.decode()


def test_a_fresh_install_records_and_sends_nothing(manager, source):
    assert spikes_detect() == []  # an empty store
    at = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(minutes=3)
    # The demo's seed: dozens of posts within one minute, in one hour of a store with no past.
    plant_burst("support", 54, at, body="my parcel is late", source=source, intents=["complaint"])
    plant_burst(None, 20, at, body="unclear post", source=source, intents=["question"])
    assert spikes_detect(now=at + timedelta(minutes=10)) == []
    assert spikes_detect(now=at + timedelta(minutes=70)) == []  # the next hour, too
    assert not Spike.objects.exists() and mail.outbox == []


def test_a_scope_needs_its_minimum_history(manager, source, settings):
    settings.SPIKE_MIN_HISTORY_HOURS = 72
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    plant_burst("support", 1, hour - 71 * H, body="first post", source=source)
    plant_burst("support", 30, hour + timedelta(minutes=2), body="wave", source=source)
    assert spikes_detect(now=hour + timedelta(minutes=20)) == []
    plant_burst("support", 1, hour - 72 * H, body="a post a day earlier", source=source)
    found = spikes_detect(now=hour + timedelta(minutes=20))
    assert {(s.dimension, s.key) for s in found} == {("department", "support"), ("source", "web")}
    settings.SPIKE_MIN_HISTORY_HOURS = 0  # no minimum: the old behaviour
    Spike.objects.all().delete()
    plant_burst("product", 12, hour + timedelta(minutes=4), body="new", source=source)
    assert ("department", "product") in {(s.dimension, s.key) for s in spikes_detect(now=hour)}


def test_pages_drill_down_and_export(client, manager, alice):
    case = make_case("support", timezone.now() - timedelta(days=1), body="=cmd|' /C calc'!A0")
    make_case("hr", timezone.now() - timedelta(days=1), body="hr only")
    client.force_login(manager)
    flt = window()
    rollups_refresh(start=flt.start, end=flt.end)
    html = client.get("/dashboards/").content.decode()
    assert 'data-chart="volume"' in html and "dashboard-data" in html
    assert client.get("/dashboards/support/").status_code == 200
    assert client.get("/dashboards/hr/").status_code == 404
    assert client.get("/dashboards/handoffs/").status_code == 200
    assert client.get("/dashboards/quality/").status_code == 200
    drill = client.get("/dashboards/items/?department=support").content.decode()
    assert "cmd|" in drill and "hr only" not in client.get("/dashboards/items/").content.decode()
    response = client.get("/dashboards/export.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "case_id" and len(rows) == 2
    assert rows[1][0] == str(case.pk) and rows[1][-1].startswith("'=")  # formula neutralized
    client.force_login(alice)
    assert client.get("/dashboards/").status_code == 403  # agents do not get dashboards


@pytest.mark.parametrize(
    ("hours", "shown"),
    [(None, "—"), (0.004, "< 1 m"), (0.04, "2 m"), (1.2, "1 h 12 m"), (2, "2 h"), (76, "3 d 4 h")],
)
def test_durations_read_as_people_say_them(hours, shown):
    from departments.templatetags.workspace import hours_human

    assert hours_human(hours) == shown


def test_rising_terms_are_shown_as_people_wrote_them(manager):
    now = timezone.now()
    bodies = ["I was charged twice", "Charged again!", "my card expired", "card expired, charged"]
    bodies += ["the code expires today", "charging me twice is wrong"]
    for n, body in enumerate(bodies):
        make_case("support", now - timedelta(hours=n + 1), body=body)
    for n in range(10):  # the weeks before: other words
        make_case("support", now - timedelta(days=10 + n), body="thanks for the help")
    themes_refresh()
    snapshot = ThemeSnapshot.objects.get(scope="support")
    terms = {t["stem"]: t["term"] for t in snapshot.terms}
    assert terms["charg"] == "charged" and terms["expir"] == "expired"
    assert not any(t.endswith(("charg", "expir")) for t in terms.values())
