"""The numbers behind the dashboards. Read-only; every function applies the access rules
(a sealed department's numbers only for its members and admins).

Daily figures come from DailyRollup (kept current by a task); live figures (backlog, triage
size) are indexed counts; handoffs and routing quality read the event log in the range.
"""

import contextlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import Count, Min, Q
from django.utils import timezone

from departments.models import DailyRollup, Department, Spike, ThemeSnapshot, TriageRollup
from departments.rollups import histogram_median, histogram_quantile
from departments.selectors import (
    capped_count,
    items_visible_to,
    user_department_ids,
    user_sees_everything,
)
from feedback.models import FeedbackItem

OPEN = ("new", "open", "waiting")


@dataclass
class DashboardFilter:
    """Date range (inclusive days), sources and departments chosen on the page."""

    start: date
    end: date
    sources: list[int] = field(default_factory=list)
    departments: list[int] = field(default_factory=list)

    @classmethod
    def from_query(cls, query, *, default_days: int = 30) -> "DashboardFilter":
        today = timezone.now().date()

        def parse(name, fallback):
            try:
                return date.fromisoformat(query.get(name, ""))
            except ValueError:
                return fallback

        end = parse("until", today)
        start = parse("since", end - timedelta(days=default_days - 1))
        if start > end:
            start, end = end, start
        start = max(start, end - timedelta(days=366))  # at most a year per view
        ids = lambda name: [  # noqa: E731  (isascii: "²".isdigit() but int() refuses it)
            int(v)
            for v in query.getlist(name)
            if str(v).isascii() and str(v).isdigit() and len(str(v)) <= 18
        ]
        return cls(start=start, end=end, sources=ids("source"), departments=ids("department"))

    @property
    def start_dt(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=timezone.get_current_timezone())

    @property
    def end_dt(self) -> datetime:
        return datetime.combine(
            self.end + timedelta(days=1), time.min, tzinfo=timezone.get_current_timezone()
        )


def visible_departments(user, chosen: list[int] | None = None):
    qs = Department.objects.order_by("name")
    if not user_sees_everything(user):
        qs = qs.filter(Q(sealed=False) | Q(pk__in=user_department_ids(user)))
    if chosen:
        qs = qs.filter(pk__in=chosen)
    return list(qs)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def overview(user, flt: DashboardFilter) -> dict:
    """Per department and in total: volume by day and week, backlog and oldest open case,
    SLA attainment, median times, sentiment mix, multi-department share; triage size."""
    departments = visible_departments(user, flt.departments)
    dept_ids = [d.pk for d in departments]
    rollups = DailyRollup.objects.filter(
        day__gte=flt.start, day__lte=flt.end, department_id__in=dept_ids
    )
    if flt.sources:
        rollups = rollups.filter(source_id__in=flt.sources)
    per_dept: dict[int, dict] = {d.pk: _empty(d) for d in departments}
    days = [flt.start + timedelta(days=n) for n in range((flt.end - flt.start).days + 1)]
    for row in rollups.values("day", "department_id", *COUNTS, *HISTOGRAMS):
        entry = per_dept[row["department_id"]]
        entry["by_day"][row["day"]] += row["cases"]
        _accumulate(entry, row)
    backlog = _backlog(flt, dept_ids)
    result = []
    for dept in departments:
        entry = per_dept[dept.pk]
        open_row = backlog.get(dept.pk, {})
        result.append(_finish(entry, days, open_row))
    totals = _empty(None)
    for entry in per_dept.values():
        _accumulate(totals, entry)
        for day, n in entry["by_day"].items():
            totals["by_day"][day] += n
    total_open = {
        "open": sum(r.get("open", 0) for r in backlog.values()),
        "oldest": min((r["oldest"] for r in backlog.values() if r.get("oldest")), default=None),
    }
    triage, triage_more = capped_count(
        FeedbackItem.objects.visible_to(user).filter(state=FeedbackItem.State.TRIAGE), cap=1000
    )
    return {
        "filter": flt,
        "days": days,
        "departments": result,
        "total": _finish(totals, days, total_open),
        "triage": triage,
        "triage_more": triage_more,
        "triage_history": triage_history(user, flt),
    }


