"""The manager's picture of the flow: the handoff diagram against the matrix, the triage
inbox's size and age over time from the rollups, and what spike alerts carry."""

import re
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from departments.metrics import triage_history
from departments.models import Case, CaseEvent, Department, TriageRollup
from departments.rollups import rollups_refresh
from departments.services import case_reroute, case_share, triage_route
from tests.departments.test_dashboards import dept, make_case, window
from tests.factories import FeedbackItemFactory, SourceFactory

pytestmark = pytest.mark.django_db
H = timedelta(hours=1)
# The overview's queries with the triage history (one of them) included: a per-day or
# per-row query would pass it at once.
QUERY_BUDGET = 16


# --- the handoff diagram ---------------------------------------------------------------------

LINK = re.compile(
    r'<a [^>]*class="flow-link" data-kind="(\w+)" data-from="([\w-]+)" data-to="([\w-]+)"'
    r' data-count="(\d+)"'
)
ROW = re.compile(r"<tr><td>(\w+)</td><td>([^<]+)</td><td>([^<]+)</td><td><a [^>]+>(\d+)</a>")
SVG = re.compile(r'<figure[^>]*id="dashboard-handoffs-diagram".*?</figure>', re.S)


def handoffs_page(client, user) -> tuple[str, set, set]:
    """(the diagram's markup, its links, the matrix table's rows) as `user` sees them."""
    client.force_login(user)
    html = client.get("/dashboards/handoffs/").content.decode()
    names = {d.name: d.slug for d in Department.objects.all()}
    links = {(k, f, t, int(n)) for k, f, t, n in LINK.findall(html)}
    rows = {(k, names[f], names[t], int(n)) for k, f, t, n in ROW.findall(html)}
    figure = SVG.search(html)
    return (figure[0] if figure else ""), links, rows


def case_in(slug: str, hours_ago: int) -> Case:
    return make_case(slug, timezone.now() - hours_ago * H)


def test_the_diagram_draws_the_matrix_and_hides_sealed_flows(
    client, manager, harriet, alice, bob, hana
):
    product_case = case_reroute(
        case=case_in("support", 5), to_department=dept("product"), actor=alice
    )
    case_reroute(case=product_case, to_department=dept("support"), actor=bob)
    case_reroute(case=case_in("support", 4), to_department=dept("product"), actor=alice)
    case_share(case=case_in("support", 3), to_department=dept("marketing"), actor=alice)
    svg, links, rows = handoffs_page(client, manager)
    assert (
        links
        == rows
        == {
            ("rerouted", "support", "product", 2),
            ("rerouted", "product", "support", 1),
            ("shared", "support", "marketing", 1),
        }
    )
    # A group, not an img: an img's children are presentational, and the diagram's links
    # inside one are nested interactive content (axe: nested-interactive).
    assert 'role="group"' in svg and 'aria-describedby="flow-desc handoff-table-caption"' in svg
    widths = [float(w) for w in re.findall(r'stroke-width="([\d.]+)"><title>', svg)]
    assert max(widths) == 40.0 and min(widths) == 20.0  # by count: 2 items, then 1

    # Handoffs to, from and within HR.
    hr_case = case_reroute(case=case_in("support", 2), to_department=dept("hr"), actor=alice)
    case_share(case=hr_case, to_department=dept("product"), actor=hana)
    case_share(case=case_in("product", 1), to_department=dept("hr"), actor=bob)
    assert handoffs_page(client, manager) == (svg, links, rows)  # not a byte changed
    _, hr_links, hr_rows = handoffs_page(client, harriet)
    hr_flows = {
        ("rerouted", "support", "hr", 1),
        ("shared", "hr", "product", 1),
        ("shared", "product", "hr", 1),
    }
    assert hr_links == hr_rows == links | hr_flows


# --- the triage inbox over time -------------------------------------------------------------


def midnight(days_ago: int) -> datetime:
    """The start of the UTC day `days_ago` days before today."""
    today = timezone.now().astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=days_ago), time.min, tzinfo=UTC)


def triaged(source, received, *, entered=None, left=None, left_kind="routed", **fields):
    """A post sent to triage at `entered` (default: a minute after it was received) that
    left it at `left` (None: still waiting), with the events routing and people write."""
    state = "triage" if left is None else ("noise" if left_kind == "noise" else "routed")
    item = FeedbackItemFactory(source=source, state=state, received_at=received, **fields)
    CaseEvent.objects.create(
        item=item,
        kind=CaseEvent.Kind.TRIAGED,
        created_at=entered or received + timedelta(minutes=1),
        to_department=fields.get("triage_department"),
    )
    if left is not None:
        CaseEvent.objects.create(item=item, kind=left_kind, created_at=left)
    return item


def by_day(history) -> dict:
    return {row["day"]: row for row in history}


