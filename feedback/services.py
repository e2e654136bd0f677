"""Everything that changes the feedback store: ingest and API keys."""

import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from django.db import connection, transaction
from django.utils import timezone

from config import metrics
from feedback.models import ApiKey, Source
from feedback.principals import KEY_PREFIX, forget_key, key_digest
from feedback.validation import CleanEntry, entry_validate
from routing.dispatch import routing_enqueue_on_commit

Status = Literal["created", "duplicate", "rejected"]


@dataclass(frozen=True)
class IngestOutcome:
    index: int
    status: Status
    item_id: int | None = None
    errors: dict | None = None


# One INSERT for the whole batch: unnest() turns the column arrays back into rows, and
# ON CONFLICT DO NOTHING RETURNING tells exactly which rows this statement created, even
# when another request inserts the same external_id at the same moment.
_INSERT_ITEMS = """
INSERT INTO feedback_feedbackitem (
    source_id, external_id, url, author_id, body, posted_at, received_at, language, raw,
    in_reply_to, backfill, state, error, routing_attempts, scores, priority, intents, tags,
    model_version, sentiment_label
)
SELECT s, e, u, a, b, p, %(now)s, l, r::jsonb, i, %(backfill)s, 'received', '', 0, '{}'::jsonb,
       'normal', '{}', '{}', '', ''
FROM unnest(%(source)s::bigint[], %(external_id)s::text[], %(url)s::text[],
            %(author)s::bigint[], %(body)s::text[], %(posted_at)s::timestamptz[],
            %(language)s::text[], %(raw)s::text[], %(in_reply_to)s::text[])
     AS t(s, e, u, a, b, p, l, r, i)
ON CONFLICT (source_id, external_id) DO NOTHING
RETURNING id, source_id, external_id
"""

# Authors are upserted so the latest profile (name, follower count) wins; a repeat of the
# same payload writes the same values, so a duplicate post changes nothing visible.
_UPSERT_AUTHORS = """
INSERT INTO feedback_author (source_id, handle, name, url, followers, created_at)
SELECT s, h, n, u, f, %(now)s
FROM unnest(%(source)s::bigint[], %(handle)s::text[], %(name)s::text[], %(url)s::text[],
            %(followers)s::integer[]) AS t(s, h, n, u, f)
ON CONFLICT (source_id, handle) DO UPDATE SET
    name = CASE WHEN EXCLUDED.name <> '' THEN EXCLUDED.name ELSE feedback_author.name END,
    url = CASE WHEN EXCLUDED.url <> '' THEN EXCLUDED.url ELSE feedback_author.url END,
    followers = COALESCE(EXCLUDED.followers, feedback_author.followers)
RETURNING id, source_id, handle
"""


def _resolve_sources(
    entries: dict[int, CleanEntry], *, default_source: Source, allowed: set[int] | None
) -> tuple[dict[int, Source], dict[int, dict]]:
    """Map each entry to its Source; an unknown or forbidden slug is a field error."""
    slugs = {e.source_slug for e in entries.values() if e.source_slug}
    by_slug = {s.slug: s for s in Source.objects.filter(slug__in=slugs)} if slugs else {}
    by_slug.setdefault(default_source.slug, default_source)
    resolved: dict[int, Source] = {}
    errors: dict[int, dict] = {}
    for index, entry in entries.items():
        source = by_slug.get(entry.source_slug or default_source.slug)
        if source is None:
            errors[index] = {"source": [f"Unknown source '{entry.source_slug}'."]}
        elif allowed is not None and source.pk not in allowed:
            errors[index] = {"source": [f"This API key may not post to source '{source.slug}'."]}
        elif not source.active:
            errors[index] = {"source": [f"Source '{source.slug}' is disabled."]}
        else:
            resolved[index] = source
    return resolved, errors


def _upsert_authors(entries: dict[int, CleanEntry], sources: dict[int, Source], now) -> dict:
    latest: dict[tuple[int, str], Any] = {}
    for index, entry in entries.items():
        if entry.author is not None:
            latest[(sources[index].pk, entry.author.handle)] = entry.author
    if not latest:
        return {}
    keys = list(latest)
    params = {
        "now": now,
        "source": [k[0] for k in keys],
        "handle": [k[1] for k in keys],
        "name": [latest[k].name for k in keys],
        "url": [latest[k].url for k in keys],
        "followers": [latest[k].followers for k in keys],
    }
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_AUTHORS, params)
        return {(source_id, handle): pk for pk, source_id, handle in cursor.fetchall()}