def triage_history(user, flt: DashboardFilter) -> list[dict]:
    """The triage inbox day by day, from its rollups: posts waiting at the end of the day
    (today: as of the last refresh) and the median and 90th percentile of how long they
    had waited, in hours. Only the inboxes the viewer may see; days to come are left out."""
    rows = TriageRollup.objects.visible_to(user).filter(day__gte=flt.start, day__lte=flt.end)
    if flt.sources:
        rows = rows.filter(source_id__in=flt.sources)
    waiting: dict[date, int] = defaultdict(int)
    hists: dict[date, list[int]] = {}
    for row in rows.values("day", "waiting", "age_hist"):
        waiting[row["day"]] += row["waiting"]
        hist = hists.setdefault(row["day"], [0] * len(row["age_hist"]))
        for index, count in enumerate(row["age_hist"]):
            hist[index] += count
    today = timezone.now().date()
    days = [
        flt.start + timedelta(days=n) for n in range((min(flt.end, today) - flt.start).days + 1)
    ]
    return [
        {
            "day": day,
            "waiting": waiting.get(day, 0),
            "median_age_hours": _hours(histogram_quantile(hists.get(day, []), 0.5)),
            "p90_age_hours": _hours(histogram_quantile(hists.get(day, []), 0.9)),
        }
        for day in days
    ]


BACKLOG_CACHE_KEY = "dashboards:backlog"
BACKLOG_TTL = 300


def backlog_compute(*, source_ids: list[int] | None = None) -> dict[int, dict]:
    """Open cases and the oldest open case per department (a scan of open cases only)."""
    from departments.models import Case

    # Every department's numbers at once, cached for all viewers: a system read, which
    # _backlog narrows to the departments the viewer may see.
    qs = Case.objects.unscoped().filter(status__in=OPEN)
    if source_ids:
        qs = qs.filter(item__source_id__in=source_ids)
    return {
        row["department_id"]: {"open": row["open"], "oldest": row["oldest"]}
        for row in qs.values("department_id").annotate(open=Count("pk"), oldest=Min("created_at"))
    }


def backlog_refresh() -> dict[int, dict]:
    """Recompute the backlog for the dashboards' cache (run by the rollup task)."""
    from django.core.cache import cache

    data = backlog_compute()
    # With the cache down, the overview computes the backlog live instead.
    with contextlib.suppress(Exception):
        cache.set(BACKLOG_CACHE_KEY, data, BACKLOG_TTL)
    return data


def _backlog(flt: "DashboardFilter", dept_ids: list[int]) -> dict[int, dict]:
    """The backlog from the task-refreshed cache (at most a few minutes old), or live when
    the view filters by source or the cache is cold."""
    from django.core.cache import cache

    data = None
    if not flt.sources:
        try:
            data = cache.get(BACKLOG_CACHE_KEY)
        except Exception:
            data = None
    if data is None:
        data = backlog_compute(source_ids=flt.sources) if flt.sources else backlog_refresh()
    return {k: v for k, v in data.items() if k in dept_ids}


COUNTS = (
    "cases",
    "multi_department",
    "positive",
    "neutral",
    "negative",
    "first_response_met",
    "first_response_missed",
    "resolution_met",
    "resolution_missed",
)
HISTOGRAMS = ("first_response_hist", "resolution_hist")


def _accumulate(target: dict, source: dict) -> None:
    """Add a rollup row (or a department's sums) into `target`: counts and histograms."""
    for key in COUNTS:
        target[key] += source[key]
    for key in HISTOGRAMS:
        if source[key]:
            target[key] = (
                [a + b for a, b in zip(target[key], source[key], strict=False)]
                if target[key]
                else list(source[key])
            )


def _empty(dept) -> dict:
    return {
        "department": dept,
        "by_day": defaultdict(int),
        "cases": 0,
        "multi_department": 0,
        "positive": 0,
        "neutral": 0,
        "negative": 0,
        "first_response_met": 0,
        "first_response_missed": 0,
        "resolution_met": 0,
        "resolution_missed": 0,
        "first_response_hist": [],
        "resolution_hist": [],
    }


def _finish(entry: dict, days: list[date], open_row: dict) -> dict:
    weeks: dict[date, int] = defaultdict(int)
    for day in days:
        weeks[day - timedelta(days=day.weekday())] += entry["by_day"].get(day, 0)
    oldest = open_row.get("oldest")
    return {
        "department": entry["department"],
        "volume_by_day": [(day, entry["by_day"].get(day, 0)) for day in days],
        "volume_by_week": sorted(weeks.items()),
        "cases": entry["cases"],
        "open": open_row.get("open", 0),
        "oldest_open": oldest,
        "oldest_open_age_hours": round((timezone.now() - oldest).total_seconds() / 3600, 1)
        if oldest
        else None,
        "first_response_sla": _ratio(
            entry["first_response_met"],
            entry["first_response_met"] + entry["first_response_missed"],
        ),
        "resolution_sla": _ratio(
            entry["resolution_met"], entry["resolution_met"] + entry["resolution_missed"]
        ),
        "median_first_response_hours": _hours(histogram_median(entry["first_response_hist"])),
        "median_resolution_hours": _hours(histogram_median(entry["resolution_hist"])),
        "sentiment": {
            "positive": entry["positive"],
            "neutral": entry["neutral"],
            "negative": entry["negative"],
        },
        "multi_department_share": _ratio(entry["multi_department"], entry["cases"]),
    }


