"""Live search in a queue: the header count, the address bar and 'Save view' follow the
rows htmx swapped in."""

import pytest

from departments.models import Case, Department, SavedView
from feedback.models import FeedbackItem, Source
from tests.e2e.conftest import login, screenshot
from tests.factories import UserFactory, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queue():
    source = Source.objects.create(slug="x", name="X", kind="x")
    member(UserFactory(username="sam"), "support")
    support = Department.objects.get(slug="support")
    bodies = ["The checkout button does nothing on Android"] + [
        f"Where is my refund for order {n}?" for n in range(4)
    ]
    for n, body in enumerate(bodies):
        item = FeedbackItem.objects.create(
            source=source, external_id=f"search-{n}", body=body, state="routed"
        )
        Case.objects.create(item=item, department=support, routed_by="model", reason="test")


def test_live_search_updates_count_url_and_saved_view(new_page, live_server, queue):
    page = new_page(1440, 900)
    login(page, live_server, "sam")
    assert page.inner_text(".queue-head .count") == "5 cases"
    page.fill("#id_q", "android")
    page.wait_for_function(
        "() => document.querySelectorAll('#queue-rows tr.case-row').length === 1"
    )
    page.wait_for_load_state("networkidle")
    assert page.inner_text(".queue-head .count") == "1 case"
    assert "q=android" in page.url
    screenshot(page, "queue-live-search")
    page.click("summary:has-text('Save view')")  # the header's menu
    page.fill(".save-view input[name=name]", "Android")
    page.click(".save-view button[type=submit]")
    page.wait_for_load_state("networkidle")
    view = SavedView.objects.get(name="Android")
    assert "q=android" in view.query
    assert page.locator("#queue-rows tr.case-row").count() == 1
    assert not page.errors
