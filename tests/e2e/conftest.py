"""Browser tests: real headless Chromium (Debian's package) driven by Playwright, against
Django's live test server."""

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make
# between browser steps are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
# Without these, Chromium tries to reach Google's services from a machine with no network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-extensions",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}: apt-get install chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser):
    contexts = []

    def make(width: int = 1400, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.on(
            "dialog",
            lambda dialog: (page.errors.append(f"dialog: {dialog.message}"), dialog.dismiss()),
        )
        # Every page a test opens is checked by axe-core once loaded (goto), as is every
        # state a test takes a screenshot of; a test checks other states itself.
        goto = page.goto

        def goto_checked(url, *args, **kwargs):
            response = goto(url, *args, **kwargs)
            if "text/html" in (response.headers.get("content-type", "") if response else ""):
                assert_accessible(page)
            return response

        page.goto = goto_checked
        return page

    yield make
    for context in contexts:
        context.close()


PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def login(page, live_server, username: str, path: str = "/login/") -> None:
    """Sign in through the login form (the workspace's, or the admin's at /admin/login/)."""
    page.goto(f"{live_server.url}{path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("[type=submit]")
    page.wait_for_load_state("networkidle")


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert_accessible(page)
    return path


AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
AXE_BLOCKING = ("serious", "critical")


def assert_accessible(page, *, within: str | None = None) -> None:
    """Run axe-core (npm, a dev dependency) on the page as it is now and fail on any
    serious or critical violation, naming the rule, the elements and the help text.

    The script goes in through Playwright's evaluate (the DevTools protocol), which the
    page's Content Security Policy does not govern, so the page keeps its real CSP."""
    assert AXE.exists(), f"{AXE} is missing: run `npm ci`"
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    violations = page.evaluate(
        """async (within) => {
            const result = await axe.run(within || document, {resultTypes: ["violations"]});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
            }));
        }""",
        within,
    )
    blocking = [v for v in violations if v["impact"] in AXE_BLOCKING]
    report = "\n".join(
        f"  {v['impact']} {v['id']}: {v['help']} -> {', '.join(v['targets'])}" for v in blocking
    )
    if blocking and os.environ.get("AXE_REPORT"):  # collect every page's findings, fail none
        with open(os.environ["AXE_REPORT"], "a") as out:
            out.write(f"{page.url}\n{report}\n")
        return
    assert not blocking, f"axe-core found on {page.url}:\n{report}"
