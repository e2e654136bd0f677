"""Payload adapters (X API v2, Reddit, App Store / Google Play, web form) and
POST /api/v1/ingest/<adapter>/."""

import copy
import json

import pytest

from feedback.adapters import ADAPTERS, AdapterError
from feedback.models import FeedbackItem
from feedback.services import apikey_create
from feedback.validation import entry_validate

X_POST = {
    "data": {
        "id": "1854201938475620352",
        "text": "@AcmeHelp my order #8841 still hasn&#39;t shipped &amp; nobody answers &gt;:(",
        "author_id": "2244994945",
        "created_at": "2026-11-06T15:02:11.000Z",
        "lang": "en",
        "conversation_id": "1854199001122334455",
        "referenced_tweets": [{"type": "replied_to", "id": "1854200112233445566"}],
        "in_reply_to_user_id": "783214",
        "public_metrics": {"retweet_count": 2, "reply_count": 1, "like_count": 9},
    },
    "includes": {
        "users": [
            {
                "id": "2244994945",
                "username": "dana_k",
                "name": "Dana K.",
                "public_metrics": {"followers_count": 1843, "following_count": 210},
            }
        ]
    },
}

X_SEARCH = {
    "data": [
        {
            "id": "1854300000000000001",
            "text": "Loving the new recipes this week #acme",
            "author_id": "11",
            "created_at": "2026-11-06T16:00:00.000Z",
            "lang": "en",
            "conversation_id": "1854300000000000001",
        },
        {
            "id": "1854300000000000002",
            "text": "Short version of a long post…",
            "note_tweet": {"text": "Short version of a long post, and here is the rest of it."},
            "author_id": "12",
            "created_at": "2026-11-06T16:05:00.000Z",
            "lang": "und",
            "conversation_id": "1854300000000000001",
        },
    ],
    "includes": {"users": [{"id": "11", "username": "chef_sam", "name": "Sam"}]},
    "meta": {"result_count": 2, "newest_id": "1854300000000000002"},
}

REDDIT_COMMENT = {
    "kind": "t1",
    "data": {
        "id": "k9x2abc",
        "name": "t1_k9x2abc",
        "body": "Their support told me to reinstall. Didn't help, the app still crashes on launch.",
        "author": "throwaway_8841",
        "author_fullname": "t2_5x9d1",
        "permalink": "/r/AcmeApp/comments/1gk2p3q/app_crashes_on_launch/k9x2abc/",
        "created_utc": 1730905331.0,
        "parent_id": "t3_1gk2p3q",
        "link_id": "t3_1gk2p3q",
        "link_title": "App crashes on launch",
        "subreddit": "AcmeApp",
        "subreddit_id": "t5_2abcd",
        "score": 14,
        "edited": False,
    },
}

APPLE_REVIEW = {
    "data": {
        "type": "customerReviews",
        "id": "00000030-8a3c-4d2e-9b1f-2c6d7e8f9a0b",
        "attributes": {
            "rating": 2,
            "title": "Checkout keeps failing",
            "body": "Every time I pay with Apple Pay the app freezes. Please fix!",
            "reviewerNickname": "GreenTea77",
            "createdDate": "2026-11-05T09:12:33-08:00",
            "territory": "GBR",
        },
        "relationships": {"response": {"links": {"related": "https://api.example/response"}}},
        "links": {"self": "https://api.appstoreconnect.apple.com/v1/customerReviews/00000030"},
    },
    "links": {"self": "https://api.appstoreconnect.apple.com/v1/customerReviews/00000030"},
}

GOOGLE_REVIEW = {
    "reviewId": "gp:AOqpTOH1xYz-3k2",
    "authorName": "Maria Santos",
    "comments": [
        {
            "userComment": {
                "text": "Bom app\tMas as notificações chegam atrasadas.",
                "lastModified": {"seconds": "1730800000", "nanos": 0},
                "starRating": 3,
                "reviewerLanguage": "pt_BR",
                "device": "a52q",
                "androidOsVersion": 34,
                "appVersionCode": 4021,
                "appVersionName": "4.2.1",
                "thumbsUpCount": 4,
            }
        },
        {
            "developerComment": {
                "text": "Obrigado! Estamos a corrigir.",
                "lastModified": {"seconds": "1730900000"},
            }
        },
    ],
}

