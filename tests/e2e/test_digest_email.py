"""The weekly digest's HTML part, rendered in headless Chromium: a screenshot is saved
with the dashboards' (tests/e2e/screenshots/digest.png)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from departments.models import Case, Department, ThemeSnapshot
from departments.rollups import rollups_refresh
from departments.signals_detect import digest_send
from tests.e2e.conftest import screenshot
from tests.factories import FeedbackItemFactory, UserFactory, department_spike, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db]


def test_digest_html_renders(new_page):
    manager = UserFactory(username="mona", email="mona@example.com")
    member(manager, "support", role="manager")
    support = Department.objects.get(slug="support")
    now = timezone.now()
    for n in range(3):
        Case.objects.create(
            item=FeedbackItemFactory(),
            department=support,
            routed_by="model",
            created_at=now - timedelta(days=1, minutes=n),
        )
    rollups_refresh(start=(now - timedelta(days=1)).date(), end=now.date())
    ThemeSnapshot.objects.create(
        scope="support",
        terms=[
            {"term": "charged", "this_week": 14, "lift": 4.5},
            {"term": "expired", "this_week": 9, "lift": 3.0},
        ],
        vocabulary=[],
    )
    department_spike("support", hours_ago=5, terms=["charged", "twice"])
    assert digest_send() == 1
    html = mail.outbox[0].alternatives[0][0]
    page = new_page(1440, 900)
    page.set_content(html)
    assert page.locator("h1").inner_text() == "Support"
    assert page.get_by_text("40 posts this hour").count() == 1
    href = page.get_by_role("link", name="Open the Support dashboard").get_attribute("href")
    assert href.startswith("http://") and "/dashboards/support/" in href
    assert screenshot(page, "digest").exists()
    assert page.errors == []
