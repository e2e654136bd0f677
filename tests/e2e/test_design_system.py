"""One design system: every page loads the one stylesheet, its tokens and its components
(primary buttons, focus rings) apply, and each page gets a 1440x900 screenshot to judge."""

import pytest

from departments.models import Case, Department
from feedback.models import FeedbackItem, Source
from routing.models import Rule
from tests.e2e.conftest import SCREENSHOTS, login
from tests.factories import UserFactory, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOKENS = """() => {
    const root = getComputedStyle(document.documentElement);
    const primary = document.querySelector('.btn.primary, a.button, .login button');
    return {
        accent: root.getPropertyValue('--accent').trim(),
        font: root.getPropertyValue('--t-base').trim(),
        primary: primary && getComputedStyle(primary).backgroundColor,
        sheets: [...document.styleSheets].map((s) => s.href || 'inline'),
    };
}"""


@pytest.fixture
def world():
    source = Source.objects.create(slug="x", name="X", kind="x")
    admin = UserFactory(username="ada", is_staff=True, is_superuser=True)
    member(admin, "support", role="manager")
    support = Department.objects.get(slug="support")
    item = FeedbackItem.objects.create(
        source=source, external_id="ds-1", body="The app crashes when I pay", state="routed"
    )
    Case.objects.create(item=item, department=support, routed_by="model", reason="t")
    FeedbackItem.objects.create(
        source=source, external_id="ds-2", body="Who handles this?", state="triage"
    )
    Rule.objects.create(
        name="Crashes to product",
        conditions=[{"field": "body", "op": "contains_any", "value": ["crash"]}],
        actions=[{"type": "route_to", "department": "product"}],
    )
    return item


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def test_every_page_uses_the_one_stylesheet(new_page, live_server, world):
    page = new_page(1440, 900)
    page.goto(f"{live_server.url}/login/")
    found = page.evaluate(TOKENS)
    assert found["accent"] == "#2456d6" and found["primary"] == "rgb(36, 86, 214)"
    assert [s for s in found["sheets"] if s.endswith("/static/css/app.css")]
    shot(page, "design-login")
    login(page, live_server, "ada")
    pages = {
        "design-triage": "/triage/",
        "design-item": f"/items/{world.pk}/",
        "design-rules": "/rules/",
        "design-rule-edit": f"/rules/{Rule.objects.get().pk}/",
        "design-dashboards": "/dashboards/",
        "design-404": "/items/999999/",
    }
    for name, path in pages.items():
        page.goto(f"{live_server.url}{path}")
        found = page.evaluate(TOKENS)
        assert found["accent"] == "#2456d6", path
        assert found["font"] == "14px", path
        shot(page, name)
    # Focus rings: a keyboard user sees where they are.
    page.goto(f"{live_server.url}/rules/")
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    assert not [e for e in page.errors if "dialog" not in e]


def test_the_server_error_page_is_styled_like_the_others(new_page, live_server, rf):
    """The 500 page (config.health.server_error) as a browser gets it from the site: the
    stylesheet, the top bar and the notice of the 403 and 404 pages; axe-core checks it."""
    from config.health import server_error

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        html = server_error(rf.get("/")).content.decode()
    page = new_page(1440, 900)
    url = f"{live_server.url}/a-page-that-fails/"
    page.route(url, lambda route: route.fulfill(status=500, body=html, content_type="text/html"))
    page.goto(url)  # checked by axe-core on load
    found = page.evaluate(TOKENS)
    assert found["accent"] == "#2456d6" and found["font"] == "14px"
    assert page.locator(".topbar .brand").is_visible()
    assert page.locator(".notice h1").inner_text() == "Server error"
    shot(page, "design-500")