WEB_FORM = {
    "name": "Priya Shah",
    "email": "Priya.Shah@example.com",
    "message": "Do you have any openings for delivery drivers in Leeds?",
    "submitted_at": "2026-11-06T10:30:00+00:00",
    "page_url": "https://acme.example/contact",
    "form_id": "contact-v2",
    "topic": "careers",
}

SAMPLES = {
    "x_v2": X_POST,
    "reddit_comment": REDDIT_COMMENT,
    "app_store_review": APPLE_REVIEW,
    "web_form": WEB_FORM,
}


def adapt(name, payload):
    return ADAPTERS[name](copy.deepcopy(payload))


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_every_adapter_output_passes_ingest_validation(name):
    for payload in adapt(name, SAMPLES[name]):
        entry, errors = entry_validate(payload)
        assert errors == {}, errors
        assert entry.external_id and entry.body


class TestX:
    def test_envelope_maps_author_from_includes_reply_and_url(self):
        [post] = adapt("x_v2", X_POST)

        assert post["external_id"] == "1854201938475620352"
        # The API escapes &, < and > in text; the store keeps plain text.
        assert post["body"] == "@AcmeHelp my order #8841 still hasn't shipped & nobody answers >:("
        assert post["author"] == {
            "handle": "dana_k",
            "name": "Dana K.",
            "url": "https://x.com/dana_k",
            "followers": 1843,
        }
        assert post["url"] == "https://x.com/dana_k/status/1854201938475620352"
        assert post["posted_at"] == "2026-11-06T15:02:11.000Z"
        assert post["language"] == "en"
        assert post["in_reply_to"] == "1854200112233445566"
        assert post["raw"]["post"]["conversation_id"] == "1854199001122334455"

    def test_list_of_posts_uses_note_tweet_conversation_and_unknown_authors(self):
        first, second = adapt("x_v2", X_SEARCH)

        assert first["author"]["handle"] == "chef_sam" and "in_reply_to" not in first
        assert second["body"] == "Short version of a long post, and here is the rest of it."
        assert second["author"] == {"handle": "12"}  # not in includes.users
        assert second["url"] == "https://x.com/i/web/status/1854300000000000002"
        assert second["in_reply_to"] == "1854300000000000001"  # the conversation's root
        assert "language" not in second  # "und" is not a language

    def test_a_bare_post_is_accepted(self):
        [post] = adapt("x_v2", X_POST["data"])
        assert post["external_id"] == "1854201938475620352" and post["author"]["handle"]

    def test_missing_text_is_a_field_error(self):
        payload = copy.deepcopy(X_POST)
        del payload["data"]["text"]
        with pytest.raises(AdapterError) as caught:
            adapt("x_v2", payload)
        assert caught.value.errors == {"data.text": ["This field is required."]}

    def test_error_only_response_says_so(self):
        payload = {"errors": [{"title": "Not Found Error", "detail": "Could not find tweet"}]}
        with pytest.raises(AdapterError, match="Not Found Error"):
            adapt("x_v2", payload)


class TestReddit:
    def test_comment_thing(self):
        [post] = adapt("reddit_comment", REDDIT_COMMENT)

        assert post["external_id"] == "t1_k9x2abc"
        assert post["body"].startswith("Their support told me to reinstall.")
        assert post["author"] == {
            "handle": "throwaway_8841",
            "url": "https://www.reddit.com/user/throwaway_8841",
        }
        assert post["url"] == (
            "https://www.reddit.com/r/AcmeApp/comments/1gk2p3q/app_crashes_on_launch/k9x2abc/"
        )
        assert post["posted_at"] == "2024-11-06T15:02:11+00:00"
        assert post["in_reply_to"] == "t3_1gk2p3q"
        assert post["raw"]["subreddit"] == "AcmeApp" and post["raw"]["score"] == 14

    def test_listing_skips_more_and_deleted_authors_have_no_author(self):
        deleted = copy.deepcopy(REDDIT_COMMENT)
        deleted["data"].update(id="k9x2abd", name="t1_k9x2abd", author="[deleted]")
        listing = {
            "kind": "Listing",
            "data": {"children": [REDDIT_COMMENT, deleted, {"kind": "more", "data": {"count": 3}}]},
        }

        first, second = adapt("reddit_comment", listing)

        assert first["external_id"] == "t1_k9x2abc"
        assert second["external_id"] == "t1_k9x2abd" and "author" not in second

    def test_removed_comment_and_other_kinds_are_refused(self):
        removed = copy.deepcopy(REDDIT_COMMENT)
        removed["data"]["body"] = "[removed]"
        with pytest.raises(AdapterError, match="removed"):
            adapt("reddit_comment", removed)
        with pytest.raises(AdapterError, match="kind 't3'"):
            adapt("reddit_comment", {"kind": "t3", "data": {}})


