"""Differential leak tests: what someone outside HR receives must not change when HR's
sealed data changes.

World A is the authorization world (tests/abuse/world.py). World B is A plus, written
through the real services where there is one:
- HR-only items (an HR case, an HR note, HR events), one routed by an HR rule through the
  routing service (its `item.routed` webhook included);
- on items the viewer already sees: an HR case with HR-rule tags and priority, an HR note,
  HR events (a status change, a tag), a high HR score;
- a post waiting in HR's own triage, an HR spike and HR's rising terms.

For every page and API route of the authorization matrix (every URL pattern of the
project), the export, the weekly digest email and the webhook deliveries of a subscription
that does not name HR, each non-member persona gets byte-identical answers in A and B once
ids of B's new rows, times, CSRF tokens, nonces and cursors are masked. The filters of the
lists are sampled with hypothesis. A search for marker words (test_authorization_matrix)
cannot see an oracle such as a count or a filter that answers differently; this can.
"""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from departments.models import Case, Department, Spike, ThemeSnapshot
from departments.rollups import rollups_refresh
from departments.services import case_set_status, case_tag, note_add
from departments.tasks import weekly_digest
from feedback.models import Author, FeedbackItem, Source
from routing.classification import classifier_active
from routing.services import items_route
from tests.abuse.test_authorization_matrix import MATRIX, url_patterns
from tests.abuse.world import HR_TAG, fetch_pages, world_build
from webhooks.models import Delivery

# Everyone who is not in HR, and is not a superuser: people and keys.
OUTSIDERS = (
    "alice",
    "bob",
    "maria",
    "charlie",
    "key_read",
    "key_write_alice",
    "key_write_unlinked",
)
B_WORDS = "grievance tribunal payslip discrepancy"  # words only B's HR posts use

# GET pages and API routes of the matrix, and the POSTs that change nothing (dry runs).
READS = sorted(
    {row.path for row in MATRIX if row.method == "GET" and not row.pattern.startswith("admin:")}
)
# The lists, with the filters people and integrations use; hypothesis samples them.
EXTRA_READS = [
    "/dashboards/export.csv?days=30",
    "/dashboards/items/?days=30",
    "/triage/?state=routed",
    "/triage/?inbox=hr",
    "/triage/?suggest=hr",
    "/triage/?suggest=support",
]

