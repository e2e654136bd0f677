"""Privacy in headless Chromium: HR's manager follows the queue's link to the access log and
finds the colleague who opened a case; an admin erases a person's posts from the admin.
Screenshots of each page are saved at 1440×900."""

import pytest

from departments.models import Case, Department
from feedback.models import Author, FeedbackItem, Source
from privacy.models import Erasure
from tests.e2e.conftest import login, screenshot
from tests.factories import UserFactory, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def hr_cases():
    source = Source.objects.create(slug="web", name="Website form", kind="web_form")
    author = Author.objects.create(source=source, handle="@nightshift", name="Sam Doe")
    hr = Department.objects.get(slug="hr")
    cases = []
    for n, body in enumerate(
        [
            "My shift lead shouts at the night team and nobody does anything",
            "Overtime from March is still missing from my pay slip",
        ]
    ):
        item = FeedbackItem.objects.create(
            source=source, external_id=f"hr-{n}", body=body, author=author, state="routed"
        )
        cases.append(Case.objects.create(item=item, department=hr, routed_by="model"))
    return cases


@pytest.fixture
def page_1440(new_page):
    return lambda: new_page(width=1440, height=900)


def test_hr_manager_reads_who_opened_a_case(page_1440, live_server, hr_cases):
    hana = UserFactory(username="hana", first_name="Hana", last_name="Ito")
    member(hana, "hr")
    helen = UserFactory(username="helen", first_name="Helen")
    member(helen, "hr", role="manager")

    agent = page_1440()
    login(agent, live_server, "hana")
    agent.goto(f"{live_server.url}/items/{hr_cases[0].item_id}/")
    agent.goto(f"{live_server.url}/queue/hr/")
    assert agent.locator("a.access-log-link").count() == 0  # agents get no link

    manager = page_1440()
    login(manager, live_server, "helen")
    manager.goto(f"{live_server.url}/queue/hr/")
    screenshot(manager, "privacy-hr-queue")
    manager.click("a.access-log-link")
    manager.wait_for_url("**/departments/hr/access-log/")
    rows = manager.inner_text("table.access-log tbody")
    assert "Hana Ito" in rows and f"#{hr_cases[0].pk}" in rows and "shouts" in rows
    screenshot(manager, "privacy-access-log")
    manager.goto(f"{live_server.url}/dashboards/hr/")
    manager.wait_for_load_state("networkidle")
    assert manager.locator("a.access-log-link").count() == 1
    screenshot(manager, "privacy-hr-dashboard")
    assert not agent.errors and not manager.errors


def test_admin_erases_a_persons_posts(page_1440, live_server, hr_cases):
    UserFactory(username="root", is_staff=True, is_superuser=True)
    author = Author.objects.get(handle="@nightshift")
    page = page_1440()
    login(page, live_server, "root", path="/admin/login/")
    page.goto(f"{live_server.url}/admin/feedback/author/")
    page.check(f"input[name=_selected_action][value='{author.pk}']")
    page.select_option("select[name=action]", "erase_posts")
    page.click("button[name=index]")
    page.wait_for_load_state("networkidle")
    assert "Yes, erase them" in page.content()
    screenshot(page, "privacy-erase-confirm")
    page.click("input[value='Yes, erase them']")
    page.wait_for_load_state("networkidle")
    assert "2 cases, 2 posts, 1 authors." in page.inner_text(".messagelist")
    screenshot(page, "privacy-erased")
    assert not FeedbackItem.objects.exists() and Erasure.objects.get().counts["items"] == 2
    assert not page.errors
