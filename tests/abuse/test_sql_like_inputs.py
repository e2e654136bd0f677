"""Search and filter strings that look like SQL, LIKE wildcards, tsquery syntax, very long
and odd Unicode, in every parameter of every list: never a 5xx, a NUL is a 400, the tables
are intact afterwards, and a list only ever shows what the caller may see.

The parameter names come from the FilterSets themselves, so a new filter is fuzzed from the
day it is added."""

import json
from urllib.parse import quote, urlencode

import pytest
from django.db import connection

from departments.filters import CaseFilter
from departments.models import Case, Department, Note
from departments.selectors import cases_visible_to, items_visible_to
from feedback.filters import FeedbackItemFilter
from feedback.models import FeedbackItem
from routing.models import Rule
from tests.abuse.world import HR_BODY, HR_SECRETS, world_build
from webhooks.filters import DeliveryFilterSet

pytestmark = pytest.mark.django_db

HOSTILE = [
    "' OR 1=1 --",
    "' OR ''='",
    '"; DROP TABLE feedback_feedbackitem; --',
    "'; DROP TABLE departments_case; --",
    ") OR (1=1",
    "1; SELECT pg_sleep(5)",
    "/* */ UNION SELECT username, password FROM auth_user --",
    "%",
    "_",
    "%%",
    "\\",
    "\\'",
    "'",
    '"',
    "$$ $tag$",
    "& | ! : * ( ) <-> <2>",
    "!!!",
    ":*",
    "a & !b | (c <-> d)",
    "-1",
    "0",
    "9" * 30,
    "9" * 5000,  # int() refuses more than 4,300 digits
    "1e309",
    "NaN",
    "-Infinity",
    "²",  # isdigit() but not int()
    "١٢",  # Arabic-Indic digits: int() reads them
    "2026-13-45T99:99:99+99:99",
    "0001-01-01T00:00:00-23:59",
    "ünïcødé ✓ 漢字 🙂 \u202e\ufeff",
    "x" * 5000,
    "",
    " ",
]
NUL = "abc\x00' OR 1=1 --"
# Pages render a whole template per request: one string of each kind keeps them quick.
PAGE_HOSTILE = [
    "' OR 1=1 --",
    '"; DROP TABLE feedback_feedbackitem; --',
    "%",
    "_",
    "\\",
    "& | ! : * ( ) <-> <2>",
    "²",
    "9" * 5000,
    "1e309",
    "NaN",
    "2026-13-45T99:99:99+99:99",
    "ünïcødé ✓ 漢字 🙂 \u202e\ufeff",
    "x" * 5000,
    "",
]

API_LISTS = {
    "/api/v1/feedback/": [*FeedbackItemFilter.base_filters, "cursor", "page_size"],
    "/api/v1/cases/": [*CaseFilter.base_filters, "cursor", "page_size"],
}
PAGES = {
    # path: (persona, parameters)
    "/queue/support/": ("alice", [*CaseFilter.base_filters, "sort", "page"]),
    "/triage/": ("alice", [*FeedbackItemFilter.base_filters, "page"]),
    "/dashboards/": ("maria", ["since", "until", "source", "department"]),
    "/dashboards/items/": ("maria", [*CaseFilter.base_filters, "page"]),
    "/dashboards/export.csv": ("maria", [*CaseFilter.base_filters]),
}
PATH_PARAMS = [
    "/api/v1/cases/{}/",
    "/api/v1/feedback/{}/",
    "/api/v1/departments/{}/",
    "/api/v1/rules/{}/",
    "/api/v1/classifier-versions/{}/",
    "/queue/{}/",
    "/dashboards/{}/",
]


@pytest.fixture
def world():
    return world_build()


@pytest.fixture
def intact():
    """The tables and their row counts must be the same after the test as before it."""

    def snapshot():
        tables = set(connection.introspection.table_names())
        counts = {
            model.__name__: model.objects.count()
            for model in (FeedbackItem, Case, Department, Note, Rule)
        }
        return tables, counts

    before = snapshot()
    yield
    assert snapshot() == before, "a request changed the schema or the data"


def body_of(response) -> str:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return content.decode()


def visible_ids(world, persona):
    user = world.users.get(persona)
    items = set(items_visible_to(user).values_list("pk", flat=True))
    cases = set(cases_visible_to(user).filter(item__in=items).values_list("pk", flat=True))
    return {"/api/v1/feedback/": items, "/api/v1/cases/": cases}


