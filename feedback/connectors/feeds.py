"""RSS and Atom feeds: claim the due ones, fetch with a conditional GET, ingest new entries.

Scheduling and the claim. `Feed.next_poll_at` says when a feed is due and doubles as its
lock. `feeds_claim_due` (the once-a-minute scheduler) moves each due feed's `next_poll_at`
to a lease `FEED_LEASE` ahead, under `SELECT … FOR UPDATE SKIP LOCKED`, and hands that
value to the poll task as a token; `feed_claim` (the poll task) takes the feed only if
`next_poll_at` still equals the token, moving it once more. So a feed is polled by one worker
at a time, a duplicate or redelivered task finds the token gone and does nothing, and a
worker that dies mid-poll leaves the feed due again when the lease runs out. No transaction
is held open during the network fetch.

The fetch goes through config.outbound: the host is resolved once, and private, loopback
and metadata addresses are refused, on every redirect too, unless
OUTBOUND_ALLOW_PRIVATE_ADDRESSES. feedparser only parses the bytes fetched, never a URL.

Failures (HTTP error, timeout, a refused address, an unreadable body) are recorded on the
feed (`last_error`, `consecutive_failures`) and push `next_poll_at` back exponentially; they
never raise, so one broken feed cannot stop the others. Database errors do raise: the lease
then expires and the feed is polled again.
"""

import hashlib
import io
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config import outbound
from feedback.connectors.html import html_to_text
from feedback.models import Feed
from feedback.services import IngestOutcome, feedback_ingest
from feedback.validation import MAX_FUTURE

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0  # seconds to open the connection
READ_TIMEOUT = 20.0  # seconds of silence between two reads
# A server dripping bytes slowly never trips the read timeout; this bounds the whole fetch.
FETCH_DEADLINE = 60.0
MAX_FEED_BYTES = 10 * 1024 * 1024  # decoded bytes: also a guard against compression bombs
# Must exceed the poll task's hard time limit (see feedback.tasks.poll_feed), or a slow poll
# could be claimed again while it still runs.
FEED_LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=6)
CLAIM_BATCH = 500  # feeds claimed per scheduler tick; the rest wait one more minute
INGEST_CHUNK = 500
USER_AGENT = "Switchboard feed reader/1.0"
ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)
# Fields of an entry copied into `raw`, and how much of its HTML (the rest is in `body`).
_RAW_FIELDS = ("id", "title", "link", "author", "published", "updated", "comments")
_RAW_SUMMARY_CHARS = 8_000
_TRUNCATION_MARK = "…"


