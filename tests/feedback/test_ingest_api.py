"""POST /api/v1/feedback/: storing posts, idempotency, and every kind of bad input."""

import json

import pytest

from feedback.models import Author, FeedbackItem
from feedback.services import apikey_create

URL = "/api/v1/feedback/"


def post(client, data, **extra):
    return client.post(URL, data=json.dumps(data), content_type="application/json", **extra)


def item(n=1, **fields):
    return {
        "external_id": f"post-{n}",
        "body": f"My order #{n} never arrived, where is it?",
        **fields,
    }


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    """Run the after-commit routing enqueue (eager in unit tests) as the request ends."""
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        yield callbacks


class TestCreate:
    def test_single_item_is_stored_and_answers_201_with_id_and_url(self, api, source, capture):
        response = post(
            api,
            item(
                1,
                author={"handle": "@dana", "name": "Dana", "followers": 12},
                url="https://example.com/p/1",
                posted_at="2026-11-01T10:00:00Z",
            ),
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["status"] == "created"
        stored = FeedbackItem.objects.get(pk=body["id"])
        assert body["url"].endswith(f"/api/v1/feedback/{stored.pk}/")
        assert stored.source == source
        assert stored.author.handle == "@dana" and stored.author.followers == 12
        assert stored.posted_at.isoformat() == "2026-11-01T10:00:00+00:00"

    def test_list_reports_each_item_and_stores_the_valid_ones(self, api, source, capture):
        response = post(api, [item(1), {"external_id": "bad"}, item(3)])
        assert response.status_code == 201
        data = response.json()
        assert [r["status"] for r in data["results"]] == ["created", "rejected", "created"]
        assert data["results"][1]["errors"] == {"body": ["This field is required."]}
        assert (data["created"], data["duplicate"], data["rejected"]) == (2, 0, 1)
        assert FeedbackItem.objects.count() == 2

    def test_repeat_returns_existing_item_and_changes_nothing(self, api, source, capture):
        first = post(api, item(7, author={"handle": "kim", "followers": 5})).json()
        before = FeedbackItem.objects.values().get(pk=first["id"])
        again = post(api, item(7, author={"handle": "kim", "followers": 5}))
        assert again.status_code == 200
        assert again.json() == {**first, "status": "duplicate"}
        assert FeedbackItem.objects.values().get(pk=first["id"]) == before
        assert FeedbackItem.objects.count() == 1 and Author.objects.count() == 1

    def test_repeat_within_one_list_is_a_duplicate_of_the_first(self, api, source, capture):
        data = post(api, [item(1), item(1)]).json()
        assert [r["status"] for r in data["results"]] == ["created", "duplicate"]
        assert data["results"][0]["id"] == data["results"][1]["id"]

    def test_same_list_posted_twice_creates_nothing_the_second_time(self, api, source, capture):
        batch = [item(n) for n in range(20)]
        assert post(api, batch).status_code == 201
        second = post(api, batch)
        assert second.status_code == 200
        assert second.json()["duplicate"] == 20
        assert FeedbackItem.objects.count() == 20

    def test_body_is_nfc_normalized_and_control_characters_removed(self, api, source, capture):
        decomposed = "Cafe\u0301 app\x00 keeps\x07 crashing\r\nplease fix"
        data = post(api, item(1, body=decomposed)).json()
        assert FeedbackItem.objects.get(pk=data["id"]).body == "Café app keeps crashing\nplease fix"

    def test_nul_bytes_in_raw_are_removed_before_jsonb(self, api, source, capture):
        data = post(api, item(1, raw={"k\x00": "v\x00", "n": [1, "\x00x"]})).json()
        assert FeedbackItem.objects.get(pk=data["id"]).raw == {"k": "v", "n": [1, "x"]}

    def test_source_defaults_to_the_keys_source(self, api, source, capture):
        data = post(api, item(1, source="web")).json()
        assert FeedbackItem.objects.get(pk=data["id"]).source == source


class TestBadInput:
    """Every bad request is a 4xx with a message, and nothing is stored."""

    @pytest.mark.parametrize(
        ("payload", "field", "message"),
        [
            ({"body": "hi"}, "external_id", "required"),
            ({"external_id": "x"}, "body", "required"),
            ({"external_id": "x", "body": 12}, "body", "Expected a string"),
            ({"external_id": ["x"], "body": "b"}, "external_id", "Expected a string"),
            ({"external_id": "x", "body": "   "}, "body", "blank"),
            ({"external_id": "x", "body": "\x00\x00"}, "body", "blank"),
            ({"external_id": "x", "body": "b", "posted_at": "yesterday"}, "posted_at", "ISO 8601"),
            (
                {"external_id": "x", "body": "b", "posted_at": "2999-01-01T00:00:00Z"},
                "posted_at",
                "future",
            ),
            ({"external_id": "x", "body": "b", "url": "javascript:alert(1)"}, "url", "URL"),
            (
                {"external_id": "x", "body": "b", "author": {"name": "no handle"}},
                "author",
                "handle",
            ),
            (
                {"external_id": "x", "body": "b", "author": {"handle": "h", "followers": -1}},
                "author",
                "followers",
            ),
            (
                {"external_id": "x", "body": "b", "author": {"handle": "h", "followers": "many"}},
                "author",
                "whole number",
            ),
            ({"external_id": "x", "body": "b", "language": "english!"}, "language", "code"),
            ({"external_id": "x", "body": "b", "raw": [1, 2]}, "raw", "object"),
            ({"external_id": "x", "body": "b", "surprise": 1}, "surprise", "Unknown field"),
            ({"external_id": "x", "body": "b", "source": "nope"}, "source", "Unknown source"),
        ],
    )
    def test_field_errors(self, api, source, payload, field, message):
        response = post(api, payload)
        assert response.status_code == 400
        assert response["Content-Type"] == "application/problem+json"
        errors = response.json()["errors"]
        assert message in json.dumps(errors[field])
        assert FeedbackItem.objects.count() == 0

    def test_body_over_the_cap_says_so(self, api, source, settings):
        settings.INGEST_MAX_BODY_CHARS = 10_000
        response = post(api, item(1, body="x" * 10_001))
        assert response.status_code == 400
        assert response.json()["errors"]["body"] == [
            "The body is 10001 characters long; the limit is 10000."
        ]
        assert FeedbackItem.objects.count() == 0

    def test_invalid_json(self, api, source):
        response = api.post(
            URL, data='{"external_id": "x", "body": ', content_type="application/json"
        )
        assert response.status_code == 400
        assert "JSON parse error" in response.json()["detail"]

    def test_raw_nul_byte_in_the_document_is_invalid_json(self, api, source):
        response = api.post(
            URL, data=b'{"external_id": "x", "body": "a\x00b"}', content_type="application/json"
        )
        assert response.status_code == 400
        assert FeedbackItem.objects.count() == 0

    def test_list_over_the_limit(self, api, source, capture):
        response = post(api, [item(n) for n in range(1001)])
        assert response.status_code == 400
        assert "at most 1000 items; this one has 1001" in json.dumps(response.json())
        assert FeedbackItem.objects.count() == 0

    def test_empty_list_and_scalar_body(self, api, source):
        assert post(api, []).status_code == 400
        assert post(api, "just a string").status_code == 400

    def test_list_where_every_item_is_rejected_is_400(self, api, source):
        response = post(api, [{"body": "no id"}, {"external_id": "no body"}])
        assert response.status_code == 400
        assert response.json()["rejected"] == 2

    def test_wrong_content_type(self, api, source):
        response = api.post(
            URL, data="external_id=x", content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 415

    def test_missing_key(self, anon_api, source):
        response = post(anon_api, item(1))
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")

    def test_wrong_key(self, anon_api, source):
        anon_api.credentials(HTTP_AUTHORIZATION="Bearer sb_not-a-real-key")
        response = post(anon_api, item(1))
        assert response.status_code == 401
        assert response.json()["detail"] == "Invalid or revoked API key."

    def test_malformed_authorization_header(self, anon_api, source):
        anon_api.credentials(HTTP_AUTHORIZATION="Bearer two parts")
        assert post(anon_api, item(1)).status_code == 401

    def test_key_without_ingest_scope(self, anon_api, source):
        _, raw = apikey_create(name="reader", source=source, scopes=["read"])
        anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        response = post(anon_api, item(1))
        assert response.status_code == 403
        assert "lacks the 'ingest' scope" in response.json()["detail"]
        assert FeedbackItem.objects.count() == 0

    def test_key_cannot_post_to_another_source(self, api, source, other_source):
        response = post(api, item(1, source="reddit"))
        assert response.status_code == 400
        assert "may not post to source 'reddit'" in response.json()["errors"]["source"][0]

    def test_revoked_key_is_refused_even_when_cached(self, anon_api, source):
        from feedback.services import apikey_revoke

        key, raw = apikey_create(name="soon gone", source=source, scopes=["ingest"])
        anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        assert post(anon_api, item(1)).status_code == 201
        apikey_revoke(key=key)
        assert post(anon_api, item(2)).status_code == 401


def test_item_detail_shows_routing_with_read_scope(api, source, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = post(api, item(1)).json()
    response = api.get(created["url"])
    assert response.status_code == 200
    data = response.json()
    assert data["state"] in {"routed", "triage", "noise"}
    # A key never sees a sealed department's score (HR's, here): it would say what an HR
    # case would.
    assert set(data["scores"]) == {"product", "support", "marketing", "noise"}


def test_item_of_another_source_is_not_visible_to_a_key(api, source, other_source):
    other = FeedbackItem.objects.create(source=other_source, external_id="o1", body="hello")
    assert api.get(f"{URL}{other.pk}/").status_code == 404