@pytest.mark.parametrize("path", list(API_LISTS))
@pytest.mark.parametrize("persona", ["alice", "key_read"])
def test_api_list_filters_take_any_string(path, persona, world, intact):
    client = world.client(persona)
    allowed = visible_ids(world, persona)[path] if persona == "alice" else None
    # A key sees its own source's items, HR's among them (documented), but no HR case data.
    secrets = (HR_BODY, *HR_SECRETS) if persona == "alice" else HR_SECRETS
    failures = []
    for name in API_LISTS[path]:
        for value in HOSTILE:
            response = client.get(f"{path}?{urlencode({name: value})}")
            label = f"{name}={value[:40]!r}: {response.status_code}"
            if response.status_code >= 500 or response.status_code not in (200, 400, 404):
                failures.append(label)
                continue
            if response.status_code != 200:
                continue
            ids = {row["id"] for row in response.json()["results"]}
            if allowed is not None and not ids <= allowed:
                failures.append(f"{label}: shows ids the caller may not see {ids - allowed}")
            if any(secret in response.content.decode() for secret in secrets):
                failures.append(f"{label}: shows HR's data")
        response = client.get(f"{path}?{urlencode({name: NUL})}")
        if response.status_code != 400:
            failures.append(f"{name}=NUL: {response.status_code}, expected 400")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", list(PAGES))
def test_page_filters_take_any_string(path, world, intact):
    persona, names = PAGES[path]
    client = world.client(persona)
    failures = []
    for name in names:
        for value in HOSTILE if name == "q" else PAGE_HOSTILE:
            response = client.get(f"{path}?{urlencode({name: value})}")
            label = f"{name}={value[:40]!r}: {response.status_code}"
            if response.status_code != 200:
                failures.append(label)
            elif HR_BODY in body_of(response):
                failures.append(f"{label}: shows HR's item")
        response = client.get(f"{path}?{urlencode({name: NUL})}")
        if response.status_code != 400:
            failures.append(f"{name}=NUL: {response.status_code}, expected 400")
    assert not failures, "\n".join(failures)


def test_like_wildcards_and_sql_are_literal_text(world):
    """`%` and `_` must not match every author (LIKE wildcards are escaped), and SQL in a
    search is just words: these searches match nothing, while a real word still does."""
    client = world.client("alice")
    assert client.get("/api/v1/feedback/?q=dana").json()["results"], "author search works"
    assert client.get("/api/v1/feedback/?q=parcel").json()["results"], "text search works"
    for value in ("%", "_", "%%", "\\", "' OR 1=1 --", "*:*"):
        for path in ("/api/v1/feedback/", "/api/v1/cases/"):
            results = client.get(f"{path}?{urlencode({'q': value})}").json()["results"]
            assert results == [], (path, value, [r["id"] for r in results])
    html = client.get("/queue/support/?q=%25").content.decode()
    assert "No cases match." in html


def test_a_widening_search_still_shows_only_what_the_caller_may_see(world):
    """websearch syntax has OR: a search built to match HR's post along with alice's own
    finds hers and never HR's."""
    client = world.client("alice")
    for path in ("/api/v1/feedback/", "/api/v1/cases/"):
        found = client.get(f"{path}?q=parcel%20or%20quillfeather").json()["results"]
        assert found and HR_BODY not in json.dumps(found)
    hana = world.client("hana")
    found = hana.get("/api/v1/feedback/?q=parcel%20or%20quillfeather").json()["results"]
    assert HR_BODY in json.dumps(found)  # the control: the query does reach HR's post


