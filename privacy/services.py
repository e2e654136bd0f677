"""Privacy writes: the sealed departments' access log, and erasing an author on request."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import QuerySet

from departments.models import Case, CaseEvent, Note
from feedback.models import Author, FeedbackItem
from feedback.principals import ApiKeyPrincipal
from privacy.models import Erasure, SealedAccess
from routing.models import RoutingLabel
from webhooks.models import Delivery

logger = logging.getLogger(__name__)

# A viewer who reloads an item page (or polls a case over the API) is logged once a minute,
# not once a request: the log says who looked and when, to the minute.
ACCESS_REPEAT_SECONDS = 60
_INSERT_BATCH = 2000


def _viewer_fields(viewer) -> dict | None:
    """Who to log for `viewer` (request.user): a person, or an API key and the user it acts
    as. None for someone who is not signed in (they are never shown a sealed case)."""
    if isinstance(viewer, ApiKeyPrincipal):
        return {
            "user_id": viewer.acts_as_id,
            "api_key_id": viewer.key_id,
            "viewer_name": viewer.name,
        }
    if getattr(viewer, "pk", None):
        return {"user_id": viewer.pk, "api_key_id": None, "viewer_name": viewer.get_username()}
    return None


def _sealed_rows(cases: Iterable[Case] | QuerySet) -> list[tuple[int, int, int]]:
    """(case id, item id, department id) of the cases in a sealed department."""
    if isinstance(cases, QuerySet):
        return list(
            cases.filter(department__sealed=True)
            .order_by()
            .values_list("pk", "item_id", "department_id")
        )
    return [(c.pk, c.item_id, c.department_id) for c in cases if c.department.sealed]


def _not_seen_lately(keys: list[str]) -> set[str]:
    """The keys not logged in the last minute. With the cache down, all of them: a lost
    cache costs a few repeated entries, never a missing one."""
    try:
        seen = cache.get_many(keys)
    except Exception:
        logger.warning("cache unavailable: access log entries are not deduplicated")
        return set(keys)
    return set(keys) - set(seen)


def _remember(keys: Iterable[str]) -> None:
    # Cache down: the next view is logged again, which is harmless.
    with contextlib.suppress(Exception):
        cache.set_many(dict.fromkeys(keys, 1), ACCESS_REPEAT_SECONDS)


def sealed_access_record(*, viewer, cases: Iterable[Case] | QuerySet, via: str) -> int:
    """Log that `viewer` (request.user) was shown `cases`; only sealed departments' count.

    `cases` is what the page or endpoint showed: Case objects with their department loaded
    (no query to tell which are sealed), or a queryset (an export), read as ids in one
    query. Pages and API reads are logged at most once a minute per viewer, case and way
    (`via`); an export is logged in full every time. Call it outside any long transaction:
    it writes its own rows at once.

    Cost: nothing when no sealed case is shown; otherwise one cache round trip and one
    INSERT. Returns the number of entries written.
    """
    if via not in SealedAccess.Via.values:
        raise ValueError(f"Unknown access kind {via!r}.")  # a bug in the caller
    who = _viewer_fields(viewer)
    rows = _sealed_rows(cases) if who else []
    if not rows:
        return 0
    if via != SealedAccess.Via.EXPORT:
        prefix = f"sealed-access:{who['user_id']}:{who['api_key_id']}:{via}"
        keys = {case_id: f"{prefix}:{case_id}" for case_id, _, _ in rows}
        fresh = _not_seen_lately(list(keys.values()))
        rows = [row for row in rows if keys[row[0]] in fresh]
    entries = [
        SealedAccess(case_id=case_id, item_id=item_id, department_id=department_id, via=via, **who)
        for case_id, item_id, department_id in rows
    ]
    SealedAccess.objects.bulk_create(entries, batch_size=_INSERT_BATCH)
    if via != SealedAccess.Via.EXPORT:
        _remember(keys[case_id] for case_id, _, _ in rows)
    return len(entries)


# --- erasure ------------------------------------------------------------------------------

# What an erasure removes, in the order it is removed (everything pointing at an item goes
# before the item). `access_log_unlinked` entries are kept with their case and item cleared;
# `similar_links` are other cases whose explanation cited an erased post as a similar one
# (the correction memory's neighbours): the citation is dropped, the case kept.
ERASED_KINDS = {
    "access_log_unlinked": "access-log entries unlinked",
    "similar_links": "similar-post citations dropped",
    "webhook_deliveries": "webhook deliveries",
    "routing_labels": "routing labels",
    "case_events": "case events",
    "notes": "notes",
    "cases": "cases",
    "items": "posts",
    "authors": "authors",
}


def erasure_summary(counts: dict[str, int]) -> str:
    """'2 posts, 4 cases, …': the counts in words, for people."""
    return ", ".join(f"{counts.get(kind, 0)} {label}" for kind, label in ERASED_KINDS.items())


@dataclass(frozen=True)
class ErasureResult:
    counts: dict[str, int]  # kind (ERASED_KINDS) -> rows (that would be) removed
    dry_run: bool
    erasure: Erasure | None = None  # the audit entry; None for a dry run


def _targets(author_ids: list[int], item_ids: list[int]) -> dict[str, QuerySet]:
    return {
        # Outbound events about an item carry it whole (body, author) as data.item.
        "webhook_deliveries": Delivery.objects.filter(payload__data__item__id__in=item_ids),
        "routing_labels": RoutingLabel.objects.filter(item_id__in=item_ids),
        "case_events": CaseEvent.objects.filter(item_id__in=item_ids),
        "notes": Note.objects.filter(item_id__in=item_ids),
        "cases": Case.objects.filter(item_id__in=item_ids),
        "items": FeedbackItem.objects.filter(pk__in=item_ids),
        "authors": Author.objects.filter(pk__in=author_ids),
    }


# Other posts' cases that cite one of the erased posts in explanation.similar (the memory's
# neighbours, {"item": id, ...}); `kept` is what remains of each such list.
_CITING_CASES = """
SELECT c.id,
       coalesce(jsonb_agg(e ORDER BY n) FILTER (WHERE NOT coalesce(
           (e ->> 'item')::bigint = ANY(%(ids)s), false)), '[]'::jsonb) AS kept
