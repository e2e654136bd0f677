"""Webhook fixtures. Personas on top of tests/conftest.py:

- sam: staff (manages webhooks in the browser);  alice: support agent (must be refused);
- a write integration: an API key with the `write` scope;
- `api` (from tests/conftest.py): the ingest + read key, which must be refused too.
"""

import pytest
from rest_framework.test import APIClient

from departments.models import Department
from feedback.services import apikey_create
from tests.factories import UserFactory
from tests.webhooks.constants import FAST_DELAYS
from tests.webhooks.receiver import Receiver
from webhooks.selectors import subscription_targets_forget
from webhooks.services import subscription_create


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True  # the receiver listens on 127.0.0.1
    settings.WEBHOOK_RETRY_DELAYS = FAST_DELAYS
    settings.WEBHOOK_TIMEOUT = (1.0, 2.0)
    subscription_targets_forget()
    yield settings
    subscription_targets_forget()


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def sam(db):
    return UserFactory(username="sam", first_name="Sam", is_staff=True)


@pytest.fixture
def staff_api(sam):
    client = APIClient()
    client.force_login(sam)
    return client


@pytest.fixture
def write_api(source):
    _, raw = apikey_create(name="ops integration", source=source, scopes=["read", "write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def support(db):
    return Department.objects.get(slug="support")


@pytest.fixture
def product(db):
    return Department.objects.get(slug="product")


@pytest.fixture
def subscribe(receiver):
    """Make a subscription pointing at the receiver (every event, every department)."""

    def make(**kwargs):
        fields = {
            "name": "ops receiver",
            "url": receiver.url,
            "events": ["item.routed", "case.status_changed", "case.rerouted", "case.shared"],
        }
        fields.update(kwargs)
        return subscription_create(**fields)

    return make
