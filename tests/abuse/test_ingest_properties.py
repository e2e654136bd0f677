"""Property-based abuse of ingest: whatever an integration sends, validation answers with a
clean entry or field errors (never an exception), a clean entry is safe to store and show,
storing it twice keeps one row, and the API never answers 5xx."""

import json
import unicodedata

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from hypothesis import example, given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from feedback.models import FeedbackItem
from feedback.services import feedback_ingest
from feedback.validation import entry_validate
from tests.abuse.strategies import abuse_settings, json_values, payloads, strict_json_values

pytestmark = pytest.mark.django_db

ALLOWED_CONTROLS = "\n\t\r"  # validation documents keeping tab, newline and carriage return


def rolled_back():
    """Each Hypothesis example runs in a savepoint that is rolled back, so examples never
    see each other's rows."""

    class _RolledBack:
        def __enter__(self):
            self.atomic = transaction.atomic()
            self.atomic.__enter__()

        def __exit__(self, *exc):
            transaction.set_rollback(True)
            return self.atomic.__exit__(*exc)

    return _RolledBack()


def assert_clean_text(value: str, *, field: str, cap: int, required: bool = False) -> None:
    assert isinstance(value, str), field
    assert unicodedata.is_normalized("NFC", value), f"{field} is not NFC: {value!r}"
    bad = [
        ch
        for ch in value
        if (unicodedata.category(ch) in ("Cc", "Cs") and ch not in ALLOWED_CONTROLS)
        or ch in "\ufffe\uffff"
    ]
    assert not bad, f"{field} keeps control/surrogate characters {bad!r}"
    assert value == value.strip(), f"{field} is not stripped"
    assert len(value) <= cap, f"{field} is {len(value)} characters, over {cap}"
    if required:
        assert value, f"{field} is empty"
    value.encode("utf-8")  # PostgreSQL text must be valid UTF-8


def assert_errors_shape(errors) -> None:
    assert isinstance(errors, dict) and errors
    for name, messages in errors.items():
        assert isinstance(name, str)
        if isinstance(messages, dict):  # the author's own field errors
            assert_errors_shape(messages)
        else:
            assert isinstance(messages, list) and messages
            assert all(isinstance(m, str) and m for m in messages)
    json.dumps(errors)  # goes out in a problem-details body as is


@abuse_settings(max_examples=400)
@given(payload=payloads())
@example(payload={"external_id": "a", "body": "x\ud800"})
@example(payload={"external_id": "\ud800", "body": "x"})
@example(payload={"external_id": "a", "body": "x", "raw": {"k\ud800": ["\udfff"]}})
@example(payload={"external_id": "a", "body": "x", "raw": {"n": float("nan")}})
@example(payload={"external_id": "a", "body": "x", "url": "http://[::1"})
@example(
    payload={"external_id": "a", "body": "x", "author": {"handle": "h", "url": "https://[zz]/"}}
)
@example(payload={"external_id": "a", "body": "e\x00\u0301"})
@example(payload={"external_id": "a", "body": "x", "source": "we\x00b"})
def test_entry_validate_returns_a_clean_entry_or_field_errors(payload):
    entry, errors = entry_validate(payload)  # must not raise, whatever the payload
    assert (entry is None) != (not errors), "exactly one of entry and errors"
    if entry is None:
        assert_errors_shape(errors)
        return
    cap = django_settings.INGEST_MAX_BODY_CHARS
    assert_clean_text(entry.body, field="body", cap=cap, required=True)
    assert_clean_text(entry.external_id, field="external_id", cap=255, required=True)
    assert_clean_text(entry.in_reply_to, field="in_reply_to", cap=255)
    assert_clean_text(entry.language, field="language", cap=16)
    assert_clean_text(entry.url, field="url", cap=2000)
    if entry.url:
        assert entry.url.lower().startswith(("http://", "https://")), entry.url
    if entry.author is not None:
        assert_clean_text(entry.author.handle, field="author.handle", cap=255, required=True)
        assert_clean_text(entry.author.name, field="author.name", cap=255)
        assert_clean_text(entry.author.url, field="author.url", cap=2000)
        if entry.author.url:
            assert entry.author.url.lower().startswith(("http://", "https://"))
    if entry.source_slug is not None:
        assert_clean_text(entry.source_slug, field="source", cap=64, required=True)
    # raw must be storable as jsonb: strict JSON, valid UTF-8, no NUL.
    encoded = json.dumps(entry.raw, ensure_ascii=False, allow_nan=False).encode("utf-8")
    assert b"\\u0000" not in encoded and b"\x00" not in encoded