class TestAppStore:
    def test_apple_customer_review(self):
        [post] = adapt("app_store_review", APPLE_REVIEW)

        assert post["external_id"] == "00000030-8a3c-4d2e-9b1f-2c6d7e8f9a0b"
        assert post["body"] == (
            "Checkout keeps failing\n\nEvery time I pay with Apple Pay the app freezes. Please fix!"
        )
        assert post["author"] == {"handle": "GreenTea77"}
        assert post["posted_at"] == "2026-11-05T09:12:33-08:00"
        assert post["raw"]["rating"] == 2 and post["raw"]["territory"] == "GBR"
        assert "language" not in post  # a territory is not a language

    def test_apple_page_of_reviews(self):
        second = copy.deepcopy(APPLE_REVIEW["data"])
        second["id"] = "00000031"
        posts = adapt("app_store_review", {"data": [APPLE_REVIEW["data"], second]})
        assert [p["external_id"] for p in posts] == [APPLE_REVIEW["data"]["id"], "00000031"]

    def test_google_play_review(self):
        [post] = adapt("app_store_review", GOOGLE_REVIEW)

        assert post["external_id"] == "gp:AOqpTOH1xYz-3k2"
        assert post["body"] == "Bom app\n\nMas as notificações chegam atrasadas."
        assert post["author"] == {"handle": "Maria Santos"}
        assert post["language"] == "pt-BR"
        assert post["posted_at"] == "2024-11-05T09:46:40+00:00"
        assert post["raw"]["rating"] == 3 and post["raw"]["app_version"] == "4.2.1"
        assert post["raw"]["developer_reply"] == "Obrigado! Estamos a corrigir."

    def test_unknown_shape_is_refused(self):
        with pytest.raises(AdapterError, match="customerReviews"):
            adapt("app_store_review", {"stars": 5, "text": "great"})


class TestWebForm:
    def test_submission_maps_email_to_handle_and_keeps_extra_fields(self):
        [post] = adapt("web_form", WEB_FORM)

        assert post["body"] == WEB_FORM["message"]
        assert post["author"] == {"handle": "priya.shah@example.com", "name": "Priya Shah"}
        assert post["url"] == "https://acme.example/contact"
        assert post["posted_at"] == "2026-11-06T10:30:00+00:00"
        assert post["raw"]["form_id"] == "contact-v2"
        assert post["raw"]["fields"] == {"topic": "careers"}

    def test_same_submission_gets_the_same_id_and_a_given_id_is_used(self):
        assert adapt("web_form", WEB_FORM)[0]["external_id"].startswith("form:")
        assert adapt("web_form", WEB_FORM) == adapt("web_form", WEB_FORM)
        changed = {**WEB_FORM, "message": "Another question"}
        assert (
            adapt("web_form", changed)[0]["external_id"]
            != adapt("web_form", WEB_FORM)[0]["external_id"]
        )
        assert adapt("web_form", {**WEB_FORM, "id": 77})[0]["external_id"] == "contact-v2:77"

    def test_anonymous_submission_has_no_author(self):
        [post] = adapt("web_form", {"message": "Love the app", "name": "Sam"})
        assert "author" not in post and post["raw"]["name"] == "Sam"

    def test_missing_message_and_bad_email_are_field_errors(self):
        with pytest.raises(AdapterError) as caught:
            adapt("web_form", {"name": "Priya", "email": "priya@example.com"})
        assert caught.value.errors == {"message": ["This field is required."]}
        with pytest.raises(AdapterError) as caught:
            adapt("web_form", {"message": "hi", "email": "not-an-address"})
        assert caught.value.errors == {"email": ["Enter a valid email address."]}


