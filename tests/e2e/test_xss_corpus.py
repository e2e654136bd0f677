"""A corpus of classic XSS payloads in every untrusted field the workspace shows — post
bodies, author names and handles, notes, tags, case reasons, handoff notes, a source's
name, a saved view's name, a rule's name and words — rendered in headless Chromium on the
queue, the item page, the triage inbox, the rule list and the rule editor's dry run.

Every payload sets `window.__pwned` if it ever runs. The browser context bypasses the
Content Security Policy, so the test checks the escaping itself, not only the CSP behind
it. On every page: the flag is unset, no dialog opened, no element carries an event
handler or is one of the elements only a payload could add, no link or source is a
javascript:/data: URL, and each payload reads back as text. Links built from untrusted
URLs come only through ingest, which refuses non-http(s) schemes (asserted here too).
"""

import json
import re

import pytest
from django.conf import settings
from django.test import Client

from departments.models import Case, CaseEvent, Department, Note, SavedView
from feedback.models import Author, FeedbackItem, Source
from feedback.services import feedback_ingest
from feedback.validation import entry_validate
from routing.models import Rule
from tests.factories import UserFactory, member

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAYLOADS = [
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    "<svg onload=window.__pwned=1>",
    '"><svg onload=window.__pwned=1>',
    "'><img src=x onerror=window.__pwned=1>",
    "</textarea><script>window.__pwned=1</script>",
    "</title><script>window.__pwned=1</script>",
    "</q></li></ol><script>window.__pwned=1</script>",
    "<body onload=window.__pwned=1>",
    '<iframe srcdoc="<script>parent.__pwned=1</script>"></iframe>',
    "<details open ontoggle=window.__pwned=1>",
    "<input autofocus onfocus=window.__pwned=1>",
    '<a href="javascript:window.__pwned=1">click me</a>',
    '<a href="&#106;avascript:window.__pwned=1">entity link</a>',
    "<img src=x onerror=&#119;indow.__pwned=1>",
    "<svg><script>window.__pwned=1</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__pwned=1>",
    '<object data="javascript:window.__pwned=1"></object>',
    '<meta http-equiv="refresh" content="0;url=javascript:window.__pwned=1">',
    '<div hx-get="/" hx-trigger="load" hx-on::after-request="window.__pwned=1">htmx</div>',
    "<scr<script>ipt>window.__pwned=1</scr</script>ipt>",
    "&lt;script&gt;window.__pwned=1&lt;/script&gt;",
    "%3Cscript%3Ewindow.__pwned=1%3C%2Fscript%3E",
    "\\u003cscript\\u003ewindow.__pwned=1\\u003c/script\\u003e",
    "{{constructor.constructor('window.__pwned=1')()}} {{7*7}}",
    "${window.__pwned=1} {% now 'Y' %}",
    "\uff1cscript\uff1ewindow.__pwned=1\uff1c/script\uff1e",  # fullwidth < >
    "<scr\u200bipt>window.__pwned=1</scr\u200bipt>",  # zero-width space
    "<\u202eimg src=x onerror=window.__pwned=1>",  # right-to-left override
    "javascript:window.__pwned=1",
    "data:text/html,<script>window.__pwned=1</script>",
    "<img src=x onerror=alert(document.domain);window.__pwned=1>",
]
assert len(PAYLOADS) >= 20 and len(set(PAYLOADS)) == len(PAYLOADS)
assert all("__pwned" in p and len(p) <= 140 for p in PAYLOADS)  # fits every truncation
SHORT = [p for p in PAYLOADS if len(p) <= 64]  # fits a tag

BAD_SCHEMES = re.compile(r"^\s*(javascript|data|vbscript):", re.IGNORECASE)
PAGE_CHECK = """(payloads) => {
    const all = [...document.querySelectorAll('*')];
    const handlers = all.flatMap(el => [...el.attributes]
        .filter(a => a.name.toLowerCase().startsWith('on'))
        .map(a => `${el.tagName}[${a.name}]`));
    const urls = all.flatMap(el => ['href', 'src', 'action', 'formaction', 'data', 'srcdoc',
                                    'xlink:href']
        .filter(n => el.hasAttribute(n)).map(n => el.getAttribute(n)));
    const inlineScripts = [...document.scripts]
        .filter(s => !s.src && s.type !== 'application/json').length;
    const foreign = document.querySelectorAll(
        // The queue's filter menus are <details class="menu"> and the rule editor's
        // "Advanced" view is <details class="advanced">; any other is a payload's.
        'main img, main svg, main iframe, main object, main embed, main math,' +
        'main details:not(.menu):not(.advanced),' +
        'main input[autofocus], meta[http-equiv], base, main [hx-on], ' +
        'main [hx-on\\\\:\\\\:after-request]').length;
    const text = document.body.innerText;
    return {
        pwned: window.__pwned,
        handlers, urls, inlineScripts, foreign,
        missing: payloads.filter(p => !text.includes(p)),
    };
}"""