@abuse_settings(max_examples=150)
@given(payload=payloads(external_ids=st.sampled_from(["p-1", "p-2", 7, " p-1 "])))
@example(payload={"external_id": "p-1", "body": "x", "raw": {"n": float("inf")}})
@example(payload={"external_id": "p-1", "body": "nul\x00 in body", "raw": {"a\x00": "\x00"}})
def test_ingesting_any_payload_twice_stores_at_most_one_row(payload, source):
    entry, _ = entry_validate(payload)
    with rolled_back():
        before = FeedbackItem.objects.count()
        first, second = (
            feedback_ingest(payloads=[payload], default_source=source)[0] for _ in range(2)
        )
        after = FeedbackItem.objects.count()
        if entry is None or (entry.source_slug not in (None, source.slug)):
            assert first.status == second.status == "rejected"
            assert after == before
            return
        assert (first.status, second.status) == ("created", "duplicate")
        assert first.item_id == second.item_id and after == before + 1
        stored = FeedbackItem.objects.get(pk=first.item_id)
        assert stored.body == entry.body and stored.external_id == entry.external_id
        # The same post twice in one request is one row too.
        again = feedback_ingest(payloads=[payload, payload], default_source=source)
        assert [o.status for o in again] == ["duplicate", "duplicate"]
        assert FeedbackItem.objects.count() == after


def _bodies():
    as_json = st.one_of(
        payloads(values=strict_json_values),
        st.lists(payloads(values=strict_json_values), max_size=3),
        strict_json_values,
    )
    return st.one_of(
        as_json.map(json.dumps),  # json.dumps escapes lone surrogates as \ud800: valid JSON
        st.sampled_from(
            [
                "",
                "{",
                "[",
                "null",
                "nul",
                '{"body": NaN}',
                '"\\ud800"',
                "[" * 5000 + "]" * 5000,
                '{"a":' * 3000 + "1" + "}" * 3000,
                "1" * 5000,
                '{"external_id": 1e999, "body": "x"}',
                '{"external_id": "a", "body": "x", "raw": {"a": "\\u0000"}}',
                '{"external_id": "a", "body": "\\u0000\\ud800"}',
            ]
        ),
        st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
    )


@pytest.fixture
def ingest_api(ingest_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ingest_key}")
    return client


@abuse_settings(max_examples=120)
@given(
    body=_bodies(),
    path=st.sampled_from(
        [
            "/api/v1/feedback/",
            "/api/v1/ingest/web_form/",
            "/api/v1/ingest/x_v2/",
            "/api/v1/ingest/reddit_comment/",
            "/api/v1/ingest/app_store_review/",
        ]
    ),
)
@example(body='{"external_id": "a", "body": "x\\ud800"}', path="/api/v1/feedback/")
@example(
    body='{"external_id": "a", "body": "x", "raw": {"a": "\\udfff"}}', path="/api/v1/feedback/"
)
@example(body='{"external_id": "a", "body": "x", "url": "http://[::1"}', path="/api/v1/feedback/")
@example(body='{"external_id": "a", "body": "x", "source": "w\\u0000"}', path="/api/v1/feedback/")
@example(body="[" * 5000 + "]" * 5000, path="/api/v1/feedback/")
@example(body='{"\\ud800": 1, "external_id": "a", "body": "x"}', path="/api/v1/feedback/")
@example(
    body='{"external_id": "a", "body": "x", "author": {"handle": "h", "\\udc00": 1}}',
    path="/api/v1/feedback/",
)
@example(
    body='{"external_id": "a", "body": "x", "raw": %s}' % ('{"a":' * 850 + "1" + "}" * 850),
    path="/api/v1/feedback/",
)
@example(
    body='{"external_id": "a", "body": "x", "raw": {"a": %s}}' % ("[" * 950 + "]" * 950),
    path="/api/v1/feedback/",
)
@example(body='{"message": "x\\ud800", "email": "a@b.c"}', path="/api/v1/ingest/web_form/")
def test_ingest_api_never_answers_5xx(body, path, ingest_api):
    with rolled_back():
        response = ingest_api.generic(
            "POST", path, body.encode("utf-8", "surrogatepass"), content_type="application/json"
        )
    assert response.status_code < 500, (response.status_code, body[:200])
    if response.status_code >= 400:
        # Problem details, or (a list whose every post was rejected) the per-post results.
        assert response["Content-Type"] == "application/problem+json" or (
            "results" in response.json()
        )


@abuse_settings(max_examples=60)
@given(value=json_values.filter(lambda v: not isinstance(v, dict)))
def test_validation_of_non_objects_is_a_field_error(value):
    entry, errors = entry_validate(value)
    assert entry is None and errors == {"non_field_errors": ["Expected an object."]}
