"""A manager sees the flow between departments as a diagram on the handoffs page and the
triage inbox over time on the overview, in headless Chromium (screenshots saved)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from departments.models import Case, CaseEvent, Department
from departments.rollups import rollups_refresh
from departments.services import case_reroute, case_share
from feedback.models import FeedbackItem, Source
from tests.e2e.conftest import login, screenshot
from tests.factories import UserFactory, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
H = timedelta(hours=1)


@pytest.fixture
def flow():
    source = Source.objects.create(slug="web", name="Web", kind="web_form")
    manager = UserFactory(username="mona")
    member(manager, "support", role="manager")
    agent = UserFactory(username="sam")
    for slug in ("support", "product", "marketing"):
        member(agent, slug)
    now = timezone.now()
    departments = {d.slug: d for d in Department.objects.all()}
    handoffs = [("support", "product", "reroute")] * 6 + [("product", "support", "reroute")] * 2
    handoffs += [("support", "marketing", "share")] * 3 + [("marketing", "product", "reroute")]
    for n, (origin, target, how) in enumerate(handoffs):
        item = FeedbackItem.objects.create(
            source=source, external_id=f"h{n}", body="Where is my order?", state="routed"
        )
        case = Case.objects.create(
            item=item, department=departments[origin], routed_by="model", created_at=now - 3 * H
        )
        act = case_reroute if how == "reroute" else case_share
        act(case=case, to_department=departments[target], actor=agent)
    # Ten days of a triage inbox that grows, then is worked down.
    for n in range(24):
        received = now - timedelta(days=10) + timedelta(hours=9 * n)
        item = FeedbackItem.objects.create(
            source=source,
            external_id=f"t{n}",
            body="Is this the right place?",
            received_at=received,
            state="triage" if n % 3 else "routed",
        )
        CaseEvent.objects.create(item=item, kind="triaged", created_at=received)
        if n % 3 == 0:
            CaseEvent.objects.create(item=item, kind="routed", created_at=received + 30 * H)
    rollups_refresh(start=(now - timedelta(days=12)).date(), end=now.date())
    return manager


def test_handoff_diagram_and_triage_over_time(new_page, live_server, flow):
    page = new_page(1440, 900)
    login(page, live_server, "mona")
    page.goto(f"{live_server.url}/dashboards/handoffs/")
    diagram = page.locator("#dashboard-handoffs-diagram svg[role=group]")
    assert diagram.get_attribute("aria-describedby") == "flow-desc handoff-table-caption"
    links = page.locator(".flow-link")
    assert links.count() == 4
    assert (
        page.locator('.flow-link[data-from="support"][data-to="product"]').get_attribute(
            "data-count"
        )
        == "6"
    )
    screenshot(page, "dashboard-handoffs-diagram")
    page.goto(f"{live_server.url}/dashboards/?since={(timezone.now() - timedelta(days=13)).date()}")
    page.wait_for_selector('canvas[data-chart="triage"][data-ready="true"]')
    page.locator("#dashboard-triage").scroll_into_view_if_needed()
    screenshot(page, "dashboard-overview-triage")
    assert not page.errors