def source_name():
    return PAYLOADS[0]  # the queue and the item page show it


@pytest.fixture
def world(monkeypatch):
    # Routing would run in-process on commit; these tests place cases themselves.
    monkeypatch.setattr("feedback.services.routing_enqueue_on_commit", lambda ids: None)
    # The dry run needs thresholds, not the shipped model (whose file others retrain).
    monkeypatch.setattr("routing.selectors.classifier_active", lambda: None)
    monkeypatch.setattr(
        "routing.selectors.thresholds_for",
        lambda classifier, departments: {**dict.fromkeys(departments, 0.5), "noise": 0.9},
    )
    monkeypatch.setattr("routing.selectors.companions_for", lambda *args: {})
    support, hr = Department.objects.get(slug="support"), Department.objects.get(slug="hr")
    source = Source.objects.create(slug="x", name=source_name(), kind="x")
    sam = UserFactory(username="sam", first_name="Sam")
    member(sam, "support")
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    scores = {"support": 0.9, "product": 0.1, "hr": 0.0, "marketing": 0.1, "noise": 0.0}
    items = []
    for i, payload in enumerate(PAYLOADS):
        author = Author.objects.create(source=source, handle=payload, name=payload)
        item = FeedbackItem.objects.create(
            source=source,
            external_id=f"xss-{i}",
            body=payload,
            author=author,
            state="routed",
            scores=scores,
        )
        Case.objects.create(item=item, department=support, routed_by="model", reason=payload)
        FeedbackItem.objects.create(
            source=source,
            external_id=f"xss-t-{i}",
            author=author,
            body=f"{payload} (triage)",
            state="triage",
        )
        items.append(item)

    # One item carrying a payload in every field the item page shows.
    sink_author = Author.objects.create(
        source=source, handle="sink-handle " + PAYLOADS[3], name="sink-name " + PAYLOADS[1]
    )
    sink = FeedbackItem.objects.create(
        source=source,
        external_id="xss-sink",
        author=sink_author,
        state="routed",
        body="Kitchen sink: " + " ".join(PAYLOADS),
        tags=SHORT[:5],
        intents=SHORT[5:8],
        scores=scores,
    )
    case = Case.objects.create(
        item=sink,
        department=support,
        routed_by="model",
        reason=" | ".join(PAYLOADS),
        tags=SHORT[8:20],
    )
    hr_case = Case.objects.create(item=sink, department=hr, routed_by="person")
    for payload in PAYLOADS:
        Note.objects.create(item=sink, author=sam, department=support, body=payload)
    for payload in PAYLOADS[:6]:
        CaseEvent.objects.create(
            item=sink,
            case=case,
            kind="shared",
            actor=sam,
            note=payload,
            from_department=support,
            to_department=hr,
            data={"from_case": case.pk, "to_case": hr_case.pk},
        )
    for payload in PAYLOADS[:3]:  # more posts by the same author: "More from …"
        FeedbackItem.objects.create(
            source=source,
            external_id=f"xss-more-{payload}",
            author=sink_author,
            body=payload,
            state="routed",
        )
    SavedView.objects.create(
        user=sam, name=PAYLOADS[2][:80], department=support, query="status=new"
    )
    Rule.objects.create(
        name=PAYLOADS[4],
        position=1,
        match="any",
        conditions=[{"field": "body", "op": "contains_any", "value": [PAYLOADS[5]]}],
        actions=[{"type": "add_tag", "tag": "xss"}],
    )
    return {"sam": sam, "admin": admin, "source": source, "items": items, "sink": sink}