def _hours(seconds: float | None) -> float | None:
    return round(seconds / 3600, 2) if seconds is not None else None


_HANDOFFS = """
SELECT e.kind, e.from_department_id, e.to_department_id, count(*),
       avg(extract(epoch FROM e.created_at - c.created_at))
FROM departments_caseevent e JOIN departments_case c ON c.id = e.case_id
WHERE e.kind IN ('rerouted', 'shared') AND e.created_at >= %(start)s AND e.created_at < %(end)s
  AND e.case_id::text = e.data->>'from_case'
GROUP BY 1, 2, 3
"""
_PING_PONG = """
SELECT e.item_id FROM departments_caseevent e
WHERE e.kind = 'rerouted' AND e.created_at >= %(start)s AND e.created_at < %(end)s
  AND e.case_id::text = e.data->>'from_case'
  AND e.from_department_id = ANY(%(depts)s) AND e.to_department_id = ANY(%(depts)s)
GROUP BY e.item_id HAVING count(*) >= 2
"""
_MISROUTES = """
SELECT c.routed_by, coalesce(r.name, ''), c.model_version, count(*),
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM departments_caseevent e
           WHERE e.case_id = c.id AND e.kind = 'rerouted' AND e.actor_id IS NOT NULL
             AND e.data->>'from_case' = c.id::text)
         OR (c.status = 'dismissed' AND EXISTS (
           SELECT 1 FROM departments_caseevent e WHERE e.case_id = c.id
             AND e.kind = 'status_changed' AND e.data->>'reason' = 'wrong_department')))
FROM departments_case c LEFT JOIN routing_rule r ON r.id = c.rule_id
WHERE c.routed_by IN ('model', 'rule') AND c.created_at >= %(start)s
  AND c.created_at < %(end)s AND c.department_id = ANY(%(depts)s)
GROUP BY 1, 2, 3 ORDER BY 4 DESC
"""


def handoffs(user, flt: DashboardFilter) -> dict:
    """Who hands what to whom: the reroute/share matrix, items bounced twice or more,
    time lost in the wrong queue, and the misroute rate per rule and classifier version."""
    departments = visible_departments(user, flt.departments)
    visible = {d.pk: d for d in departments}
    params = {"start": flt.start_dt, "end": flt.end_dt, "depts": list(visible)}
    matrix: dict[tuple[str, int, int], int] = {}
    lost: list[tuple[float, int]] = []
    with connection.cursor() as cursor:
        cursor.execute(_HANDOFFS, params)
        for kind, from_id, to_id, count, seconds in cursor.fetchall():
            # A handoff involving a sealed department the viewer is not in is not shown.
            if from_id not in visible or to_id not in visible:
                continue
            matrix[(kind, from_id, to_id)] = count
            if kind == "rerouted" and seconds is not None:
                lost.append((float(seconds), count))
        cursor.execute(_PING_PONG, params)
        bounced = [row[0] for row in cursor.fetchall()]
        cursor.execute(_MISROUTES, params)
        misroutes = [
            {
                "routed_by": by,
                "rule": rule,
                "model_version": version,
                "cases": total,
                "misrouted": wrong,
                "rate": _ratio(wrong, total),
            }
            for by, rule, version, total, wrong in cursor.fetchall()
        ]
    bounced_visible = (
        list(items_visible_to(user).filter(pk__in=bounced).values_list("pk", flat=True))
        if bounced
        else []
    )
    total_lost = sum(s * n for s, n in lost)
    n_lost = sum(n for _, n in lost)
    return {
        "departments": departments,
        "matrix": [
            {"kind": kind, "from": visible[f], "to": visible[t], "count": count}
            for (kind, f, t), count in sorted(matrix.items(), key=lambda kv: -kv[1])
        ],
        "ping_pong_items": bounced_visible,
        "hours_lost_in_wrong_queue": round(total_lost / 3600, 1),
        "mean_hours_before_reroute": round(total_lost / n_lost / 3600, 2) if n_lost else None,
        "misroutes": misroutes,
    }


