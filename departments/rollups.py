"""Keeping the dashboards' daily rollups current.

`rollups_refresh(start=..., end=...)` recomputes whole days from the cases table (one
GROUP BY over the cases created those days) and the triage inbox of those days (from the
event log: when each post entered triage and when it left), and replaces their rows in one
transaction.
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

from departments.models import DURATION_BUCKETS, DailyRollup, TriageRollup

logger = logging.getLogger(__name__)

REFRESHED_CACHE_KEY = "dashboards:rollups-refreshed-at"
REFRESH_REQUESTED_CACHE_KEY = "dashboards:rollups-refresh-requested"

_COUNTS = """
WITH c AS (
    SELECT c.department_id, i.source_id, (c.created_at AT TIME ZONE 'UTC')::date AS day,
           i.sentiment_label, c.created_at, c.due_at, c.resolution_due_at,
           c.first_response_at, c.resolved_at,
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
       count(*) FILTER (WHERE resolution_due_at IS NOT NULL AND (resolved_at > resolution_due_at
                        OR (resolved_at IS NULL AND resolution_due_at < %(now)s)))
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


# The triage inbox at the end of each day (today: at %(now)s), per source and inbox.
# A post entered triage at its `triaged` event (routing wrote none for posts created in
# triage directly: then when it was routed, else received) and left it at the first
# `routed` or `noise` event after that (a person routing or dismissing it, or a re-score);
# only the posts waiting at some point of the range are read: those still in triage, and
# those that left since the range began. Its age is counted from when it was received.
# `owner` is the sealed department the post belongs to, which alone may see it (the item
# rule of departments.access): its own triage, or where it went on to with no case outside
# sealed departments (the lowest id when several; safe, as more viewers are hidden from it).
_TRIAGE = """
WITH candidates AS (
    SELECT i.id FROM feedback_feedbackitem i WHERE i.state = 'triage'
    UNION
    SELECT e.item_id FROM departments_caseevent e
    WHERE e.kind IN ('routed', 'noise') AND e.created_at >= %(start)s
), spans AS (
    SELECT i.source_id, i.received_at,
           coalesce(t.entered, i.routed_at, i.received_at) AS entered,
           CASE WHEN i.state = 'triage' THEN NULL ELSE (
               SELECT min(x.created_at) FROM departments_caseevent x
               WHERE x.item_id = i.id AND x.kind IN ('routed', 'noise')
                 AND x.created_at >= t.entered) END AS left_at,
           coalesce(i.triage_department_id, t.inbox, CASE WHEN NOT EXISTS (
               SELECT 1 FROM departments_case c JOIN departments_department d
               ON d.id = c.department_id WHERE c.item_id = i.id AND NOT d.sealed) THEN (
               SELECT min(c.department_id) FROM departments_case c JOIN departments_department d
               ON d.id = c.department_id WHERE c.item_id = i.id AND d.sealed) END) AS owner
    FROM candidates JOIN feedback_feedbackitem i ON i.id = candidates.id
    LEFT JOIN LATERAL (
        SELECT min(e.created_at) AS entered, max(e.to_department_id) AS inbox
        FROM departments_caseevent e WHERE e.item_id = i.id AND e.kind = 'triaged'
    ) t ON TRUE
    WHERE i.state = 'triage' OR t.entered IS NOT NULL
), points AS (
    SELECT d::date AS day, least(d + interval '1 day', %(now)s) AS at
    FROM generate_series(%(start)s, least(%(end)s, %(now)s) - interval '1 microsecond',
                         interval '1 day') AS d
)
SELECT p.day, s.source_id, s.owner, count(*),
       width_bucket(extract(epoch FROM p.at - s.received_at), %(bounds)s::float8[])
FROM points p JOIN spans s
  ON s.entered <= p.at AND (s.left_at IS NULL OR s.left_at > p.at) AND s.received_at <= p.at
GROUP BY 1, 2, 3, 5
"""


def _triage_rows(cursor, params: dict) -> list[TriageRollup]:
    rows: dict[tuple, TriageRollup] = {}
    last = len(DURATION_BUCKETS) - 1
    cursor.execute(_TRIAGE, params)
    for day, source, owner, count, bucket in cursor.fetchall():
        row = rows.get((day, source, owner))
        if row is None:
            row = rows[(day, source, owner)] = TriageRollup(
                day=day,
                source_id=source,
                sealed_department_id=owner,
                age_hist=[0] * len(DURATION_BUCKETS),
                computed_at=params["now"],
            )
        row.waiting += count
        row.age_hist[max(0, min(bucket - 1, last))] += count
    return list(rows.values())


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
        triage = _triage_rows(cursor, {**params, "bounds": bounds})
    for (day, dept, source, kind, bucket), count in hist.items():
        row = rows.get((day, dept, source))
        if row is None:
            continue
        target = row.first_response_hist if kind == "first" else row.resolution_hist
        target[bucket] += count
    with transaction.atomic():
        DailyRollup.objects.filter(day__gte=start, day__lte=end).delete()
        DailyRollup.objects.bulk_create(rows.values(), batch_size=2000)
        TriageRollup.objects.unscoped().filter(day__gte=start, day__lte=end).delete()
        TriageRollup.objects.unscoped().bulk_create(triage, batch_size=2000)
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
    return histogram_quantile(hist, 0.5)


def histogram_quantile(hist: list[int], q: float) -> float | None:
    """The q-quantile (0 < q < 1), in seconds, of a DURATION_BUCKETS histogram, linear
    within a bucket."""
    total = sum(hist)
    if not total:
        return None
    rank, seen = total * q, 0
    for index, count in enumerate(hist):
        if seen + count >= rank and count:
            low = 0 if index == 0 else DURATION_BUCKETS[index - 1]
            high = DURATION_BUCKETS[index] if index < len(DURATION_BUCKETS) - 1 else low * 2
            return low + (high - low) * ((rank - seen) / count)
        seen += count
    return None
