from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from departments.models import Case, Department
from departments.rollups import rollups_refresh
from departments.signals_detect import digest_send
from tests.factories import FeedbackItemFactory, UserFactory, member

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