def feedback_ingest(
    *,
    payloads: Sequence[Any],
    default_source: Source,
    allowed_source_ids: set[int] | None = None,
    backfill: bool = False,
) -> list[IngestOutcome]:
    """Validate, normalize and store posts; enqueue routing for the new ones after commit.

    Idempotent on (source, external_id): a post already stored, or repeated within the
    same list, comes back as `duplicate` and changes nothing. Invalid posts come back as
    `rejected` with field errors and do not stop the valid ones from being stored. All
    valid posts are stored in one transaction: either all of them or none.
    """
    outcomes: dict[int, IngestOutcome] = {}
    valid: dict[int, CleanEntry] = {}
    for index, payload in enumerate(payloads):
        entry, errors = entry_validate(payload)
        if entry is None:
            outcomes[index] = IngestOutcome(index, "rejected", errors=errors)
        else:
            valid[index] = entry

    sources, source_errors = _resolve_sources(
        valid, default_source=default_source, allowed=allowed_source_ids
    )
    for index, errors in source_errors.items():
        outcomes[index] = IngestOutcome(index, "rejected", errors=errors)
        del valid[index]

    # The first occurrence of a key in this list is the one stored; later ones are repeats.
    first_index: dict[tuple[int, str], int] = {}
    to_store: dict[int, CleanEntry] = {}
    for index, entry in valid.items():
        key = (sources[index].pk, entry.external_id)
        if key in first_index:
            continue
        first_index[key] = index
        to_store[index] = entry

    if to_store:
        now = timezone.now()
        with transaction.atomic():
            authors = _upsert_authors(to_store, sources, now)
            order = list(to_store)
            params = {
                "now": now,
                "backfill": backfill,
                "source": [sources[i].pk for i in order],
                "external_id": [to_store[i].external_id for i in order],
                "url": [to_store[i].url for i in order],
                "author": [
                    authors[(sources[i].pk, to_store[i].author.handle)]
                    if to_store[i].author
                    else None
                    for i in order
                ],
                "body": [to_store[i].body for i in order],
                "posted_at": [to_store[i].posted_at for i in order],
                "language": [to_store[i].language for i in order],
                "raw": [json.dumps(to_store[i].raw, ensure_ascii=False) for i in order],
                "in_reply_to": [to_store[i].in_reply_to for i in order],
            }
            with connection.cursor() as cursor:
                cursor.execute(_INSERT_ITEMS, params)
                created = {(s, e): pk for pk, s, e in cursor.fetchall()}
            existing = _existing_ids(set(first_index) - set(created))
            routing_enqueue_on_commit(sorted(created.values()))
        ids = created | existing
    else:
        created, ids = {}, {}

    for index, entry in valid.items():
        key = (sources[index].pk, entry.external_id)
        status: Status = "created" if key in created and first_index[key] == index else "duplicate"
        outcomes[index] = IngestOutcome(index, status, item_id=ids.get(key))
    metrics.ingest_record(outcome.status for outcome in outcomes.values())
    return [outcomes[i] for i in range(len(payloads))]


def _existing_ids(keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], int]:
    keys = list(keys)
    if not keys:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT f.id, f.source_id, f.external_id FROM feedback_feedbackitem f
               JOIN unnest(%s::bigint[], %s::text[]) AS k(s, e)
                 ON f.source_id = k.s AND f.external_id = k.e""",
            [[k[0] for k in keys], [k[1] for k in keys]],
        )
        return {(s, e): pk for pk, s, e in cursor.fetchall()}


# --- API keys (authentication lives in feedback.principals) --------------------------------


def apikey_create(
    *, name: str, source: Source, scopes: Sequence[str], acts_as=None
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the raw key, which is never stored or shown again."""
    unknown = set(scopes) - set(ApiKey.Scope.values)
    if unknown or not scopes:
        raise ValueError(
            f"Unknown scope(s): {', '.join(sorted(unknown))}. Choose from "
            f"{', '.join(ApiKey.Scope.values)}."
            if unknown
            else "Give at least one scope."
        )
    raw_key = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        name=name,
        source=source,
        prefix=raw_key[:10],
        digest=key_digest(raw_key),
        scopes=sorted(set(scopes)),
        acts_as=acts_as,
    )
    return key, raw_key


def apikey_revoke(*, key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk, revoked_at=None).update(revoked_at=timezone.now())
    forget_key(key.digest)