def routing_quality(user, flt: DashboardFilter) -> dict:
    """Coverage (share of items routed without a person) and agreement between the
    classifier and people, per week; precision per department from staff corrections.

    Only the items and cases the viewer may see count: a sealed department's items and
    its routing decisions stay out of everyone else's totals."""
    items = FeedbackItem.objects.visible_to(user).filter(
        received_at__gte=flt.start_dt, received_at__lt=flt.end_dt
    )
    if flt.sources:
        items = items.filter(source_id__in=flt.sources)
    seen_departments = [d.pk for d in visible_departments(user)]
    weekly = defaultdict(lambda: {"items": 0, "auto": 0, "triage": 0})
    with connection.cursor() as cursor:
        sql, params = items.values("pk").query.sql_with_params()
        cursor.execute(
            f"""SELECT date_trunc('week', i.received_at)::date, count(*),
                       count(*) FILTER (WHERE i.state IN ('routed', 'noise')
                                          AND NOT EXISTS (SELECT 1 FROM departments_case c
                                            WHERE c.item_id = i.id AND c.routed_by = 'person'
                                              AND c.department_id = ANY(%s))),
                       count(*) FILTER (WHERE i.state = 'triage')
                FROM feedback_feedbackitem i WHERE i.id IN ({sql}) GROUP BY 1 ORDER BY 1""",  # noqa: S608
            [seen_departments, *params],
        )
        for week, n, auto, triage in cursor.fetchall():
            weekly[week] = {"items": n, "auto": auto, "triage": triage, "coverage": _ratio(auto, n)}
    departments = visible_departments(user, flt.departments)
    precision = []
    for dept in departments:
        # `departments` are the ones the viewer may see, so all their cases are visible.
        closed = (
            dept.cases.unscoped()
            .filter(
                routed_by__in=["model", "rule"],
                created_at__gte=flt.start_dt,
                created_at__lt=flt.end_dt,
            )
            .aggregate(
                kept=Count("pk", filter=Q(status="resolved")),
                wrong=Count(
                    "pk",
                    filter=Q(status="dismissed", events__kind__in=["rerouted"])
                    | Q(status="dismissed", events__data__reason="wrong_department"),
                    distinct=True,
                ),
            )
        )
        precision.append(
            {
                "department": dept,
                "kept": closed["kept"],
                "wrong": closed["wrong"],
                "precision": _ratio(closed["kept"], closed["kept"] + closed["wrong"]),
            }
        )
    return {"weekly": sorted(weekly.items()), "precision": precision}


def themes_for(scope: str) -> ThemeSnapshot | None:
    # The caller passes a department the viewer may see, or "all" (computed without the
    # items only a sealed department holds).
    return ThemeSnapshot.objects.unscoped().filter(scope=scope).first()


def spikes_for(user, *, department: Department | None = None, days: int = 7) -> list[Spike]:
    """Recent spikes the viewer may see; for a department: its own, and spikes elsewhere
    whose words match its vocabulary (`related`). A sealed department's spikes, and its
    name among the related, only for its members."""
    since = timezone.now() - timedelta(days=days)
    visible = {d.slug for d in visible_departments(user)}
    spikes = Spike.objects.visible_to(user).filter(hour__gte=since)
    if department is not None:
        spikes = spikes.filter(
            Q(dimension="department", key=department.slug) | Q(related__contains=[department.slug])
        )
    shown = [s for s in spikes[:50] if s.dimension != "department" or s.key in visible]
    for spike in shown:
        # Detection no longer relates a sealed department; rows from before it did may.
        spike.related = [slug for slug in spike.related if slug in visible]
    return shown


def stats_overview(viewer) -> dict:
    """The API's headline numbers: item states and open work per department."""
    now = timezone.now()
    departments = visible_departments(viewer)
    open_q = Q(cases__status__in=OPEN)
    rows = (
        Department.objects.filter(pk__in=[d.pk for d in departments])
        .order_by("name")
        .annotate(
            open=Count("cases", filter=open_q),
            unassigned=Count("cases", filter=open_q & Q(cases__assignee__isnull=True)),
            overdue=Count(
                "cases",
                filter=open_q & Q(cases__due_at__lt=now, cases__first_response_at__isnull=True),
            ),
            created_24h=Count("cases", filter=Q(cases__created_at__gte=now - timedelta(hours=24))),
        )
    )
    states = dict(items_visible_to(viewer).values_list("state").annotate(n=Count("pk")))
    return {
        "generated_at": now,
        "items": {state: states.get(state, 0) for state in FeedbackItem.State.values},
        "departments": [
            {
                "slug": d.slug,
                "name": d.name,
                "open": d.open,
                "unassigned": d.unassigned,
                "overdue": d.overdue,
                "created_last_24h": d.created_24h,
            }
            for d in rows
        ],
    }