# --- the endpoint ---------------------------------------------------------------------------


def post_to(client, adapter, data, **extra):
    return client.post(
        f"/api/v1/ingest/{adapter}/",
        data=json.dumps(data),
        content_type="application/json",
        **extra,
    )


class TestEndpoint:
    def test_x_envelope_is_stored_and_answers_like_the_feedback_endpoint(self, api, source):
        response = post_to(api, "x_v2", X_POST)

        assert response.status_code == 201, response.content
        body = response.json()
        assert body["status"] == "created" and body["index"] == 0
        item = FeedbackItem.objects.get(pk=body["id"])
        assert body["url"].endswith(f"/api/v1/feedback/{item.pk}/")
        assert item.source == source and item.author.handle == "dana_k"
        assert item.author.followers == 1843 and item.in_reply_to == "1854200112233445566"

    def test_repeat_is_a_duplicate(self, api):
        assert post_to(api, "reddit_comment", REDDIT_COMMENT).status_code == 201
        again = post_to(api, "reddit_comment", REDDIT_COMMENT)
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        assert FeedbackItem.objects.count() == 1

    def test_a_list_response_holds_a_result_per_post(self, api):
        response = post_to(api, "x_v2", X_SEARCH)

        assert response.status_code == 201
        data = response.json()
        assert (data["created"], data["duplicate"], data["rejected"]) == (2, 0, 0)
        assert [r["index"] for r in data["results"]] == [0, 1]

    def test_a_list_of_payloads_rejects_only_the_bad_ones(self, api):
        response = post_to(api, "web_form", [WEB_FORM, {"name": "no message"}, {"message": "hi"}])

        assert response.status_code == 201
        results = response.json()["results"]
        assert [r["status"] for r in results] == ["created", "rejected", "created"]
        assert results[1]["errors"] == {"message": ["This field is required."]}
        assert FeedbackItem.objects.count() == 2

    def test_adapter_error_is_a_400_problem_with_field_messages(self, api):
        response = post_to(api, "app_store_review", {"stars": 5})

        assert response.status_code == 400
        assert response["Content-Type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == 400 and "non_field_errors" in problem["errors"]

    def test_payload_that_fails_ingest_validation_is_a_400(self, api):
        response = post_to(api, "web_form", {**WEB_FORM, "page_url": "javascript:alert(1)"})
        assert response.status_code == 400
        assert response.json()["errors"] == {"url": ["Enter a valid http(s) URL."]}

    @pytest.mark.parametrize("data", ["just a string", 42, None, []])
    def test_not_an_object_is_a_400_never_a_500(self, api, data):
        assert post_to(api, "x_v2", data).status_code == 400

    @pytest.mark.parametrize(
        "data",
        [{"data": "x"}, {"data": [1, 2]}, {"data": {"id": [], "text": {}}}, {"kind": "Listing"}],
    )
    def test_odd_shapes_are_400s(self, api, data):
        for adapter in ADAPTERS:
            response = post_to(api, adapter, data)
            assert response.status_code == 400, (adapter, data, response.content)

    def test_unknown_adapter_is_a_404_problem(self, api):
        response = post_to(api, "myspace", {"a": 1})

        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
        assert (
            "Known adapters: app_store_review, reddit_comment, web_form, x_v2"
            in (response.json()["detail"])
        )

    def test_too_many_posts_are_refused(self, api, settings):
        settings.INGEST_MAX_ITEMS = 1
        response = post_to(api, "x_v2", X_SEARCH)
        assert response.status_code == 400 and not FeedbackItem.objects.exists()

    def test_needs_an_api_key_with_the_ingest_scope(self, anon_api, source):
        assert post_to(anon_api, "x_v2", X_POST).status_code == 401
        _, read_only = apikey_create(name="reader", source=source, scopes=["read"])
        anon_api.credentials(HTTP_AUTHORIZATION=f"Bearer {read_only}")
        assert post_to(anon_api, "x_v2", X_POST).status_code == 403
        assert not FeedbackItem.objects.exists()
