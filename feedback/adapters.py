"""Payload adapters: the shapes listening tools and platforms send, mapped to the ingest schema.

Each adapter is a pure function `payload -> list[dict]`: it takes one decoded JSON value as
the platform sends it and returns the ingest payloads it holds (usually one; an X API
response or a Reddit listing may hold several), or raises `AdapterError`. It touches no
database; `feedback_ingest` validates and stores the result like any other post.

| name               | accepts                                                           |
|--------------------|-------------------------------------------------------------------|
| `x_v2`             | X API v2 post envelope `{"data": {...} or [...], "includes": ...}` |
| `reddit_comment`   | Reddit comment: the `t1` thing, its `data`, or a Listing of them   |
| `app_store_review` | App Store Connect `customerReviews` resource, or a Google Play review |
| `web_form`         | a generic web form submission (name, email, message, …)            |

Examples and the field-by-field mapping of each are in docs/connectors.md.
"""

import hashlib
import html
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Adapter = Callable[[Any], list[dict]]


class AdapterError(Exception):
    """The payload is not the shape the adapter expects. `errors` maps the payload's own
    field paths (`data.text`, `comments[0].userComment.text`) to messages."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}

    def as_errors(self) -> dict[str, list[str]]:
        return self.errors or {"non_field_errors": [self.message]}


def _required(obj: dict, key: str, path: str) -> Any:
    value = obj.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise AdapterError(f"{path} is required.", {path: ["This field is required."]})
    return value


def _object(value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        raise AdapterError(f"{path} must be an object.", {path: ["Expected an object."]})
    return value


def _id(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise AdapterError(f"{path} must be a string.", {path: ["Expected a string id."]})
    return str(value).strip()


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _epoch(value: Any, path: str) -> str:
    """Seconds since the epoch (number or numeric string) as an ISO 8601 UTC time."""
    try:
        return datetime.fromtimestamp(float(value), tz=UTC).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        raise AdapterError(
            f"{path} must be seconds since the epoch.", {path: ["Expected a Unix timestamp."]}
        ) from None


def _compact(payload: dict) -> dict:
    """Drop empty optional fields, so validation sees them as absent."""
    out = {k: v for k, v in payload.items() if v not in (None, "", {}, [])}
    for key in ("author", "raw"):
        if key in out:
            out[key] = {k: v for k, v in out[key].items() if v not in (None, "")}
    return out


# --- X (Twitter) API v2 ---------------------------------------------------------------------

# X's pseudo-languages: undetermined, media-only, hashtags-only, cashtags-only, … — none is a
# language, so none is passed on (the router detects the language itself).
_X_NON_LANGUAGES = {"und", "qam", "qct", "qht", "qme", "qst", "zxx", "art"}


def x_v2(payload: Any) -> list[dict]:
    """An X API v2 response (`GET /2/tweets`, search, filtered stream): `data` is one post or
    a list, `includes.users` holds the authors. A bare post object is accepted too."""
    envelope = _object(payload, "payload")
    if "data" in envelope:
        data = envelope["data"]
    elif "id" in envelope and "text" in envelope:
        data = envelope  # a post without its envelope
    else:
        errors = envelope.get("errors")
        detail = f" The response reports errors: {json.dumps(errors)[:300]}" if errors else ""
        raise AdapterError(
            "Expected an X API v2 response with 'data'." + detail,
            {"data": ["This field is required."]},
        )
    includes = envelope.get("includes") if isinstance(envelope.get("includes"), dict) else {}
    users = {
        str(user.get("id")): user
        for user in includes.get("users") or []
        if isinstance(user, dict) and user.get("id")
    }
    if isinstance(data, list):
        if not data:
            raise AdapterError("'data' holds no posts.", {"data": ["The list is empty."]})
        return [_x_post(post, f"data[{i}]", users) for i, post in enumerate(data)]
    return [_x_post(data, "data", users)]


def _x_post(post: Any, path: str, users: dict[str, dict]) -> dict:
    post = _object(post, path)
    post_id = _id(_required(post, "id", f"{path}.id"), f"{path}.id")
    # Posts over 280 characters carry their full text in note_tweet; `text` is cut short.
    note = post.get("note_tweet") if isinstance(post.get("note_tweet"), dict) else {}
    text = note.get("text") or _required(post, "text", f"{path}.text")
    if not isinstance(text, str):
        raise AdapterError(f"{path}.text must be a string.", {f"{path}.text": ["Expected text."]})

    user = users.get(str(post.get("author_id") or ""), {})
    username = _text(user.get("username"))
    metrics = user.get("public_metrics") if isinstance(user.get("public_metrics"), dict) else {}
    followers = metrics.get("followers_count")
    author = None
    if username:
        author = {
            "handle": username,
            "name": _text(user.get("name")),
            "url": f"https://x.com/{username}",
            "followers": followers if isinstance(followers, int) else None,
        }
    elif post.get("author_id"):
        author = {"handle": str(post["author_id"])}  # no `expansions=author_id` in the request

    replied_to = next(
        (
            str(ref.get("id"))
            for ref in post.get("referenced_tweets") or []
            if isinstance(ref, dict) and ref.get("type") == "replied_to" and ref.get("id")
        ),
        "",
    )
    conversation = str(post.get("conversation_id") or "")
    in_reply_to = replied_to or (conversation if conversation and conversation != post_id else "")
    lang = _text(post.get("lang")).lower()

    return _compact(
        {
            "external_id": post_id,
            # The API returns text HTML-escaped (&amp;, &lt;, &gt;); the store keeps plain text.
            "body": html.unescape(text),
            "author": author,
            "url": f"https://x.com/{username}/status/{post_id}"
            if username
            else f"https://x.com/i/web/status/{post_id}",
            "posted_at": post.get("created_at"),
            "language": "" if lang in _X_NON_LANGUAGES else lang,
            "in_reply_to": in_reply_to,
            "raw": {"platform": "x", "post": post, "user": user or None},
        }
    )


# --- Reddit ---------------------------------------------------------------------------------

_REDDIT = "https://www.reddit.com"
_REDDIT_GONE = {"[deleted]", "[removed]"}


def reddit_comment(payload: Any) -> list[dict]:
    """A Reddit comment as the API returns it: the thing `{"kind": "t1", "data": {...}}`,
    its bare `data`, or a Listing of comments (`{"kind": "Listing", "data": {"children":
    [...]}}`; "more" placeholders are skipped)."""
    thing = _object(payload, "payload")
    if thing.get("kind") == "Listing":
        listing = _object(thing.get("data"), "data")
        children = listing.get("children")
        if not isinstance(children, list):
            raise AdapterError(
                "A Listing needs data.children.", {"data.children": ["Expected a list."]}
            )
        comments = [
            _reddit(child.get("data"), f"data.children[{i}].data")
            for i, child in enumerate(children)
            if isinstance(child, dict) and child.get("kind") == "t1"
        ]
        if not comments:
            raise AdapterError(
                "The Listing holds no comments (kind t1).", {"data.children": ["No comments."]}
            )
        return comments
    if "kind" in thing:
        if thing["kind"] != "t1":
            raise AdapterError(
                f"Expected a comment (kind t1), got kind '{thing['kind']}'.",
                {"kind": ["Expected 't1' (a comment)."]},
            )
        return [_reddit(thing.get("data"), "data")]
    return [_reddit(thing, "payload")]


def _reddit(data: Any, path: str) -> dict:
    data = _object(data, path)
    comment_id = _id(_required(data, "id", f"{path}.id"), f"{path}.id")
    # The fullname (t1_…) is Reddit's own unique key across comments and posts.
    fullname = _text(data.get("name")) or f"t1_{comment_id}"
    body = _required(data, "body", f"{path}.body")
    if body in _REDDIT_GONE:
        raise AdapterError(
            f"The comment was {body.strip('[]')}; there is no text to store.",
            {f"{path}.body": [f"The comment is {body}."]},
        )
    author_name = _text(data.get("author"))
    author = None
    if author_name and author_name not in _REDDIT_GONE:
        author = {"handle": author_name, "url": f"{_REDDIT}/user/{author_name}"}
    permalink = _text(data.get("permalink"))
    return _compact(
        {
            "external_id": fullname,
            "body": body,
            "author": author,
            "url": f"{_REDDIT}{permalink}" if permalink.startswith("/") else permalink,
            "posted_at": _epoch(data["created_utc"], f"{path}.created_utc")
            if data.get("created_utc") is not None
            else None,
            "in_reply_to": _text(data.get("parent_id")),
            "raw": {
                "platform": "reddit",
                **{
                    k: data[k]
                    for k in (
                        "subreddit", "subreddit_id", "link_id", "link_title", "parent_id",
                        "score", "permalink", "edited", "author_fullname", "distinguished",
                    )
                    if data.get(k) not in (None, "")
                },
            },
        }
    )  # fmt: skip


# --- App Store / Google Play reviews ----------------------------------------------------------


def app_store_review(payload: Any) -> list[dict]:
    """A store review. Two shapes are recognised:

    - App Store Connect API `customerReviews`: `{"data": {"type": "customerReviews", "id",
      "attributes": {rating, title, body, reviewerNickname, createdDate, territory}}}`, or
      `data` as a list (a page of reviews), or the bare resource;
    - Google Play Developer API review: `{"reviewId", "authorName", "comments":
      [{"userComment": {text, lastModified: {seconds}, starRating, reviewerLanguage, …}}]}`.
    """
    review = _object(payload, "payload")
    if "reviewId" in review:
        return [_google_play(review)]
    data = review.get("data", review)
    if isinstance(data, list):
        if not data:
            raise AdapterError("'data' holds no reviews.", {"data": ["The list is empty."]})
        return [_apple(item, f"data[{i}]") for i, item in enumerate(data)]
    if isinstance(data, dict) and ("attributes" in data or data.get("type") == "customerReviews"):
        return [_apple(data, "data" if "data" in review else "payload")]
    raise AdapterError(
        "Expected an App Store Connect customerReviews resource or a Google Play review.",
        {"non_field_errors": ["Unrecognised review shape: no 'data.attributes' or 'reviewId'."]},
    )


def _apple(resource: Any, path: str) -> dict:
    resource = _object(resource, path)
    review_id = _id(_required(resource, "id", f"{path}.id"), f"{path}.id")
    attributes = _object(resource.get("attributes"), f"{path}.attributes")
    title = _text(attributes.get("title"))
    text = _text(attributes.get("body"))
    if not (title or text):
        raise AdapterError(
            "The review has neither a title nor a body.",
            {f"{path}.attributes.body": ["This field is required."]},
        )
    nickname = _text(attributes.get("reviewerNickname"))
    return _compact(
        {
            "external_id": review_id,
            "body": "\n\n".join(part for part in (title, text) if part),
            "author": {"handle": nickname} if nickname else None,
            "posted_at": attributes.get("createdDate"),
            # Apple gives the storefront (ISO 3166 alpha-3, e.g. GBR), not a language: it
            # goes in raw and the router detects the language from the text.
            "raw": {
                "platform": "app_store",
                "rating": attributes.get("rating"),
                "title": title,
                "territory": attributes.get("territory"),
                "links": resource.get("links"),
            },
        }
    )


def _google_play(review: dict) -> dict:
    review_id = _id(_required(review, "reviewId", "reviewId"), "reviewId")
    comments = review.get("comments")
    user_comment = next(
        (
            c["userComment"]
            for c in comments or []
            if isinstance(c, dict) and isinstance(c.get("userComment"), dict)
        ),
        None,
    )
    if user_comment is None:
        raise AdapterError(
            "The review has no userComment.", {"comments": ["Expected a userComment entry."]}
        )
    text = _required(user_comment, "text", "comments[].userComment.text")
    # Play joins a review's title and text with a tab.
    title, _, rest = text.partition("\t") if "\t" in text else ("", "", text)
    modified = user_comment.get("lastModified")
    seconds = modified.get("seconds") if isinstance(modified, dict) else None
    language = _text(user_comment.get("reviewerLanguage")).replace("_", "-")
    developer_reply = next(
        (
            c["developerComment"].get("text")
            for c in comments
            if isinstance(c, dict) and isinstance(c.get("developerComment"), dict)
        ),
        None,
    )
    author_name = _text(review.get("authorName"))
    return _compact(
        {
            "external_id": review_id,
            "body": "\n\n".join(p for p in (title.strip(), rest.strip()) if p),
            "author": {"handle": author_name} if author_name else None,
            "posted_at": _epoch(seconds, "comments[].userComment.lastModified.seconds")
            if seconds is not None
            else None,
            "language": language,
            "raw": {
                "platform": "google_play",
                "rating": user_comment.get("starRating"),
                "title": title.strip(),
                "app_version": user_comment.get("appVersionName"),
                "device": user_comment.get("device"),
                "android_os_version": user_comment.get("androidOsVersion"),
                "thumbs_up": user_comment.get("thumbsUpCount"),
                "developer_reply": developer_reply,
            },
        }
    )


# --- Web form -------------------------------------------------------------------------------

_WEB_FORM_FIELDS = {"id", "name", "email", "message", "submitted_at", "page_url", "form_id"}


def web_form(payload: Any) -> list[dict]:
    """A web form submission: `message` (required), `name`, `email`, `submitted_at` (ISO
    8601), `page_url`, `form_id`, and optionally `id`. Any other fields are kept in raw.

    Without an `id`, the external id is a digest of form, email, time and message, so the
    same submission re-sent by a retrying webhook is stored once.
    """
    form = _object(payload, "payload")
    message = _required(form, "message", "message")
    if not isinstance(message, str):
        raise AdapterError("message must be text.", {"message": ["Expected a string."]})
    email = _text(form.get("email")).lower()
    if email and ("@" not in email or email.startswith("@") or email.endswith("@")):
        raise AdapterError(
            "email is not an email address.", {"email": ["Enter a valid email address."]}
        )
    name = _text(form.get("name"))
    form_id = _text(str(form.get("form_id") or ""))
    submitted_at = _text(form.get("submitted_at"))
    if form.get("id") not in (None, ""):
        external_id = f"{form_id}:{_id(form['id'], 'id')}" if form_id else _id(form["id"], "id")
    else:
        key = json.dumps([form_id, email, submitted_at, message.strip()], ensure_ascii=False)
        external_id = "form:" + hashlib.sha256(key.encode()).hexdigest()[:40]
    extra = {k: v for k, v in form.items() if k not in _WEB_FORM_FIELDS}
    # The email is the person's handle; a name alone identifies no one (two "Sam"s would
    # become one author), so it is kept in raw instead.
    author = {"handle": email, "name": name} if email else None
    return [
        _compact(
            {
                "external_id": external_id,
                "body": message,
                "author": author,
                "url": _text(form.get("page_url")),
                "posted_at": submitted_at,
                "raw": {
                    "platform": "web_form",
                    "form_id": form_id,
                    "name": "" if email else name,
                    "fields": extra or None,
                },
            }
        )
    ]


ADAPTERS: dict[str, Adapter] = {
    "x_v2": x_v2,
    "reddit_comment": reddit_comment,
    "app_store_review": app_store_review,
    "web_form": web_form,
}


def payload_adapt(*, adapter: str, payload: Any) -> list[dict]:
    """Run the named adapter. Raises KeyError for an unknown name, AdapterError for a
    payload it cannot map."""
    return ADAPTERS[adapter](payload)


def payload_is_collection(payload: Any) -> bool:
    """Whether a payload is a platform's list shape (X `data: [...]`, an App Store page, a
    Reddit Listing), which is answered as a list even when it holds one post."""
    return isinstance(payload, dict) and (
        isinstance(payload.get("data"), list) or payload.get("kind") == "Listing"
    )
