"""Keeping the dashboards' daily rollups current.

`rollups_refresh(start=..., end=...)` recomputes whole days from the cases table (one
GROUP BY over the cases created those days) and replaces their rows in one transaction.
A beat task refreshes today and yesterday every few minutes; `rebuild_rollups` does a
longer range after an import.
"""

import contextlib
import logging
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from departments.models import DURATION_BUCKETS, DailyRollup

logger = logging.getLogger(__name__)

REFRESHED_CACHE_KEY = "dashboards:rollups-refreshed-at"
REFRESH_REQUESTED_CACHE_KEY = "dashboards:rollups-refresh-requested"

_COUNTS = """
WITH c AS (
    SELECT c.department_id, i.source_id, (c.created_at AT TIME ZONE 'UTC')::date AS day,
           i.sentiment_label, c.created_at, c.due_at, c.resolution_due_at,
           c.first_response_at, c.resolved_at, c.sla_paused_at,
           -- Shared with a department everyone may see: counting a share with a sealed
           -- one (HR) would tell the other department's managers the item is in HR.
           EXISTS (SELECT 1 FROM departments_case o
                   JOIN departments_department od ON od.id = o.department_id
                   WHERE o.item_id = c.item_id AND o.department_id <> c.department_id
                     AND NOT od.sealed) AS multi
    FROM departments_case c JOIN feedback_feedbackitem i ON i.id = c.item_id
    WHERE c.created_at >= %(start)s AND c.created_at < %(end)s
)
SELECT day, department_id, source_id, count(*),
       count(*) FILTER (WHERE multi),
       count(*) FILTER (WHERE sentiment_label = 'positive'),
       count(*) FILTER (WHERE sentiment_label NOT IN ('positive', 'negative')),
       count(*) FILTER (WHERE sentiment_label = 'negative'),
       count(*) FILTER (WHERE first_response_at IS NOT NULL AND first_response_at <= due_at),
       count(*) FILTER (WHERE due_at IS NOT NULL AND (first_response_at > due_at
                        OR (first_response_at IS NULL AND due_at < %(now)s))),
       count(*) FILTER (WHERE resolved_at IS NOT NULL AND resolved_at <= resolution_due_at),
       -- A case waiting on the customer has its resolution clock stopped since then.
       count(*) FILTER (WHERE resolution_due_at IS NOT NULL AND (resolved_at > resolution_due_at
                        OR (resolved_at IS NULL
                            AND resolution_due_at < COALESCE(sla_paused_at, %(now)s))))
FROM c GROUP BY 1, 2, 3
"""

# Response and resolution times, bucketed: width_bucket gives 0 for the first bound...
_HISTOGRAMS = """
SELECT (c.created_at AT TIME ZONE 'UTC')::date, c.department_id, i.source_id, %(kind)s,
       width_bucket(extract(epoch FROM {column} - c.created_at), %(bounds)s::float8[]),
       count(*)
FROM departments_case c JOIN feedback_feedbackitem i ON i.id = c.item_id
WHERE c.created_at >= %(start)s AND c.created_at < %(end)s AND {column} IS NOT NULL
GROUP BY 1, 2, 3, 4, 5
"""


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def rollups_refresh(*, start: date, end: date) -> int:
    """Recompute the rollups of days start..end (inclusive). Returns rows written."""
    params = {
        "start": _day_start(start),
        "end": _day_start(end + timedelta(days=1)),
        "now": timezone.now(),
    }
    bounds = [0, *DURATION_BUCKETS[:-1]]
    rows: dict[tuple, DailyRollup] = {}
    with connection.cursor() as cursor:
        cursor.execute(_COUNTS, params)
        for day, dept, source, *counts in cursor.fetchall():
            rows[(day, dept, source)] = DailyRollup(
                day=day,
                department_id=dept,
                source_id=source,
                cases=counts[0],
                multi_department=counts[1],
                positive=counts[2],
                neutral=counts[3],
                negative=counts[4],
                first_response_met=counts[5],
                first_response_missed=counts[6],
                resolution_met=counts[7],
                resolution_missed=counts[8],
                first_response_hist=[0] * len(DURATION_BUCKETS),
                resolution_hist=[0] * len(DURATION_BUCKETS),
            )
        hist = defaultdict(int)
        for kind, column in (("first", "c.first_response_at"), ("resolution", "c.resolved_at")):
            cursor.execute(
                _HISTOGRAMS.format(column=column), {**params, "kind": kind, "bounds": bounds}
            )
            for day, dept, source, k, bucket, count in cursor.fetchall():
                hist[
                    (day, dept, source, k, max(0, min(bucket - 1, len(DURATION_BUCKETS) - 1)))
                ] += count
    for (day, dept, source, kind, bucket), count in hist.items():
        row = rows.get((day, dept, source))
        if row is None:
            continue
        target = row.first_response_hist if kind == "first" else row.resolution_hist
        target[bucket] += count
    with transaction.atomic():
        DailyRollup.objects.filter(day__gte=start, day__lte=end).delete()
        DailyRollup.objects.bulk_create(rows.values(), batch_size=2000)
    if end >= timezone.now().date():
        # A refresh that reaches today makes the dashboards current, rows written or not.
        with contextlib.suppress(Exception):
            cache.set(REFRESHED_CACHE_KEY, params["now"].isoformat(), None)
    return len(rows)


def rollups_as_of() -> datetime | None:
    """When the rollups were last computed up to today: the time the last refresh stored,
    else the newest row's (the cache was cleared or is down); None before any refresh."""
    stored = None
    with contextlib.suppress(Exception):
        stored = cache.get(REFRESHED_CACHE_KEY)
    if stored:
        return datetime.fromisoformat(stored)
    return DailyRollup.objects.aggregate(newest=Max("computed_at"))["newest"]


def rollups_request_refresh(as_of: datetime | None, *, now: datetime | None = None) -> bool:
    """Enqueue departments.tasks.refresh_rollups when the rollups are older than the
    refresh interval, at most once per interval across all page views. Never raises:
    with the broker or the cache down the dashboards still answer."""
    from departments.tasks import refresh_rollups

    every = settings.ROLLUPS_REFRESH_EVERY
    now = now or timezone.now()
    if as_of is not None and (now - as_of).total_seconds() <= every:
        return False
    try:
        if not cache.add(REFRESH_REQUESTED_CACHE_KEY, now.isoformat(), timeout=int(every)):
            return False
        refresh_rollups.apply_async(retry=False)
    except Exception:
        logger.warning("could not enqueue a rollup refresh", exc_info=True)
        return False
    return True


def histogram_median(hist: list[int]) -> float | None:
    """The median, in seconds, of a DURATION_BUCKETS histogram (linear within a bucket)."""
    total = sum(hist)
    if not total:
        return None
    half, seen = total / 2, 0
    for index, count in enumerate(hist):
        if seen + count >= half and count:
            low = 0 if index == 0 else DURATION_BUCKETS[index - 1]
            high = DURATION_BUCKETS[index] if index < len(DURATION_BUCKETS) - 1 else low * 2
            return low + (high - low) * ((half - seen) / count)
        seen += count
    return None
