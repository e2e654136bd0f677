"""Dashboards say how current their rollups are, and a page that finds them older than the
refresh interval asks for a refresh once, after its response, without failing."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.utils import timezone
from kombu.exceptions import OperationalError

from departments.rollups import REFRESHED_CACHE_KEY, rollups_as_of, rollups_refresh
from tests.factories import UserFactory, member

pytestmark = pytest.mark.django_db
PAGES = ["/dashboards/", "/dashboards/support/"]


@pytest.fixture
def mona(client):
    user = UserFactory(username="mona")
    member(user, "support", role="manager")
    client.force_login(user)
    return client


def refreshed(minutes_ago: float):
    when = timezone.now() - timedelta(minutes=minutes_ago)
    cache.set(REFRESHED_CACHE_KEY, when.isoformat(), None)
    return when


@pytest.fixture
def enqueue():
    with mock.patch("departments.tasks.refresh_rollups.apply_async") as apply_async:
        yield apply_async


def test_a_refresh_that_reaches_today_records_its_time():
    assert rollups_as_of() is None
    before = timezone.now()
    rollups_refresh(start=timezone.now().date(), end=timezone.now().date())
    assert before <= rollups_as_of() <= timezone.now()
    cache.delete(REFRESHED_CACHE_KEY)  # the cache cleared: no rows, no time
    assert rollups_as_of() is None


@pytest.mark.parametrize("path", PAGES)
def test_pages_show_as_of_and_do_not_enqueue_when_fresh(mona, enqueue, path, settings):
    settings.ROLLUPS_REFRESH_EVERY = 300
    when = refreshed(minutes_ago=4)
    response = mona.get(path)
    html = response.content.decode()
    assert f"Figures as of {timezone.localtime(when):%H:%M}" in html
    assert "(4\xa0minutes ago)" in html
    assert "refresh has been requested" not in html
    enqueue.assert_not_called()


@pytest.mark.parametrize("path", PAGES)
def test_stale_pages_enqueue_one_refresh_per_interval(mona, enqueue, path, settings):
    settings.ROLLUPS_REFRESH_EVERY = 300
    refreshed(minutes_ago=12)
    response = mona.get(path)
    assert "(12\xa0minutes ago); a refresh has been requested" in response.content.decode()
    enqueue.assert_called_once_with(retry=False)
    mona.get(path)
    mona.get(PAGES[0])
    enqueue.assert_called_once()  # guarded for the interval


def test_the_refresh_is_enqueued_after_the_response_not_before(rf, enqueue):
    from departments.dashboards import overview

    user = UserFactory(username="mona")
    member(user, "support", role="manager")
    refreshed(minutes_ago=60)
    request = rf.get("/dashboards/")
    request.user = user
    response = overview(request)  # rendered, not yet sent and closed by the server
    assert response.status_code == 200
    enqueue.assert_not_called()
    response.close()
    enqueue.assert_called_once()


def test_never_computed_says_so_and_enqueues(mona, enqueue):
    html = mona.get("/dashboards/").content.decode()
    assert "Figures not computed yet; a refresh has been requested" in html
    enqueue.assert_called_once()


def test_a_broker_down_does_not_fail_the_page(mona, enqueue):
    enqueue.side_effect = OperationalError("Error 111 connecting to redis:6379")
    refreshed(minutes_ago=60)
    assert mona.get("/dashboards/").status_code == 200


def test_a_cache_down_does_not_fail_the_page(mona, enqueue):
    with (
        mock.patch.object(cache, "get", side_effect=ConnectionError),
        mock.patch.object(cache, "add", side_effect=ConnectionError),
    ):
        assert mona.get("/dashboards/support/").status_code == 200
    enqueue.assert_not_called()
