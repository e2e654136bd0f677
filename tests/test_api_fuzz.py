"""Schemathesis against the live OpenAPI schema: every operation, with a key of each scope
and a superuser's browser session, answers without a server error, and every response
whose status the schema documents matches the documented body.

Pinned: Hypothesis is derandomized (the same examples on every run) with 25 examples per
operation. The operations are driven with plain Hypothesis `@given` (schemathesis' pytest
plugin does not support the pytest version we use).

Reaching the operations: before each operation a fresh set of objects is seeded (an item
posted with every optional field absent, its case in a department the keys see, a
subscription owned by the `webhooks` key with a failed delivery, one naming HR awaiting
approval) and most examples use their ids in the path; the rest keep the generated ids
(mostly 404s). A few operations also get one valid request random data hardly ever
makes (EXPLICIT), POST /feedback/ with only the required fields among them. The test then
asserts that every operation had at least one response checked against a documented
body schema, so a green run cannot come from every call being refused.

No receiver is contacted: deliveries' HTTP POSTs are replaced by a stub (fuzzed
subscriptions carry arbitrary URLs).
"""

from collections import defaultdict

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from departments.models import Case, Department
from feedback.models import FeedbackItem, Source
from feedback.services import apikey_create
from routing.models import ClassifierVersion, Rule
from tests.factories import UserFactory
from webhooks.models import Delivery, Subscription
from webhooks.transport import Answer

pytestmark = [pytest.mark.slow]
EXAMPLES = 25
SCOPES = ("ingest", "read", "write", "webhooks")


@pytest.fixture
def fuzz_world(transactional_db, monkeypatch):
    """The source, a superuser, a key per scope (all on the source) and the ids to seed."""
    monkeypatch.setattr(
        "webhooks.services.http_post",
        lambda **kwargs: Answer(error="Not sent: the API fuzz test sends to no receiver."),
    )
    source = Source.objects.create(slug="fuzz", name="Fuzz", kind="other")
    admin = UserFactory(username="fuzz-admin", is_staff=True, is_superuser=True)
    keys = {}
    for scope in SCOPES:
        key, raw = apikey_create(
            name=scope, source=source, scopes=[scope], acts_as=admin if scope == "write" else None
        )
        keys[scope] = (key, raw)
    Rule.objects.create(
        name="fuzz rule",
        conditions=[{"field": "body", "op": "contains_any", "value": ["crash"]}],
        actions=[{"type": "add_tag", "tag": "crash"}],
    )
    ClassifierVersion.objects.create(version="fuzz-v1", artifact=b"", labels=[])
    return {"source": source, "admin": admin, "keys": keys}


def seed(world, n: int) -> dict[str, object]:
    """Fresh objects for one operation, so an earlier operation's DELETE or reroute does
    not leave this one only 404s and 409s to answer."""
    item = FeedbackItem.objects.create(  # as posted with only the required fields
        source=world["source"], external_id=f"bare-{n}", body="The app crashes", state="routed"
    )
    case = Case.objects.create(
        item=item, department=Department.objects.get(slug="product"), routed_by="model"
    )
    owner = world["keys"]["webhooks"][0]
    subscription = Subscription.objects.create(
        name=f"fuzz {n}", url="http://127.0.0.1:9/fuzz", events=["item.routed"], owner_key=owner
    )
    delivery = Delivery.objects.create(
        subscription=subscription,
        event="item.routed",
        event_id=f"00000000-0000-4000-8000-{n:012d}",
        payload={"event": "item.routed"},
        status="failed",
    )
    hr_subscription = Subscription.objects.create(
        name=f"fuzz hr {n}", url="http://127.0.0.1:9/hr", events=["item.routed"], owner_key=owner
    )
    hr_subscription.departments.set([Department.objects.get(slug="hr")])
    return {
        "item": item.pk,
        "case": case.pk,
        "subscription": subscription.pk,
        "delivery": delivery.pk,
        "hr_subscription": hr_subscription.pk,
        "rule": Rule.objects.get().pk,
    }


def seeded_path(path: str, ids: dict) -> dict[str, object]:
    """The path parameters that reach the seeded objects of an operation's path."""
    prefix = "/api/v1/"
    route = path.removeprefix(prefix)
    if route.startswith("cases/{id}"):
        return {"id": ids["case"]}
    if route.startswith("feedback/{id}"):
        return {"id": ids["item"]}
    if route.startswith("departments/{slug}"):
        return {"slug": "product"}
    if route.startswith("rules/{id}"):
        return {"id": ids["rule"]}
    if route.startswith("classifier-versions/{version}"):
        return {"version": "fuzz-v1"}
    if route.startswith("ingest/{adapter}"):
        return {"adapter": "web_form"}
    if route.startswith("webhooks/deliveries/{id}"):
        return {"id": ids["delivery"]}
    if route == "webhooks/{id}/approve/":
        return {"id": ids["hr_subscription"]}
    if route.startswith("webhooks/{id}"):
        return {"id": ids["subscription"]}
    assert "{" not in route, f"no seeded object for {path}: add one to seeded_path"
    return {}


