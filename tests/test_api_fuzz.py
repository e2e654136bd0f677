"""Schemathesis against the live OpenAPI schema, with a key of each scope: no server
error, and every documented response matches the schema.

The operations are driven with plain Hypothesis `@given` (schemathesis' pytest plugin
does not support the pytest version we use)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from departments.models import Case, Department
from feedback.models import Source
from feedback.services import apikey_create
from tests.factories import FeedbackItemFactory, UserFactory

pytestmark = [pytest.mark.slow]
EXAMPLES = 12


@pytest.fixture
def scoped_keys(transactional_db):
    source = Source.objects.create(slug="fuzz", name="Fuzz", kind="other")
    admin = UserFactory(username="fuzz-admin", is_staff=True, is_superuser=True)
    item = FeedbackItemFactory(source=source, body="The app crashes", state="routed")
    Case.objects.create(
        item=item, department=Department.objects.get(slug="product"), routed_by="model"
    )
    keys = {}
    for scope in ("ingest", "read", "write"):
        _, raw = apikey_create(
            name=scope, source=source, scopes=[scope], acts_as=admin if scope == "write" else None
        )
        keys[scope] = raw
    return keys


def test_api_never_errors_and_matches_its_schema(live_server, scoped_keys):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/schema/")
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            for key in scoped_keys.values():
                case.call_and_validate(
                    base_url=live_server.url,
                    headers={"Authorization": f"Bearer {key}"},
                    checks=[not_a_server_error, response_schema_conformance],
                )

        try:
            run()
        except Exception as exc:  # collect every failing operation, then report them all
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
