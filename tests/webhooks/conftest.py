"""Webhook fixtures. Personas on top of tests/conftest.py:

- sam: staff (manages webhooks in the browser);  alice: support agent (must be refused);
- the ops integration (`hooks_api`): an API key with the `webhooks` scope;
- another integration (`other_hooks_api`): a second `webhooks` key, which must never see
  or touch the ops integration's subscriptions;
- a write integration (`write_api`): `read` + `write` but no `webhooks`, refused;
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


def key_client(source, name: str, scopes: list[str]) -> APIClient:
    """An API client for a new key; the key row is `client.key`."""
    key, raw = apikey_create(name=name, source=source, scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.key = key
    return client


@pytest.fixture
def hooks_api(source):
    return key_client(source, "ops integration", ["read", "webhooks"])


@pytest.fixture
def other_hooks_api(source):
    return key_client(source, "another integration", ["webhooks"])


@pytest.fixture
def write_api(source):
    return key_client(source, "case bot", ["read", "write"])


@pytest.fixture
def support(db):
    return Department.objects.get(slug="support")


@pytest.fixture
def product(db):
    return Department.objects.get(slug="product")


@pytest.fixture
def subscribe(receiver):
    """Make a subscription pointing at the receiver (every event, every department),
    owned by nobody unless `owner_key_id` or `created_by` say otherwise."""

    def make(**kwargs):
        fields = {
            "name": "ops receiver",
            "url": receiver.url,
            "events": ["item.routed", "case.status_changed", "case.rerouted", "case.shared"],
        }
        fields.update(kwargs)
        return subscription_create(**fields)

    return make