def admin_session(admin) -> dict[str, str]:
    """Headers for a logged-in superuser's browser session, CSRF token included (DRF
    checks it on unsafe methods for sessions)."""
    client = Client()
    client.force_login(admin)
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    token = get_token(RequestFactory().get("/"))
    return {
        "Authorization": "",  # no key: a generated bearer token would win over the session
        "Cookie": f"{django_settings.SESSION_COOKIE_NAME}={session}; "
        f"{django_settings.CSRF_COOKIE_NAME}={token}",
        "X-CSRFToken": token,
    }


# Valid requests that random generation hardly ever makes (a department slug, a URL, an
# adapter's payload), sent once per operation before its generated examples. The first
# posts an item with every optional field absent; the read endpoints then return it.
HOOK = {"name": "fuzz hook", "url": "http://127.0.0.1:9/explicit", "events": ["item.routed"]}
EXPLICIT = {
    "POST /api/v1/feedback/": {"body": {"external_id": "minimal", "body": "Bare post"}},
    "POST /api/v1/ingest/{adapter}/": {"body": {"message": "Checkout is broken"}},
    "POST /api/v1/cases/{id}/reroute/": {"body": {"department": "support"}},
    "POST /api/v1/cases/{id}/share/": {"body": {"department": "marketing"}},
    "POST /api/v1/webhooks/": {"body": HOOK},
    "PUT /api/v1/webhooks/{id}/": {"body": HOOK},
}


def documents_a_body(case, response) -> bool:
    definition = case.operation.responses.find_by_status_code(response.status_code)
    return definition is not None and definition.get_raw_schema() is not None


def test_api_never_errors_and_matches_its_schema(live_server, fuzz_world):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 32
    callers = {
        scope: {"Authorization": f"Bearer {raw}"} for scope, (_, raw) in fuzz_world["keys"].items()
    }
    callers["admin session"] = admin_session(fuzz_world["admin"])
    # operation -> documented statuses it answered (with a body schema checked, or 204)
    checked: dict[str, set[int]] = defaultdict(set)

    def conforms(ctx, response, case):
        """response_schema_conformance, noting which responses it had a schema to check."""
        result = response_schema_conformance(ctx, response, case)
        if documents_a_body(case, response) or response.status_code == 204:
            checked[case.operation.label].add(response.status_code)
        return result

    def call(case):
        for headers in callers.values():
            case.call_and_validate(
                base_url=live_server.url, headers=headers, checks=[not_a_server_error, conforms]
            )

    failures = []
    for n, operation in enumerate(operations):
        ids = seed(fuzz_world, n)
        path = seeded_path(operation.path, ids)
        strategy = st.one_of(
            operation.as_strategy(path_parameters=path) if path else operation.as_strategy(),
            operation.as_strategy(),
        )

        @given(case=strategy)
        @hypothesis_settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],  # failures are reported unshrunk
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            call(case)

        try:
            if operation.label in EXPLICIT:
                call(operation.Case(path_parameters=path, **EXPLICIT[operation.label]))
            run()
        # Schemathesis raises a FailureGroup (a BaseExceptionGroup, not an Exception).
        except (Exception, BaseExceptionGroup) as exc:  # collect them all, then report
            failures.append(f"{operation.label}: {str(exc)[:800]}")
    assert not failures, f"{len(failures)} failing operation(s):\n\n" + "\n\n".join(failures)

    unchecked = [op.label for op in operations if not checked[op.label] & set(range(200, 300))]
    assert not unchecked, f"never answered with a documented success: {unchecked}"
    assert FeedbackItem.objects.filter(external_id="minimal", author__isnull=True).exists()


def test_the_conformance_check_does_check_bodies(live_server, fuzz_world):
    """A wrong body under a documented status fails the check the fuzz run uses, so its
    green result means the bodies matched, not that nothing was compared."""
    import requests

    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/")
    operation = schema["/api/v1/departments/{slug}/"]["GET"]
    case = operation.Case(path_parameters={"slug": "product"})
    response = requests.Response()
    response.status_code = 200
    response.headers["Content-Type"] = "application/json"
    response._content = b'{"slug": 7}'
    response.url = f"{live_server.url}/api/v1/departments/product/"
    response.request = requests.Request("GET", response.url).prepare()
    with pytest.raises(BaseExceptionGroup) as failed:  # schemathesis' FailureGroup
        case.validate_response(response, checks=[response_schema_conformance])
    assert "7 is not of type" in str(failed.value)
    assert "first_response_sla_seconds" in str(failed.value)