_MASKS = [
    (re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"'), 'name="csrfmiddlewaretoken"'),
    (re.compile(r'csrf[-_]token[^>]*content="[^"]+"', re.I), "csrf-token"),
    (re.compile(r'nonce="[^"]+"'), 'nonce=""'),
    (re.compile(r"\b[A-Za-z0-9]{64}\b"), "<token>"),  # CSRF tokens in headers and forms
    (re.compile(r'"latency_ms": [\d.]+'), '"latency_ms": 0'),  # /healthz probes
    (re.compile(r"cursor=[A-Za-z0-9%_=\-]+"), "cursor=*"),
    (
        re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"),
        "<time>",
    ),
    (re.compile(r"\b\d+\xa0?\s?(minutes?|seconds?|hours?|days?|weeks?)\b"), "<ago>"),
    (re.compile(r">\d+[smhdw]</time>"), "><ago></time>"),  # a queue row's age ("8s", "5h")
    (re.compile(r"\b\d{1,2}:\d{2}\b"), "<hh:mm>"),
]


def mask(text: str) -> str:
    """Times, tokens and cursors masked. Ids are not: A's rows keep theirs in B, and B's
    new rows must not show at all."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


fetch = fetch_pages


def refresh_aggregates() -> None:
    """What the periodic tasks keep up to date, rebuilt so both worlds' dashboards read
    their own data (and nothing cached from the other)."""
    today = timezone.localdate()
    rollups_refresh(start=today - timedelta(days=35), end=today)
    cache.clear()


def add_sealed_data(world) -> None:
    """World B's extras."""
    hana = world.users["hana"]
    hr = Department.objects.get(slug="hr")
    # HR-only posts come from a source of their own (in both worlds): an API key sees
    # every post of its own source and its state (what it posted), so HR-only posts on
    # `web` would rightly show to the web keys.
    web = Source.objects.get(slug="intranet")
    author = Author.objects.create(source=web, handle="quiet_employee")
    # An HR-only post routed by the routing service through an HR rule (the matrix world's
    # "jobs to HR" rule) while no other department's threshold can be met.
    Department.objects.exclude(slug="hr").update(routing_threshold=1.01)
    routed = FeedbackItem.objects.create(
        source=web,
        external_id="b-hr-routed",
        body=f"Are you hiring? Asking about a {B_WORDS}",
        author=author,
    )
    items_route(item_ids=[routed.pk])
    Department.objects.update(routing_threshold=None)
    # HR-only items written directly, with a note, a tag and a status change by HR.
    for n in range(3):
        item = FeedbackItem.objects.create(
            source=web,
            external_id=f"b-hr-{n}",
            body=f"Confidential: {B_WORDS} number {n}",
            author=author,
            state=FeedbackItem.State.ROUTED,
            scores={"hr": 0.98, "support": 0.01},
            priority="urgent",
        )
        case = Case.objects.create(
            item=item, department=hr, routed_by="rule", reason="sealed rule", tags=[HR_TAG]
        )
        note_add(item=item, actor=hana, body=f"HR note on {B_WORDS}")
        case_tag(case=case, actor=hana, add=["bsealed"])
        case_set_status(case=case, status="waiting", actor=hana)
    # HR on items the outsiders already see.
    for key in ("support_item", "product_item", "reddit_item"):
        item = FeedbackItem.objects.get(pk=world.ids[key])
        item.scores = {**(item.scores or {}), "hr": 0.97}
        item.save(update_fields=["scores"])
        case = Case.objects.create(
            item=item,
            department=hr,
            routed_by="rule",
            reason="sealed rule",
            tags=[HR_TAG, "bsealed"],
            priority="urgent",
        )
        note_add(item=item, actor=hana, body=f"HR note: {B_WORDS}")
        case_tag(case=case, actor=hana, add=["bsealed2"])
        case_set_status(case=case, status="waiting", actor=hana)
    # HR ranked first on a post in the shared inbox: its suggestions must not change.
    FeedbackItem.objects.filter(pk=world.ids["triage_item"]).update(
        scores={"hr": 0.45, "support": 0.3, "product": 0.2}
    )
    # A post waiting in HR's own triage.
    FeedbackItem.objects.create(
        source=web,
        external_id="b-hr-triage",
        body=f"throwaway account, current employee, {B_WORDS}",
        state=FeedbackItem.State.TRIAGE,
        triage_department=hr,
        scores={"hr": 0.4, "support": 0.1},
    )
    # HR's spike and rising terms.
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    Spike.objects.create(
        dimension="department", key="hr", hour=now, count=40, baseline=2, zscore=9, terms=["x"]
    )
    ThemeSnapshot.objects.update_or_create(
        scope="hr", defaults={"terms": [["grievance", 9, 1]], "vocabulary": ["grievance"]}
    )


def differences(a: dict[str, str], b: dict[str, str]) -> list[str]:
    out = []
    for url in a:
        left, right = mask(a[url]), mask(b[url])
        if left != right:
            at = next(i for i, (x, y) in enumerate(zip(left, right, strict=False)) if x != y)
            if left[:at] == right[:at] and at >= min(len(left), len(right)):
                at = min(len(left), len(right))
            around = slice(max(0, at - 80), at + 80)
            out.append(f"{url}: A …{left[around]!r} | B …{right[around]!r}")
    return out


pytestmark = pytest.mark.django_db


@pytest.fixture
def world(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_ADDRESSES = True
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.WEBHOOK_SUBSCRIPTION_CACHE_SECONDS = 0  # no targets cached from another test
    world = world_build()
    Source.objects.create(slug="intranet", name="Intranet form", kind=Source.Kind.WEB_FORM)
    classifier_active()  # registers the shipped model in both worlds (B routes a post)
    return world


def test_every_url_pattern_is_read_by_the_differential_tests():
    """The matrix has a row for every URL pattern (its own test checks that); this one
    checks that every pattern that answers GET is among the reads compared here."""
    get_rows = {row.pattern for row in MATRIX if row.method == "GET"}
    names = {name for _, name, _ in url_patterns() if name in get_rows}
    read = {row.pattern for row in MATRIX if row.path in READS}
    assert names and names - read <= {n for n in names if n.startswith("admin:")}


@pytest.mark.parametrize("persona", OUTSIDERS)
def test_outsiders_get_the_same_answers_with_and_without_hr_data(persona, world):
    refresh_aggregates()
    a = fetch(world, persona, READS + EXTRA_READS)
    add_sealed_data(world)
    refresh_aggregates()
    b = fetch(world, persona, READS + EXTRA_READS)
    found = differences(a, b)
    assert not found, f"{persona} can tell HR's data changed:\n" + "\n".join(found)


def test_hr_sees_the_difference(world):
    """The comparison can fail: HR's own agent does see B's extras."""
    refresh_aggregates()
    urls = ["/queue/hr/", "/triage/?inbox=hr", "/items/{support_item}/"]
    a = fetch(world, "hana", urls)
    add_sealed_data(world)
    refresh_aggregates()
    b = fetch(world, "hana", urls)
    assert len(differences(a, b)) == len(urls)


def _digest_parts(message) -> tuple:
    """The plain-text body and every alternative (the HTML part), masked."""
    return (mask(message.body), *(mask(str(body)) for body, _ in message.alternatives))


def test_the_weekly_digest_and_webhooks_do_not_change_for_outsiders(world):
    """Maria (support's manager) gets the same digest, and a subscription that names no
    department gets no delivery from B's HR activity."""
    refresh_aggregates()
    mail.outbox = []
    weekly_digest()
    digest_a = sorted(_digest_parts(m) for m in mail.outbox if "maria" in " ".join(m.to))
    deliveries_a = Delivery.objects.filter(subscription_id=world.subscription).count()
    add_sealed_data(world)
    refresh_aggregates()
    mail.outbox = []
    weekly_digest()
    digest_b = sorted(_digest_parts(m) for m in mail.outbox if "maria" in " ".join(m.to))
    assert digest_a and digest_a == digest_b
    assert Delivery.objects.filter(subscription_id=world.subscription).count() == deliveries_a


SLUGS = ["support", "product", "hr", "marketing", "nope"]
LIST_FILTERS = st.fixed_dictionaries(
    {},
    optional={
        "department": st.sampled_from(SLUGS),
        "case_status": st.sampled_from(["new", "open", "waiting", "resolved", "dismissed"]),
        "state": st.sampled_from(["routed", "triage", "noise", "received"]),
        "priority": st.sampled_from(["low", "normal", "high", "urgent"]),
        "tag": st.sampled_from([HR_TAG, "bsealed", "bsealed2", "question"]),
        "q": st.sampled_from(["grievance", "parcel", "hiring", "payslip", "dana"]),
        "source": st.sampled_from(["web", "reddit"]),
        "sentiment_min": st.sampled_from(["-1", "0"]),
    },
)
CASE_FILTERS = st.fixed_dictionaries(
    {},
    optional={
        "department": st.sampled_from(SLUGS),
        "status": st.sampled_from(["new", "open", "waiting", "resolved"]),
        "priority": st.sampled_from(["normal", "urgent"]),
        "tag": st.sampled_from([HR_TAG, "bsealed", "bsealed2"]),
        "q": st.sampled_from(["grievance", "parcel", "payslip"]),
        "assignee": st.sampled_from(["none", "hana", "alice"]),
        "sla": st.sampled_from(["overdue", "due_soon", "ok"]),
    },
)
ENDPOINTS = [
    ("alice", "/api/v1/feedback/", LIST_FILTERS),
    ("key_read", "/api/v1/feedback/", LIST_FILTERS),
    ("alice", "/triage/", LIST_FILTERS),
    ("alice", "/api/v1/cases/", CASE_FILTERS),
    ("maria", "/queue/support/", CASE_FILTERS),
    ("maria", "/dashboards/items/", LIST_FILTERS),
]


@pytest.mark.parametrize(
    ("persona", "path", "filters"), ENDPOINTS, ids=[f"{p} {u}" for p, u, _ in ENDPOINTS]
)
@settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_filters_are_no_oracle(persona, path, filters, world, data):
    """A filter over a list answers the same whatever HR holds (B is added inside a
    savepoint and rolled back after each example)."""
    from urllib.parse import urlencode

    url = f"{path}?{urlencode(data.draw(filters))}"
    a = fetch(world, persona, [url])
    sid = transaction.savepoint()
    try:
        add_sealed_data(world)
        cache.clear()
        b = fetch(world, persona, [url])
    finally:
        transaction.savepoint_rollback(sid)
        cache.clear()
    found = differences(a, b)
    assert not found, "\n".join(found)