class FeedError(Exception):
    """A feed could not be fetched or read. The message is shown to admins on the feed."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


@dataclass(frozen=True)
class FeedPollResult:
    feed_id: int
    status: str  # a Feed.Status value
    http_status: int | None = None
    entries: int = 0  # entries in the document
    created: int = 0
    duplicates: int = 0
    rejected: int = 0
    error: str = ""
    rejections: list[str] = field(default_factory=list)


# --- claiming -------------------------------------------------------------------------------


def feeds_claim_due(*, now: datetime | None = None) -> tuple[list[int], datetime]:
    """Claim the active feeds that are due: returns their ids and the lease token.

    Locks the due rows with SKIP LOCKED (a concurrent scheduler claims the others, never the
    same ones) and moves their `next_poll_at` to the lease, in one short transaction.
    """
    now = now or timezone.now()
    lease = now + FEED_LEASE
    with transaction.atomic():
        ids = list(
            Feed.objects.filter(active=True, source__active=True, next_poll_at__lte=now)
            .order_by("next_poll_at", "pk")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)[:CLAIM_BATCH]
        )
        if ids:
            Feed.objects.filter(pk__in=ids).update(next_poll_at=lease)
    return ids, lease


def feed_claim(
    *, feed_id: int, lease: datetime | None = None, now: datetime | None = None
) -> Feed | None:
    """Take the feed for polling, or None if another worker has it or it is not due.

    With `lease` (the token from `feeds_claim_due`), the feed is taken only if it still holds
    that token; without, only if it is due. Either way `next_poll_at` moves to a fresh lease
    in the same conditional UPDATE, so exactly one caller wins.
    """
    now = now or timezone.now()
    candidates = Feed.objects.filter(pk=feed_id, active=True)
    if lease is not None:
        candidates = candidates.filter(next_poll_at=lease)
    else:
        candidates = candidates.filter(next_poll_at__lte=now)
    if not candidates.update(next_poll_at=now + FEED_LEASE):
        return None
    return Feed.objects.select_related("source").get(pk=feed_id)


# --- polling --------------------------------------------------------------------------------


def _fetch(feed: Feed) -> outbound.OutboundResponse:
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.last_modified:
        headers["If-Modified-Since"] = feed.last_modified
    try:
        # config.outbound resolves the feed's host once, refuses private and metadata
        # addresses (on every redirect too) and connects to the address it checked.
        response = outbound.outbound_request(
            method="GET",
            url=feed.url,
            headers=headers,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            deadline=FETCH_DEADLINE,
            max_bytes=MAX_FEED_BYTES,
        )
    except (outbound.AddressRefused, outbound.ResponseTooLarge) as exc:
        raise FeedError(_short(exc)) from exc  # "Refused: 10.0.0.1 is a private address."
    except outbound.OutboundTimeout as exc:
        raise FeedError(f"Timed out: {_short(exc)}") from exc
    except outbound.OutboundError as exc:
        raise FeedError(f"Could not fetch the feed: {_short(exc)}") from exc
    status = response.status
    if status != 304 and not 200 <= status < 300:
        reason = f" {response.reason}" if response.reason else ""
        raise FeedError(f"HTTP {status}{reason}", http_status=status)
    return response


def _parse(response: outbound.OutboundResponse, feed_url: str) -> Any:
    # A BytesIO, never the bytes themselves: given a string, feedparser may treat it as a
    # file name or URL and read it, which a hostile feed body must not be able to trigger.
    # No content-location on purpose: with one, feedparser resolves an RSS guid such as
    # "12345" (isPermaLink defaulting to true) against the feed's address, so the post's
    # external_id would change whenever the feed moves. Links are resolved in the mapping.
    parsed = feedparser.parse(
        io.BytesIO(response.content),
        response_headers={"content-type": response.headers.get("Content-Type", "")},
    )
    if not parsed.entries:
        if parsed.bozo:
            raise FeedError(
                f"Not a readable feed: {_short(parsed.get('bozo_exception', 'parse error'))}",
                http_status=response.status,
            )
        if not parsed.version:
            raise FeedError("Not an RSS or Atom feed.", http_status=response.status)
    elif parsed.bozo:
        # Entries came through despite the error (a wrong charset declaration, stray markup):
        # keep them, and say why the feed was not clean.
        logger.info("feed %s is malformed but readable: %s", feed_url, parsed.bozo_exception)
    return parsed


def feed_poll(*, feed: Feed) -> FeedPollResult:
    """Fetch `feed`, ingest its entries and record the outcome on the feed.

    The caller should hold the feed's claim (`feed_claim`) so that no other worker polls it
    at the same time. Entries already stored come back from `feedback_ingest` as duplicates
    and change nothing. A 304 changes nothing but `last_polled_at` and `next_poll_at`. A
    broken feed is recorded, not raised. Side effects: posts stored, routing enqueued after
    commit.
    """
    now = timezone.now()
    try:
        response = _fetch(feed)
        if response.status == 304:
            return _record(
                feed, now=now, result=FeedPollResult(feed.pk, Feed.Status.NOT_MODIFIED, 304)
            )
        parsed = _parse(response, feed.url)
        entries = [
            _entry_payload(
                entry, parsed=parsed, feed=feed, base_url=response.url or feed.url, now=now
            )
            for entry in parsed.entries
        ]
    except FeedError as exc:
        result = FeedPollResult(feed.pk, Feed.Status.ERROR, exc.http_status, error=str(exc))
        return _record(feed, now=now, result=result)
    except Exception as exc:
        # A bug meeting an odd feed: record it on the feed, where an admin looks, and in the
        # log with its traceback; the other feeds are unaffected either way.
        logger.exception("unexpected error polling feed %s", feed.pk)
        result = FeedPollResult(feed.pk, Feed.Status.ERROR, error=f"Unexpected error: {exc!r}")
        return _record(feed, now=now, result=result)

    created = duplicates = rejected = 0
    rejections: list[str] = []
    # Entries posted before the feed was added are history (no SLA clock, no
    # notifications), as are undated ones on the first successful poll: otherwise adding a
    # feed would open a burst of already-overdue cases for posts nobody expected.
    by_backfill: dict[bool, list[dict]] = {False: [], True: []}
    for entry in entries:
        if isinstance(entry, str):  # could not be mapped; the string says why
            rejected += 1
            rejections.append(entry)
        else:
            by_backfill[_is_history(entry, feed)].append(entry)
    for backfill, payloads in by_backfill.items():
        for start in range(0, len(payloads), INGEST_CHUNK):
            chunk = payloads[start : start + INGEST_CHUNK]
            outcomes = feedback_ingest(
                payloads=chunk, default_source=feed.source, backfill=backfill
            )
            for payload, outcome in zip(chunk, outcomes, strict=True):
                if outcome.status == "created":
                    created += 1
                elif outcome.status == "duplicate":
                    duplicates += 1
                else:
                    rejected += 1
                    rejections.append(f"entry '{payload['external_id']}': {_errors_text(outcome)}")

    result = FeedPollResult(
        feed.pk,
        Feed.Status.OK,
        response.status,
        entries=len(entries),
        created=created,
        duplicates=duplicates,
        rejected=rejected,
        rejections=rejections,
    )
    return _record(
        feed,
        now=now,
        result=result,
        etag=response.headers.get("ETag", ""),
        last_modified=response.headers.get("Last-Modified", ""),
    )


def _record(
    feed: Feed, *, now: datetime, result: FeedPollResult, etag: str = "", last_modified: str = ""
) -> FeedPollResult:
    """Write the poll's outcome to the feed (the caller holds the claim, so no one else
    writes these fields meanwhile)."""
    feed.last_polled_at = now
    feed.last_status = result.status
    if result.status == Feed.Status.ERROR:
        feed.consecutive_failures += 1
        feed.last_error = result.error
        # 2, 4, 8 … intervals, capped: a feed that is down is asked less and less often,
        # but comes back on its own once it works again.
        delay = timedelta(seconds=feed.poll_interval) * (2 ** min(feed.consecutive_failures, 16))
        feed.next_poll_at = now + min(
            delay, max(MAX_BACKOFF, timedelta(seconds=feed.poll_interval))
        )
        logger.warning(
            "feed %s (%s) failed %d time(s) in a row: %s",
            feed.pk, feed.url, feed.consecutive_failures, result.error,
        )  # fmt: skip
    else:
        feed.consecutive_failures = 0
        feed.last_success_at = now
        feed.next_poll_at = now + timedelta(seconds=feed.poll_interval)
        feed.last_error = ""
        if result.rejected:
            feed.last_error = (
                f"{result.rejected} of {result.entries} entries rejected: "
                + "; ".join(result.rejections[:5])
                + (" …" if len(result.rejections) > 5 else "")
            )
            logger.warning("feed %s: %s", feed.pk, feed.last_error)
        if result.status == Feed.Status.OK:
            # Validators are stored only once the entries are safely in: storing them
            # first could turn a failed ingest into a 304 that hides those entries forever.
            # A validator too long for its column is dropped, not cut: a cut one never
            # matches, so it would only cost the server a comparison.
            feed.etag = etag if len(etag) <= 512 else ""
            feed.last_modified = last_modified if len(last_modified) <= 128 else ""
    feed.save(
        update_fields=[
            "last_polled_at", "last_status", "consecutive_failures", "last_error",
            "next_poll_at", "last_success_at", "etag", "last_modified",
        ]
    )  # fmt: skip
    return result


# --- mapping an entry -----------------------------------------------------------------------


def _entry_payload(
    entry: Any, *, parsed: Any, feed: Feed, base_url: str, now: datetime
) -> dict | str:
    """The ingest payload for one feed entry, or a message saying why it has none."""
    try:
        return feed_entry_to_payload(entry, feed_info=parsed.feed, base_url=base_url, now=now)
    except ValueError as exc:
        return str(exc)
    except Exception as exc:  # one odd entry must not lose the rest of the feed
        logger.warning("feed %s: entry could not be mapped", feed.pk, exc_info=True)
        return f"entry '{entry.get('id') or entry.get('link') or '?'}': {exc!r}"


def feed_entry_to_payload(
    entry: Any, *, feed_info: Any, base_url: str = "", now: datetime | None = None
) -> dict:
    """Map one feedparser entry to the ingest schema. Raises ValueError if it has no id.

    `base_url` (where the feed was served from) resolves relative links."""
    now = now or timezone.now()
    external_id = _text(entry.get("id")) or _text(entry.get("link"))
    if not external_id:
        title = _text(entry.get("title"))[:60]
        raise ValueError(f"entry '{title}': has neither an id nor a link.")
    if len(external_id) > 255:
        # Some feeds use long URLs as ids; a digest keeps the key stable and within the column.
        external_id = "sha256:" + hashlib.sha256(external_id.encode()).hexdigest()

    title = _text(entry.get("title"))
    text = _entry_text(entry)
    # Short-form feeds (microblogs, comment feeds) often repeat the text as the title.
    if title and (title == text or text.startswith(title.rstrip("…."))):
        title = ""
    body = "\n\n".join(part for part in (title, text) if part)
    # dict.get, not entry.get: feedparser's own get() answers "updated" with "published"
    # when the entry has no update time (with a deprecation warning).
    raw: dict[str, Any] = {k: _text(dict.get(entry, k)) for k in _RAW_FIELDS if dict.get(entry, k)}
    cap = settings.INGEST_MAX_BODY_CHARS
    if len(body) > cap:
        # A long article is still feedback worth routing: keep its start rather than
        # having validation reject the whole entry on every poll.
        body = body[: cap - len(_TRUNCATION_MARK)].rstrip() + _TRUNCATION_MARK
        raw["truncated"] = True

    payload: dict[str, Any] = {"external_id": external_id, "body": body}
    author = _entry_author(entry, base_url)
    if author:
        payload["author"] = author
    link = _absolute(_text(entry.get("link")), base_url)
    if _is_http_url(link):
        payload["url"] = link
    posted = _entry_time(entry)
    if posted and posted <= now + MAX_FUTURE:
        payload["posted_at"] = posted.isoformat()
    language = _entry_language(entry, feed_info)
    if language:
        payload["language"] = language

    tags = [t.get("term") for t in entry.get("tags") or [] if t.get("term")]
    if tags:
        raw["tags"] = tags[:50]
    summary = _text(entry.get("summary"))
    if summary:
        raw["summary"] = summary[:_RAW_SUMMARY_CHARS]
    feed_title = _text(feed_info.get("title"))
    if feed_title:
        raw["feed_title"] = feed_title
    payload["raw"] = raw
    return payload


def _entry_text(entry: Any) -> str:
    """The entry's text: its full content when present, else its summary; HTML made plain."""
    candidates = []
    for content in entry.get("content") or []:
        candidates.append((content.get("value") or "", content.get("type") or ""))
    detail = entry.get("summary_detail") or {}
    if entry.get("summary"):
        candidates.append((entry.get("summary"), detail.get("type") or "text/html"))
    for value, kind in candidates:
        text = value.strip() if kind == "text/plain" else html_to_text(value)
        if text:
            return text
    return ""


