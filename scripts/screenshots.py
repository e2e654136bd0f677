"""Take the documentation's screenshots: `make screenshots` (not part of `make test`).

Seeds the demo (`manage.py seed_demo`) into a database of its own (DATABASE_URL, which the
Makefile points at `switchboard_screenshots`), serves it with Django's development server
on a free local port, drives Debian's Chromium through the product with Playwright and
writes docs/screenshots/<page>.png at 1440x900: queue, triage, item, rule builder, the
dashboards' overview and handoffs. Every page is also checked by axe-core on the way.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
OUT = BASE_DIR / "docs" / "screenshots"
PASSWORD = "switchboard-demo"  # noqa: S105 (seed_demo's demo password, public by design)
VIEWPORT = {"width": 1440, "height": 900}
sys.path.insert(0, str(BASE_DIR))


def manage(*args: str, env: dict) -> None:
    command = [sys.executable, "manage.py", *args]  # our own arguments, no shell
    subprocess.run(command, cwd=BASE_DIR, env=env, check=True)  # noqa: S603


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the development server stopped; see its output above")
        try:
            urllib.request.urlopen(f"{url}/login/", timeout=2)  # noqa: S310 (our own server)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within 60 s")


def shoot(page, name: str) -> None:
    from tests.e2e.conftest import assert_accessible

    page.wait_for_load_state("networkidle")
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path))
    assert_accessible(page)
    print(f"wrote {path.relative_to(BASE_DIR)}")


def tour(url: str) -> None:
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.set_default_timeout(15_000)

        def login(username: str) -> None:
            page.context.clear_cookies()
            page.goto(f"{url}/login/")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", PASSWORD)
            page.click("[type=submit]")
            page.wait_for_load_state("networkidle")

        # An agent's day: the support queue, an item from it, the shared triage inbox.
        login("product-agent")
        page.goto(f"{url}/queue/product/")
        shoot(page, "queue")
        # The row opens the reading pane; its link is the full item page.
        href = page.locator("[data-keyboard-list] tr.case-row a").first.get_attribute("href")
        page.goto(f"{url}{href}")
        shoot(page, "item")
        page.goto(f"{url}/triage/")
        shoot(page, "triage")

        # An admin's: a new rule written in the builder, its dry run beside it.
        login("admin")
        page.goto(f"{url}/rules/new/")

        def synced(action, *args) -> None:
            with page.expect_response(lambda response: "/dry-run/" in response.url):
                action(*args)
            page.wait_for_timeout(200)

        page.fill("#id_name", "Crashes are urgent")
        page.fill("#c0-value", "crash, crashes, freezes, broken")
        synced(page.press, "#c0-value", "Tab")
        synced(page.select_option, "#a0-type", "set_priority")
        synced(page.select_option, "#a0-value", "urgent")
        synced(page.click, "#add-action")
        synced(page.select_option, "#a1-value", "product")
        synced(page.click, "button.secondary:has-text('Dry run')")
        shoot(page, "rule-builder")

        # A manager's: the dashboards.
        login("product-manager")
        page.goto(f"{url}/dashboards/")
        shoot(page, "dashboard-overview")
        page.goto(f"{url}/dashboards/handoffs/")
        shoot(page, "handoffs")
        browser.close()


def main() -> int:
    env = {**os.environ, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "config.settings.base"}
    env.setdefault("DATABASE_URL", "postgres://127.0.0.1:5432/switchboard_screenshots")
    os.environ.update(env)
    subprocess.run(
        [sys.executable, "scripts/ensure_database.py"], cwd=BASE_DIR, env=env, check=True
    )
    manage("migrate", "--noinput", "--verbosity", "0", env=env)
    manage("load_default_model", env=env)
    manage("seed_demo", "--credentials-file", "", env=env)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(  # noqa: S603 (our own command line, no shell)
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=BASE_DIR,
        env=env,
    )
    try:
        wait_until_up(url, server)
        tour(url)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