@pytest.mark.parametrize("template", PATH_PARAMS)
def test_path_parameters_take_any_string(template, world, intact):
    client = world.client("admin")  # sees everything: the widest possible answer
    failures = []
    for value in [*HOSTILE, "\x00", "%00"]:
        if not value.strip():
            continue
        path = template.format(quote(value, safe=""))
        response = client.get(path)
        if response.status_code >= 500:
            failures.append(f"{path[:80]}: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_webhook_delivery_filters_take_any_string(world, settings, intact):
    client = world.client("key_write_unlinked")
    failures = []
    for name in [*DeliveryFilterSet.base_filters, "cursor"]:
        for value in [*HOSTILE, NUL]:
            path = f"/api/v1/webhooks/{world.subscription}/deliveries/?{urlencode({name: value})}"
            response = client.get(path)
            if response.status_code >= 500:
                failures.append(f"{name}={value[:40]!r}: {response.status_code}")
    assert not failures, "\n".join(failures)


FORMS = [
    # (persona, path, fields) — every field of every workspace form gets each string.
    ("alice", "/items/{support_item}/note/", ["body"]),
    ("alice", "/items/{triage_item}/route/", ["department", "note"]),
    ("alice", "/cases/{support_case}/assign/", ["assignee"]),
    ("alice", "/cases/{support_case}/status/", ["status", "reason", "note"]),
    ("alice", "/cases/{support_case}/reroute/", ["department", "note"]),
    ("alice", "/cases/{support_case}/share/", ["department", "note"]),
    ("alice", "/cases/{support_case}/tags/", ["add", "remove"]),
    ("alice", "/queue/support/bulk/", ["action", "case", "query"]),
    ("alice", "/triage/act/", ["action", "row", "department"]),
    ("alice", "/views/save/", ["name", "department", "query"]),
    ("admin", "/rules/new/", ["name", "position", "match", "conditions", "actions", "limit"]),
    ("admin", "/rules/new/dry-run/", ["conditions", "limit"]),
]
RULE_BASE = {
    "name": "r",
    "position": "1",
    "match": "all",
    "limit": "10",
    "conditions": '[{"field": "body", "op": "contains_any", "value": ["x"]}]',
    "actions": '[{"type": "add_tag", "tag": "x"}]',
}
# JSON text that decodes to what PostgreSQL's jsonb cannot hold.
RULE_JSON = [
    '[{"field": "body", "op": "contains_any", "value": ["\\ud800"]}]',
    '[{"field": "body", "op": "contains_any", "value": ["\\u0000"]}]',
    '[{"field": "body", "op": "regex", "value": "a{4294967296}"}]',
    '[{"field": "followers", "op": "above", "value": 1' + "0" * 400 + "}]",
    "[" * 5000 + "]" * 5000,
]


@pytest.mark.parametrize(("persona", "path", "fields"), FORMS, ids=[f[1] for f in FORMS])
def test_form_fields_take_any_string(persona, path, fields, world):
    client = world.client(persona)
    path = path.format(**world.ids)
    failures = []
    values = [*HOSTILE, "\x00", "a\x00b", *(RULE_JSON if persona == "admin" else [])]
    for field in fields:
        for value in values:
            data = dict(RULE_BASE) if persona == "admin" else {}
            data[field] = value
            response = client.post(path, data)
            if response.status_code >= 500:
                failures.append(f"{field}={value[:40]!r}: {response.status_code}")
    assert not failures, "\n".join(failures)
    assert FeedbackItem.objects.filter(body=HR_BODY).exists()  # still there


API_WRITES = [
    (
        "PATCH",
        "/api/v1/cases/{support_case}/",
        ["status", "reason", "assignee", "add_tags", "remove_tags", "note"],
    ),
    ("POST", "/api/v1/cases/{support_case}/reroute/", ["department", "note"]),
    ("POST", "/api/v1/cases/{support_case}/share/", ["department", "note"]),
    ("POST", "/api/v1/cases/{support_case}/notes/", ["body"]),
    ("POST", "/api/v1/webhooks/", ["name", "url", "events", "departments", "format"]),
    ("PATCH", "/api/v1/webhooks/{subscription}/", ["name", "url", "events", "departments"]),
]


@pytest.mark.parametrize(
    ("method", "path", "fields"), API_WRITES, ids=[f"{m} {p}" for m, p, _ in API_WRITES]
)
def test_api_write_fields_take_any_string(method, path, fields, world, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    client = world.client("admin")
    path = path.format(**world.ids)
    failures = []
    for field in fields:
        for value in [*HOSTILE, "\x00", "a\x00b", "\ud800"]:
            as_list = field in ("add_tags", "remove_tags", "events", "departments")
            body = json.dumps({field: [value] if as_list else value})
            response = client.generic(method, path, body.encode(), content_type="application/json")
            if response.status_code >= 500:
                failures.append(f"{field}={value[:40]!r}: {response.status_code}")
    assert not failures, "\n".join(failures)
