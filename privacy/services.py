"""Privacy writes: the sealed departments' access log."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from django.core.cache import cache
from django.db.models import QuerySet

from departments.models import Case
from feedback.principals import ApiKeyPrincipal
from privacy.models import SealedAccess

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