def test_triage_size_and_age_per_day_from_a_constructed_history(manager, harriet):
    source = SourceFactory(slug="web")
    d0, d1, d2 = midnight(3), midnight(2), midnight(1)
    # At the end of d0: A (16.5 h old) and B (5 h old) wait.
    triaged(source, d0 + 7.5 * H, left=d1 + 10 * H)  # A, routed from triage on d1
    triaged(source, d0 + 19 * H)  # B, still waiting
    triaged(source, d1 + 9 * H, left=d1 + 15 * H, left_kind="noise")  # C, gone the same day
    # Routed from triage by a person just now, through the real service; it arrived
    # earlier today (half-way since midnight, so the test holds at any hour: two hours
    # back from 01:00 was yesterday, when it would have been waiting at d2's end).
    today = midnight(0)
    arrived = today + (timezone.now() - today) / 2
    gone = triaged(source, arrived, entered=arrived)
    triage_route(item=gone, departments=[dept("support")], actor=manager)
    flt = window(days=4)
    rollups_refresh(start=flt.start, end=flt.end)
    before = triage_history(manager, flt)
    days = by_day(before)
    assert [days[d.date()]["waiting"] for d in (d0, d1, d2)] == [2, 1, 1]
    assert days[flt.end]["waiting"] == 1  # today: only B, as of the refresh
    # d0's ages: 5 h falls in the 4-8 h bucket and 16.5 h in 16-24 h; the median is read at
    # the top of the first (8 h), the 90th percentile 80 % into the second (22.4 h).
    assert days[d0.date()]["median_age_hours"] == pytest.approx(8.0)
    assert days[d0.date()]["p90_age_hours"] == pytest.approx(22.4)
    # d1: B alone, 29 h old, in the 1-2 day bucket: 36 h and 45.6 h.
    assert days[d1.date()]["median_age_hours"] == pytest.approx(36.0)
    assert days[d1.date()]["p90_age_hours"] == pytest.approx(45.6)
    assert days[flt.start]["waiting"] == 0 and days[flt.start]["median_age_hours"] is None

    # HR's own triage, and a post that went on from the shared inbox to HR alone.
    hr = dept("hr")
    triaged(source, d1 + 12 * H, triage_department=hr)
    to_hr = triaged(source, d1 + 5 * H, left=d2 + 9 * H)
    Case.objects.create(item=to_hr, department=hr, routed_by="person", created_at=d2 + 9 * H)
    rollups_refresh(start=flt.start, end=flt.end)
    # Support's manager gets exactly the same answer; HR's sees its two posts on d1.
    assert triage_history(manager, flt) == before
    hr_days = by_day(triage_history(harriet, flt))
    assert hr_days[d1.date()]["waiting"] == 3 and hr_days[d2.date()]["waiting"] == 2
    assert set(TriageRollup.objects.values_list("sealed_department__slug", flat=True)) == {
        None,
        "hr",
    }


def test_overview_draws_the_triage_inbox_over_time(client, manager, django_assert_max_num_queries):
    import json
    import re

    client.force_login(manager)
    empty = client.get("/dashboards/").content.decode()
    assert "No post waited in the triage inbox" in empty and 'data-chart="triage"' not in empty
    source = SourceFactory(slug="web")
    triaged(source, midnight(2) + 3 * H)
    flt = window(days=5)
    rollups_refresh(start=flt.start, end=flt.end)
    with django_assert_max_num_queries(QUERY_BUDGET):
        html = client.get("/dashboards/").content.decode()
    assert 'data-chart="triage"' in html and 'id="dashboard-triage"' in html
    charts = json.loads(re.search(r'id="dashboard-data"[^>]*>(.*?)</script>', html, re.S)[1])
    waiting = charts["triage"]["waiting"]
    assert len(waiting) == 30 and waiting[-3:] == [1, 1, 1] and sum(waiting) == 3
    # The table reads ages as people say them: 36 h is the median of the 1-2 day bucket.
    assert "<td>1 d 12 h</td>" in html


# --- spike alerts ---------------------------------------------------------------------------


def test_spike_alerts_say_why_and_show_the_words_people_wrote(manager, subscriptions, settings):
    from departments.signals_detect import spikes_detect
    from tests.departments.test_dashboards import plant_burst, plant_hourly
    from webhooks.models import Delivery, Subscription
    from webhooks.payloads import slack_text
    from webhooks.services import subscription_create

    settings.CELERY_TASK_ALWAYS_EAGER = False  # keep the deliveries to read them
    json_hook = subscription_create(
        name="json", url="https://hooks.example.com/j", events=["spike.detected"]
    )
    slack_hook = subscription_create(
        name="slack",
        url="https://hooks.example.com/s",
        events=["spike.detected"],
        format=Subscription.Format.SLACK,
    )
    now = plant_hourly("support", per_hour=3, hours=7 * 24)
    source = Case.objects.filter(department__slug="support").first().item.source
    plant_burst(
        "support",
        40,
        now + timedelta(minutes=5),
        body="I was charged twice and my refunds were refused, charged again today",
        source=source,
    )
    spike = next(s for s in spikes_detect(now=now + 30 * timedelta(minutes=1)))
    assert spike.dimension == "department" and spike.key == "support"
    why = f"40 posts this hour against about 3 expected (z {spike.zscore:.1f})"
    assert spike.reason == why
    # Shown as written, not as the stems the full-text index keeps.
    assert {"charged", "refunds", "refused"} <= set(spike.terms)
    assert not {"charg", "refund", "refus"} & set(spike.terms)
    department_spike = {"payload__data__dimension": "department", "payload__data__key": "support"}
    data = Delivery.objects.get(subscription=json_hook, **department_spike).payload["data"]
    assert data["reason"] == why and "charged" in data["terms"]
    slack_data = Delivery.objects.get(subscription=slack_hook, **department_spike).payload["data"]
    slack = slack_text(event="spike.detected", data=slack_data)
    assert why in slack and "charged" in slack
