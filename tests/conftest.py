"""Shared fixtures. Personas follow the product's roles:

- alice: support agent;  bob: product agent;  hana: HR agent (HR is sealed);
- maria: support manager;  charlie: logged in, in no department;
- an integration: an API key for the `web` source with the ingest and read scopes.
"""

import logging

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from config import outbound
from feedback.models import Source
from feedback.services import apikey_create
from tests.factories import UserFactory, member
from tests.network import FakeNetwork


@pytest.fixture(autouse=True)
def _clear_cache():
    # The cache is real Redis (database 15): start every test from an empty one.
    cache.clear()
    yield


class _OnCommitErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Error calling "):
            self.records.append(record)


@pytest.fixture(autouse=True)
def _on_commit_errors_fail_the_test(request):
    """The product enqueues work after commit with robust callbacks, which only log an
    error (a committed request must not become a 500). With eager tasks that work (routing,
    webhook deliveries, auto-assignment) runs inside the callback, so here such a log is a
    failure it would otherwise hide. `@pytest.mark.on_commit_errors_expected` opts out."""
    handler = _OnCommitErrors()
    # Django logs them from the connection (real commits) and from the test helper
    # (django_capture_on_commit_callbacks(execute=True)).
    loggers = [logging.getLogger("django.db.backends.base"), logging.getLogger("django.test")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    if handler.records and not request.node.get_closest_marker("on_commit_errors_expected"):
        details = "\n".join(logging.Formatter().format(record) for record in handler.records)
        pytest.fail(f"an on_commit callback failed:\n{details}", pytrace=False)


@pytest.fixture
def source(db):
    return Source.objects.create(slug="web", name="Website form", kind=Source.Kind.WEB_FORM)


@pytest.fixture
def other_source(db):
    return Source.objects.create(slug="reddit", name="Reddit", kind=Source.Kind.REDDIT)


@pytest.fixture
def ingest_key(source):
    _, raw = apikey_create(name="web form", source=source, scopes=["ingest", "read"])
    return raw


@pytest.fixture
def api(ingest_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ingest_key}")
    return client


@pytest.fixture
def anon_api():
    return APIClient()


@pytest.fixture
def alice(db):
    user = UserFactory(username="alice", first_name="Alice")
    member(user, "support")
    return user


@pytest.fixture
def bob(db):
    user = UserFactory(username="bob", first_name="Bob")
    member(user, "product")
    return user


@pytest.fixture
def hana(db):
    user = UserFactory(username="hana", first_name="Hana")
    member(user, "hr")
    return user


@pytest.fixture
def charlie(db):
    return UserFactory(username="charlie", first_name="Charlie")


@pytest.fixture(autouse=True)
def _default_departments(request):
    """Transactional tests flush every table afterwards, including the rows the data
    migration made; put the default departments back for the next one."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    if not transactional:
        return
    request.getfixturevalue("transactional_db")
    import importlib

    from django.apps import apps

    migration = importlib.import_module("departments.migrations.0002_default_departments")
    migration.create_departments(apps, None)
    # ...and their SLA policies (departments.migrations.0007_sla_policies).
    importlib.import_module("departments.migrations.0007_sla_policies").create_policies(apps, None)


@pytest.fixture
def broker(settings):
    """Publish to the real broker (the test Redis) instead of running tasks in-process;
    for tests that start real workers."""
    from config.celery import app
    from tests.workers import purge_queues

    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    purge_queues()
    yield
    purge_queues()
    app.conf.task_always_eager = True


@pytest.fixture(autouse=True)
def network(monkeypatch):
    """Every test's outbound HTTP resolves names from a table and connects to loopback only
    (tests/network.py); a test adds names with `network.answer(...)`."""
    fake = FakeNetwork()
    monkeypatch.setattr(outbound, "host_resolve", fake.resolve)
    monkeypatch.setattr(outbound, "tcp_connect", fake.connect)
    return fake
