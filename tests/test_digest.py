from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from departments.models import Case, Department, ThemeSnapshot
from departments.rollups import rollups_refresh
from departments.signals_detect import digest_send
from tests.factories import FeedbackItemFactory, UserFactory, department_spike, member

pytestmark = pytest.mark.django_db


def test_weekly_digest_mails_each_manager_their_department():
    manager = UserFactory(username="mona", email="mona@example.com")
    member(manager, "support", role="manager")
    UserFactory(username="agent", email="agent@example.com")
    yesterday = timezone.now() - timedelta(days=1)
    Case.objects.create(
        item=FeedbackItemFactory(),
        department=Department.objects.get(slug="support"),
        routed_by="model",
        created_at=yesterday,
    )
    rollups_refresh(start=yesterday.date(), end=timezone.now().date())
    assert digest_send() == 1
    [message] = mail.outbox
    assert message.to == ["mona@example.com"] and "Support" in message.subject
    assert "New cases: 1" in message.body
    # Durations read as on the dashboards: the case has been open a day.
    assert "Oldest open: 1 d" in message.body


def _week_with_signals(body_term: str = "refund"):
    manager = UserFactory(username="mona", email="mona@example.com")
    member(manager, "support", role="manager")
    now = timezone.now()
    support = Department.objects.get(slug="support")
    Case.objects.create(
        item=FeedbackItemFactory(),
        department=support,
        routed_by="model",
        created_at=now - timedelta(days=1),
    )
    rollups_refresh(start=(now - timedelta(days=1)).date(), end=now.date())
    ThemeSnapshot.objects.create(
        scope="support",
        terms=[{"term": body_term, "this_week": 12, "lift": 4.0}],
        vocabulary=[],
    )
    department_spike("support", hours_ago=3, terms=[body_term])
    return manager


def test_weekly_digest_is_html_with_a_plain_text_part(settings):
    settings.SITE_URL = "https://sb.example.com"
    _week_with_signals()
    assert digest_send() == 1
    [message] = mail.outbox
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    for part in (message.body, html):
        assert "refund" in part  # the rising term
        assert "40 posts this hour against about 3 expected (z 21.4)" in part  # the spike
        assert "https://sb.example.com/dashboards/support/?since=" in part
        assert "https://sb.example.com/dashboards/items/?department=support" in part
    assert '<td>New cases</td><td align="right"><strong>1</strong>' in html
    assert "<html" not in message.body and "New cases: 1" in message.body


def test_weekly_digest_escapes_untrusted_text_in_the_html():
    _week_with_signals(body_term="<img src=x onerror=alert(1)>")
    digest_send()
    [message] = mail.outbox
    html = message.alternatives[0][0]
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x onerror=alert(1)>" in message.body  # plain text is not HTML-escaped