FROM departments_case c,
     jsonb_array_elements(c.explanation -> 'similar') WITH ORDINALITY AS s(e, n)
WHERE jsonb_typeof(c.explanation -> 'similar') = 'array' AND NOT c.item_id = ANY(%(ids)s)
GROUP BY c.id
HAVING bool_or(coalesce((e ->> 'item')::bigint = ANY(%(ids)s), false))
"""
_UNCITE = f"""
WITH citing AS ({_CITING_CASES})
UPDATE departments_case c
SET explanation = CASE WHEN citing.kept = '[]'::jsonb THEN c.explanation - 'similar'
                       ELSE jsonb_set(c.explanation, '{{similar}}', citing.kept) END
FROM citing WHERE c.id = citing.id
"""  # noqa: S608 (no value is formatted in: the CTE is a constant)


def _similar_links(item_ids: list[int], *, dry_run: bool) -> int:
    """Drop (or count) other cases' citations of the erased posts. A scan of the cases
    whose explanation has similar posts: no index serves it, and erasures are rare."""
    if not item_ids:
        return 0
    with connection.cursor() as cursor:
        if dry_run:
            cursor.execute(f"SELECT count(*) FROM ({_CITING_CASES}) q", {"ids": item_ids})  # noqa: S608
            return cursor.fetchone()[0]
        cursor.execute(_UNCITE, {"ids": item_ids})
        return cursor.rowcount


def _ids(queryset: QuerySet, *, lock: bool) -> list[int]:
    """The rows' primary keys, in order; with `lock`, locked (FOR UPDATE) in that order."""
    queryset = queryset.order_by("pk")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    return list(queryset.values_list("pk", flat=True))


def _delete(queryset: QuerySet) -> int:
    """Rows of the queryset's own model deleted (what they point at went first)."""
    _, per_model = queryset.delete()
    return per_model.get(queryset.model._meta.label, 0)


def _after_erasure() -> None:
    """Drop what this process derived from the erased posts. Other workers' correction
    memories rebuild at their next routing batch (the label count changed), which also
    drops the erased posts' cached keys; the themes are recomputed from what is left."""
    from departments.tasks import refresh_themes
    from routing.memory import memory_reset

    memory_reset()
    try:
        refresh_themes.delay()
    except Exception:  # the hourly beat task recomputes them anyway
        logger.warning("could not enqueue a themes refresh after an erasure", exc_info=True)


def author_erase(
    *,
    author_ids: Collection[int],
    via: str = Erasure.Via.COMMAND,
    requested_by=None,
    dry_run: bool = False,
) -> ErasureResult:
    """Erase the authors' posts and everything derived from them, in one transaction.

    Removes their items, the items' cases, notes, case events, routing labels (the
    correction memory's and the retrain's input), the webhook deliveries whose payload
    carries one of the items, and the Author rows; other cases stop citing the posts as
    similar ones; access-log entries about the items stay, without their case and item.
    Writes an Erasure row with the counts (never the content). With `dry_run`, counts what
    would go and changes nothing.

    Locks (SELECT … FOR UPDATE, each kind in primary-key order, until commit): the Author
    rows, then the items' cases, then the items: the order ingest (author, then item) and
    the case services (case, then its item) take them, so a concurrent post or case action
    is waited for instead of deadlocking, and nothing new is attached meanwhile. After
    commit: see `_after_erasure`.
    """
    author_ids = sorted(set(author_ids))
    with transaction.atomic():
        author_ids = _ids(Author.objects.filter(pk__in=author_ids), lock=not dry_run)
        if not dry_run:
            _ids(Case.objects.filter(item__author_id__in=author_ids), lock=True)
        item_ids = _ids(FeedbackItem.objects.filter(author_id__in=author_ids), lock=not dry_run)
        unlink = SealedAccess.objects.filter(item_id__in=item_ids)
        counts = {
            "access_log_unlinked": (
                unlink.count() if dry_run else unlink.update(case=None, item=None)
            ),
            "similar_links": _similar_links(item_ids, dry_run=dry_run),
        }
        for kind, queryset in _targets(author_ids, item_ids).items():
            counts[kind] = queryset.count() if dry_run else _delete(queryset)
        if dry_run:
            return ErasureResult(counts=counts, dry_run=True)
        erasure = Erasure.objects.create(via=via, requested_by=requested_by, counts=counts)
        transaction.on_commit(_after_erasure)
    logger.info("erasure %s: %s", erasure.pk, counts)
    return ErasureResult(counts=counts, dry_run=False, erasure=erasure)
