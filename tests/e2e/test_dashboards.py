"""A manager opens the dashboards in headless Chromium: the charts render, and a click on
a chart bar opens the cases behind it. Screenshots of every dashboard are saved."""

from datetime import timedelta

import pytest
from django.utils import timezone

from departments.models import Case, Department
from departments.rollups import rollups_refresh
from feedback.models import FeedbackItem, Source
from tests.e2e.conftest import screenshot
from tests.factories import UserFactory, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def data():
    source = Source.objects.create(slug="web", name="Web", kind="web_form")
    manager = UserFactory(username="mona")
    member(manager, "support", role="manager")
    member(manager, "product", role="manager")
    now = timezone.now()
    for n, (slug, body, label) in enumerate(
        [
            ("support", "My parcel is late", "negative"),
            ("support", "Refund please", "negative"),
            ("support", "Thanks for the quick help", "positive"),
            ("product", "Please add dark mode", "neutral"),
        ]
    ):
        created = now - timedelta(days=1, minutes=n)
        item = FeedbackItem.objects.create(
            source=source,
            external_id=f"d{n}",
            body=body,
            state="routed",
            sentiment_label=label,
            received_at=created,
        )
        Case.objects.create(
            item=item,
            department=Department.objects.get(slug=slug),
            routed_by="model",
            created_at=created,
        )
    rollups_refresh(start=(now - timedelta(days=2)).date(), end=now.date())
    return manager


def login(page, live_server):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "mona")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_manager_overview_charts_and_drill_down(new_page, live_server, data):
    page = new_page()
    login(page, live_server)
    page.goto(f"{live_server.url}/dashboards/")
    for name in ("volume", "sentiment", "sla"):
        page.wait_for_selector(f'canvas[data-chart="{name}"][data-ready="true"]')
    screenshot(page, "dashboard-overview")
    # Click the "negative" part of Support's sentiment bar.
    point = page.evaluate("""() => {
        const canvas = document.querySelector('canvas[data-chart="sentiment"]');
        const chart = Chart.getChart(canvas);
        const labels = chart.data.labels;
        const row = labels.indexOf('Support');
        const bar = chart.getDatasetMeta(0).data[row];
        const box = canvas.getBoundingClientRect();
        return {x: box.left + (bar.x + bar.base) / 2, y: box.top + bar.y};
    }""")
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url("**/dashboards/items/**")
    assert "sentiment=negative" in page.url and "department=support" in page.url
    text = page.inner_text("table.cases")
    assert "My parcel is late" in text and "Refund please" in text
    assert "Thanks for the quick help" not in text and "dark mode" not in text
    screenshot(page, "dashboard-drill-down")
    for path, name in (
        ("support/", "dashboard-support"),
        ("product/", "dashboard-product"),
        ("handoffs/", "dashboard-handoffs"),
        ("quality/", "dashboard-quality"),
    ):
        page.goto(f"{live_server.url}/dashboards/{path}")
        page.wait_for_load_state("networkidle")
        screenshot(page, name)
    assert not page.errors


def test_stale_dashboard_says_as_of_and_asks_for_a_refresh(new_page, live_server, data):
    from unittest import mock

    from django.core.cache import cache

    from departments.rollups import REFRESHED_CACHE_KEY

    when = timezone.now() - timedelta(minutes=17)
    cache.set(REFRESHED_CACHE_KEY, when.isoformat(), None)
    page = new_page(1440, 900)
    login(page, live_server)
    with mock.patch("departments.tasks.refresh_rollups.apply_async") as enqueue:
        page.goto(f"{live_server.url}/dashboards/")
        text = page.locator(".as-of").inner_text()
        assert f"as of {timezone.localtime(when):%H:%M}" in text and "17\xa0minutes ago" in text
        assert "a refresh has been requested" in text
        screenshot(page, "dashboard-overview-stale")
        page.reload()
    assert enqueue.call_count == 1


def test_rising_terms_read_as_written_words(new_page, live_server, data):
    from departments.signals_detect import themes_refresh

    source = Source.objects.get(slug="web")
    now = timezone.now()
    bodies = [(f"t{n}", "I was charged twice, card expired", 1) for n in range(4)]
    bodies += [(f"b{n}", "thanks for the help", 10 + n) for n in range(10)]
    for external_id, body, days in bodies:
        created = now - timedelta(days=days, minutes=5)
        item = FeedbackItem.objects.create(
            source=source, external_id=external_id, body=body, state="routed", received_at=created
        )
        Case.objects.create(
            item=item, department=Department.objects.get(slug="support"), created_at=created
        )
    themes_refresh()
    page = new_page(1440, 900)
    login(page, live_server)
    page.goto(f"{live_server.url}/dashboards/support/")
    tags = page.locator(".themes .tag").all_inner_texts()
    assert {"charged", "expired"} <= set(tags) and not {"charg", "expir"} & set(tags)
    screenshot(page, "dashboard-support-themes")