def _entry_author(entry: Any, base_url: str) -> dict | None:
    detail = entry.get("author_detail") or {}
    name = _text(detail.get("name")) or _text(entry.get("author"))
    email = _text(detail.get("email"))
    handle = (name or email)[:255]
    if not handle:
        return None
    author: dict[str, Any] = {"handle": handle}
    if name and name != handle:
        author["name"] = name[:255]
    href = _absolute(_text(detail.get("href")), base_url)
    if _is_http_url(href):
        author["url"] = href
    return author


def _entry_time(entry: Any) -> datetime | None:
    # feedparser normalizes every date format it knows to a UTC struct_time.
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = dict.get(entry, key)
        if value:
            try:
                return datetime(*value[:6], tzinfo=UTC)
            except (TypeError, ValueError):
                continue
    return None


def _entry_language(entry: Any, feed_info: Any) -> str:
    for detail in [*(entry.get("content") or []), entry.get("summary_detail") or {}]:
        if detail.get("language"):
            return _language(detail["language"])
    return _language(feed_info.get("language"))


def _language(value: Any) -> str:
    # Feeds write "en-us", "en_GB" or junk; only a well-formed tag is passed on (the router
    # detects the language itself when none is given).
    text = _text(value).replace("_", "-")
    parts = text.split("-")
    if 2 <= len(parts[0]) <= 3 and parts[0].isalpha() and all(p.isalnum() for p in parts[1:]):
        return text[:16]
    return ""


def _is_history(payload: dict, feed: Feed) -> bool:
    posted = payload.get("posted_at")
    if posted:
        return datetime.fromisoformat(posted) < feed.created_at
    return feed.last_success_at is None


def _absolute(url: str, base_url: str) -> str:
    return urljoin(base_url, url) if url and base_url else url


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value) if value else None
    return bool(parts and parts.scheme in ("http", "https") and parts.netloc) and len(value) <= 2000


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _short(value: Any, limit: int = 300) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _errors_text(outcome: IngestOutcome) -> str:
    parts = []
    for name, messages in (outcome.errors or {}).items():
        if isinstance(messages, dict):  # nested author errors
            messages = [f"{sub}: {' '.join(m)}" for sub, m in messages.items()]
        parts.append(f"{name}: {' '.join(messages)}")
    return "; ".join(parts)