@pytest.fixture
def open_as(browser, live_server):
    """A page logged in as a user, in a context that ignores the CSP (so only escaping
    stands between a payload and the page) and records dialogs and script errors."""
    contexts = []

    def make(user):
        context = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
        contexts.append(context)
        client = Client()
        client.force_login(user)
        context.add_cookies(
            [
                {
                    "name": settings.SESSION_COOKIE_NAME,
                    "url": live_server.url,
                    "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                }
            ]
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.problems = []
        page.on("pageerror", lambda exc: page.problems.append(f"script error: {exc}"))
        page.on("dialog", lambda d: (page.problems.append(f"dialog: {d.message}"), d.dismiss()))
        return page

    yield make
    for context in contexts:
        context.close()


def settle(page):
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)  # onerror/onload/ontoggle/autofocus handlers fire by now


def assert_inert(page, expected_text: list[str], where: str):
    settle(page)
    found = page.evaluate(PAGE_CHECK, expected_text)
    assert found["pwned"] is None, f"{where}: a payload ran"
    assert not page.problems, f"{where}: {page.problems}"
    assert not found["handlers"], f"{where}: event handler attributes {found['handlers']}"
    assert found["inlineScripts"] == 0, f"{where}: an inline script made it into the page"
    assert found["foreign"] == 0, f"{where}: elements only a payload could have added"
    bad = [u for u in found["urls"] if BAD_SCHEMES.match(u or "")]
    assert not bad, f"{where}: script/data URLs {bad}"
    assert not found["missing"], f"{where}: payloads not shown as text: {found['missing']}"


def test_queue_item_page_and_triage_show_payloads_as_text(open_as, live_server, world):
    page = open_as(world["sam"])
    response = page.goto(f"{live_server.url}/queue/support/")
    assert response.status == 200
    assert "script-src 'self'" in response.headers.get("content-security-policy", "")
    assert_inert(page, PAYLOADS, "queue (bodies, authors, source)")
    # Filtering in place (htmx swaps the rows) renders the same rows again.
    page.fill("#id_q", "pwned")
    page.wait_for_timeout(800)
    assert_inert(page, [], "queue after an htmx search")

    # The queue's reading pane shows the item page's content beside the rows.
    page.goto(f"{live_server.url}/queue/support/?open={world['sink'].pk}")
    page.wait_for_selector("#reading-pane .post-body")
    assert_inert(page, PAYLOADS, "queue reading pane")

    page.goto(f"{live_server.url}/items/{world['sink'].pk}/")
    assert_inert(page, PAYLOADS, "item page (body, notes, reasons, tags, handoff notes)")
    header = page.inner_text(".post header")
    assert "sink-name " + PAYLOADS[1] in header and "sink-handle " + PAYLOADS[3] in header
    assert PAYLOADS[0] in page.inner_text(".author-posts")  # "More from …"

    for item in world["items"][:8]:
        page.goto(f"{live_server.url}/items/{item.pk}/")
        assert_inert(page, [item.body], f"item page {item.body[:30]!r}")

    page.goto(f"{live_server.url}/triage/")
    # Payloads that say the same thing are one row; its other posts are listed when opened.
    page.eval_on_selector_all(
        "#triage-list [data-members-toggle]", "bs => bs.forEach(b => b.click())"
    )
    assert_inert(page, [f"{p} (triage)" for p in PAYLOADS], "triage inbox")


def test_rule_list_and_dry_run_show_payloads_as_text(open_as, live_server, world):
    page = open_as(world["admin"])
    page.goto(f"{live_server.url}/rules/")
    assert_inert(page, [PAYLOADS[4]], "rule list")

    page.goto(f"{live_server.url}/rules/new/")
    page.fill("#id_name", "matches every payload")
    page.click("summary:has-text('Advanced')")
    page.fill("#id_conditions", json.dumps([{"field": "body", "op": "regex", "value": "pwned"}]))
    page.fill("#id_actions", json.dumps([{"type": "route_to", "department": "marketing"}]))
    page.click("button:has-text('Dry run')")
    page.wait_for_selector("#dry-run table.dry-run")
    assert_inert(page, PAYLOADS, "rule editor dry run")


def test_links_from_untrusted_urls_are_http_only(open_as, live_server, world):
    for url in (
        "javascript:window.__pwned=1",
        "JaVaScRiPt:window.__pwned=1",
        " javascript:window.__pwned=1",
        "java\tscript:window.__pwned=1",
        "java\nscript:window.__pwned=1",
        "\x00javascript:window.__pwned=1",
        "data:text/html,<script>window.__pwned=1</script>",
        "vbscript:window.__pwned=1",
        "javascript://example.com/%0awindow.__pwned=1",
        "//evil.example/x",
        "https:window.__pwned=1",
    ):
        for field in ("url", "author"):
            payload = {"external_id": "u", "body": "x", field: url}
            if field == "author":
                payload["author"] = {"handle": "h", "url": url}
            entry, errors = entry_validate(payload)
            assert entry is None, f"{field}={url!r} was accepted"
            assert "url" in (errors.get("author", {}) if field == "author" else errors)

    # An http(s) URL built to break out of the href attribute is stored and linked as is.
    hostile = "https://example.com/?q=\"><svg onload=window.__pwned=1>&x='><script>"
    (outcome,) = feedback_ingest(
        payloads=[
            {
                "external_id": "u-1",
                "body": "See the link " + PAYLOADS[0],
                "url": hostile,
                "author": {"handle": "u", "url": hostile},
            }
        ],
        default_source=world["source"],
    )
    assert outcome.status == "created"
    page = open_as(world["sam"])
    page.goto(f"{live_server.url}/items/{outcome.item_id}/")
    assert_inert(page, ["See the link " + PAYLOADS[0]], "item page with a hostile URL")
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)")
    assert any(h.startswith("https://example.com/") for h in hrefs)
    assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
