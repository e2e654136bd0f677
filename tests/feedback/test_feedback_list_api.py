"""GET /api/v1/feedback/: filters, search, cursor pagination; throttling; Idempotency-Key."""

import json

import pytest
from django.utils import timezone

from departments.models import Case, Department
from feedback.models import FeedbackItem
from tests.factories import FeedbackItemFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/feedback/"


@pytest.fixture
def items(source):
    now = timezone.now()
    made = [
        FeedbackItemFactory(
            source=source,
            body="The invoice total is wrong",
            state="routed",
            sentiment=-0.6,
            language="en",
            priority="high",
            tags=["billing"],
            received_at=now - timezone.timedelta(days=2),
        ),
        FeedbackItemFactory(
            source=source,
            body="Wunderbar, danke!",
            state="routed",
            sentiment=0.9,
            language="de",
            received_at=now,
        ),
        FeedbackItemFactory(source=source, body="random chatter", state="noise"),
    ]
    Case.objects.create(
        item=made[0],
        department=Department.objects.get(slug="support"),
        routed_by="model",
        status="open",
    )
    return made


def ids(response):
    assert response.status_code == 200, response.content
    return {r["id"] for r in response.json()["results"]}


def test_filters(api, items):
    invoice, danke, chatter = items
    assert ids(api.get(URL, {"department": "support"})) == {invoice.pk}
    assert ids(api.get(URL, {"case_status": "open", "department": "support"})) == {invoice.pk}
    assert ids(api.get(URL, {"state": "noise"})) == {chatter.pk}
    assert ids(api.get(URL, {"language": "DE"})) == {danke.pk}
    assert ids(api.get(URL, {"sentiment_max": -0.5})) == {invoice.pk}
    assert ids(api.get(URL, {"priority": "high"})) == {invoice.pk}
    assert ids(api.get(URL, {"tag": "billing"})) == {invoice.pk}
    since = (timezone.now() - timezone.timedelta(days=1)).isoformat()
    assert invoice.pk not in ids(api.get(URL, {"since": since}))
    assert ids(api.get(URL, {"q": "invoices"})) == {invoice.pk}  # stemmed full-text search


def test_bad_filter_values_are_400_not_500(api, items):
    response = api.get(URL, {"since": "last tuesday"})
    assert response.status_code == 400 and "since" in response.json()["errors"]
    assert api.get(URL, {"state": "sideways"}).status_code == 400


@pytest.mark.parametrize(
    "query",
    ["' OR 1=1 --", '"; DROP TABLE feedback_feedbackitem;', "a & | ! :* (", "nul\x00byte", "%%%"],
)
def test_search_strings_that_look_like_sql(api, items, query):
    response = api.get(URL, {"q": query})
    # NUL cannot reach PostgreSQL: it is refused with a 400, everything else is searched.
    assert response.status_code == (400 if "\x00" in query else 200)
    assert FeedbackItem.objects.count() == 3


def test_cursor_pagination_with_bounded_queries(api, source, django_assert_max_num_queries):
    for i in range(12):
        FeedbackItemFactory(source=source, body=f"post {i}")
    with django_assert_max_num_queries(6):
        page = api.get(URL, {"page_size": 5}).json()
    assert len(page["results"]) == 5 and page["next"] and "count" not in page
    seen = {r["id"] for r in page["results"]}
    while page["next"]:
        page = api.get(page["next"]).json()
        seen |= {r["id"] for r in page["results"]}
    assert len(seen) == 12


def test_throttling_answers_429_with_retry_after(api, source, settings):
    from rest_framework.settings import api_settings
    from rest_framework.throttling import SimpleRateThrottle

    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "principal": "3/min"}
    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = rates
    try:
        codes = [api.get(URL).status_code for _ in range(4)]
        response = api.get(URL)
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["status"] == 429


def test_idempotency_key_replays_the_first_response(api, source):
    body = json.dumps({"external_id": "idem-1", "body": "hello there"})
    headers = {"HTTP_IDEMPOTENCY_KEY": "abc-123"}
    first = api.post(URL, data=body, content_type="application/json", **headers)
    again = api.post(URL, data=body, content_type="application/json", **headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    other = api.post(
        URL,
        data=json.dumps({"external_id": "idem-2", "body": "x"}),
        content_type="application/json",
        **headers,
    )
    assert other.status_code == 422
    assert FeedbackItem.objects.count() == 1
