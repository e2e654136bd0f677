"""Themes (terms rising this week) and spikes (hours far above their usual level), computed
by periodic tasks and read by the dashboards; spikes are mailed to the managers concerned.

Terms come from PostgreSQL's own full-text index data (ts_stat over the stored
search_vector), so they are stemmed and stop-word free, and no text leaves the database.
"""

import logging
import math
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone

from departments.models import Department, Membership, Spike, ThemeSnapshot

logger = logging.getLogger(__name__)

SPIKE_MIN_COUNT = 10  # fewer posts than this in an hour is never a spike
SPIKE_MIN_Z = 4.0
SPIKE_MIN_RATIO = 3.0  # and at least three times the usual hourly count
BASELINE_HOURS = 7 * 24
THEME_TERMS = 15
VOCABULARY_TERMS = 40


# An item every department member may see: not one whose only cases are in sealed
# departments (the access rule of departments.selectors.items_visible_to for a viewer in
# no sealed department). Triage items, with no case at all, pass.
_NOT_SEALED_ONLY = (
    "(NOT EXISTS (SELECT 1 FROM departments_case c JOIN departments_department d"
    " ON d.id = c.department_id WHERE c.item_id = i.id AND d.sealed)"
    " OR EXISTS (SELECT 1 FROM departments_case c JOIN departments_department d"
    " ON d.id = c.department_id WHERE c.item_id = i.id AND NOT d.sealed))"
)


def _items_sql(
    *,
    department_id: int | None,
    start: datetime,
    end: datetime,
    extra: str = "",
    column: str = "i.search_vector",
) -> str:
    """The item query ts_stat runs. Only integers and timestamps we made go into it."""
    where = (
        f"i.received_at >= '{start.isoformat()}'::timestamptz "
        f"AND i.received_at < '{end.isoformat()}'::timestamptz"
    )
    if department_id is not None:
        dept = int(department_id)
        where += f" AND EXISTS (SELECT 1 FROM departments_case c WHERE c.item_id = i.id AND c.department_id = {dept})"  # noqa: E501, S608
    else:
        # Every manager sees the overall terms: leave out the items only a sealed department
        # holds.
        where += f" AND {_NOT_SEALED_ONLY}"
    return f"SELECT {column} FROM feedback_feedbackitem i WHERE {where} {extra}"  # noqa: S608


def _term_counts(query: str, limit: int = 2000) -> tuple[dict[str, int], int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM (" + query + ") q")  # noqa: S608 (see _items_sql)
        docs = cursor.fetchone()[0]
        if not docs:
            return {}, 0
        cursor.execute(
            "SELECT word, ndoc FROM ts_stat(%s) WHERE length(word) > 2 ORDER BY ndoc DESC LIMIT %s",
            [query, limit],
        )
        return dict(cursor.fetchall()), docs


# Each word of the posts with the stem the english configuration indexes it under (the
# search_vector's stems), counted, for the stems asked about.
_SURFACE_WORDS = """
SELECT stem, word, count(*) FROM (
    SELECT w AS word, (ts_lexize('english_stem', w))[1] AS stem
    FROM ({items}) i, regexp_split_to_table(lower(i.body), '[^[:alpha:]]+') AS w
    WHERE length(w) > 2
) s WHERE stem = ANY(%s) GROUP BY 1, 2
"""


def surface_words(query: str, stems: list[str]) -> dict[str, str]:
    """Each stem's most frequent written form in the posts of `query` (an _items_sql
    selecting i.body): 'charg' -> 'charged'. Stems not found keep no entry."""
    if not stems:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_SURFACE_WORDS.format(items=query), [list(stems)])
        rows = cursor.fetchall()
    best: dict[str, tuple] = {}
    for stem, word, count in rows:
        # The most frequent; on a tie the shorter, then the first alphabetically.
        key = (-count, len(word), word)
        if stem not in best or key < best[stem]:
            best[stem] = key
    return {stem: key[2] for stem, key in best.items()}


def rising_terms(*, department_id: int | None, now: datetime | None = None) -> tuple[list, list]:
    """(terms rising this week vs the four before, the usual vocabulary of those weeks)."""
    now = now or timezone.now()
    week_start = now - timedelta(days=7)
    this, n_this = _term_counts(_items_sql(department_id=department_id, start=week_start, end=now))
    before, n_before = _term_counts(
        _items_sql(
            department_id=department_id, start=week_start - timedelta(days=28), end=week_start
        )
    )
    rising = []
    for word, ndoc in this.items():
        if ndoc < 3:
            continue
        rate_now = ndoc / n_this
        rate_before = (before.get(word, 0) + 1) / (n_before + 1)  # add-one: new words rise
        lift = rate_now / rate_before
        if lift >= 1.5:
            rising.append(
                {
                    "term": word,
                    "this_week": ndoc,
                    "before": before.get(word, 0),
                    "lift": round(lift, 2),
                }
            )
    rising.sort(key=lambda t: (-t["lift"] * math.log1p(t["this_week"]), t["term"]))
    rising = rising[:THEME_TERMS]
    # Shown as people wrote them; the stem stays for matching (the vocabulary is stems).
    words = surface_words(
        _items_sql(department_id=department_id, start=week_start, end=now, column="i.body"),
        [t["term"] for t in rising],
    )
    for term in rising:
        term["stem"] = term["term"]
        term["term"] = words.get(term["stem"], term["stem"])
    vocabulary = [w for w, _ in sorted(before.items(), key=lambda kv: -kv[1])][:VOCABULARY_TERMS]
    return rising, vocabulary


def themes_refresh(*, now: datetime | None = None) -> int:
    scopes: list[tuple[str, int | None]] = [("all", None)]
    scopes += [(d.slug, d.pk) for d in Department.objects.all()]
    for scope, dept_id in scopes:
        terms, vocabulary = rising_terms(department_id=dept_id, now=now)
        ThemeSnapshot.objects.update_or_create(
            scope=scope,
            defaults={"terms": terms, "vocabulary": vocabulary, "computed_at": timezone.now()},
        )
    return len(scopes)


# Source and intent spikes are shown and mailed to every manager, so they count only the
# items anyone may see; a sealed department's own hours are its department spike.
# dimension: (key, timestamp, rows, condition). _NOT_SEALED_ONLY is a constant of this
# module: nothing from outside enters the query text.
_SCOPES = {
    "department": (
        "d.slug",
        "c.created_at",
        "departments_case c JOIN departments_department d ON d.id = c.department_id",
        "TRUE",
    ),
    "source": (
        "s.slug",
        "i.received_at",
        "feedback_feedbackitem i JOIN feedback_source s ON s.id = i.source_id",
        _NOT_SEALED_ONLY,
    ),
    "intent": (
        "intent",
        "i.received_at",
        "feedback_feedbackitem i, unnest(i.intents) AS intent",
        _NOT_SEALED_ONLY,
    ),
}
# Each scope's posts per hour since %(since)s.
_HOURLY = {
    dim: f"SELECT {key}, date_trunc('hour', {ts}), count(*) FROM {rows}"  # noqa: S608
    f" WHERE {ts} >= %(since)s AND {cond} GROUP BY 1, 2"
    for dim, (key, ts, rows, cond) in _SCOPES.items()
}
# Each scope's first post ever: where its history starts.
_FIRST = {
    dim: f"SELECT {key}, min({ts}) FROM {rows} WHERE {cond} GROUP BY 1"  # noqa: S608
    for dim, (key, ts, rows, cond) in _SCOPES.items()
}


def has_history(first: datetime | None, hour: datetime, *, min_hours: int) -> bool:
    """Whether a scope whose first post came at `first` may be scored for `hour`: its first
    post is at least `min_hours` before the hour begins. Before that the scope has no usual
    level to stand above (a fresh install, a new source or intent, a department's first
    days), so it makes no spike. `min_hours` 0 scores every scope."""
    if min_hours <= 0:
        return True
    return first is not None and first <= hour - timedelta(hours=min_hours)


def spike_score(count: int, history: list[int]) -> tuple[float, float]:
    """(baseline mean, z-score) of `count` against the hourly `history`. The spread has a
    floor of sqrt(mean) (Poisson noise) and 1, so a quiet series does not make every small
    bump a spike."""
    mean = sum(history) / len(history) if history else 0.0
    variance = sum((h - mean) ** 2 for h in history) / len(history) if history else 0.0
    spread = max(math.sqrt(variance), math.sqrt(mean), 1.0)
    return mean, (count - mean) / spread


def is_spike(count: int, mean: float, z: float) -> bool:
    return (
        count >= SPIKE_MIN_COUNT and z >= SPIKE_MIN_Z and count >= SPIKE_MIN_RATIO * max(mean, 1.0)
    )


def spikes_detect(*, now: datetime | None = None) -> list[Spike]:
    """Score the current and the last complete hour of every department, source and intent
    against the week before; record new spikes and notify the managers concerned.

    A scope is scored for an hour only once it has SPIKE_MIN_HISTORY_HOURS of history
    before that hour (see has_history), so an empty store or a fresh install, however
    many posts its first hour brings, records and sends nothing."""
    now = now or timezone.now()
    current = now.replace(minute=0, second=0, microsecond=0)
    found = _spikes_find(first=current - timedelta(hours=1), last=current, newest_only=True)
    sealed = set(Department.objects.filter(sealed=True).values_list("slug", flat=True))
    for spike in found:
        _notify(spike, sealed=sealed)
    return found


def spikes_history(*, start: datetime, end: datetime) -> list[Spike]:
    """Record the spikes of every hour from `start` to `end`, each against the week before
    it, and notify no one: this is history (the demo seed computes its past with it), and
    its alerts would have gone out when it happened. Safe to run again (one row per
    scope and hour)."""
    return _spikes_find(
        first=start.replace(minute=0, second=0, microsecond=0),
        last=end.replace(minute=0, second=0, microsecond=0),
        newest_only=False,
    )


def _spikes_find(*, first: datetime, last: datetime, newest_only: bool) -> list[Spike]:
    """Score the hours `first`..`last` of every scope and record the spikes. With
    `newest_only`, a scope's newest spiking hour is the only one recorded."""
    since = first - timedelta(hours=BASELINE_HOURS)
    sealed = set(Department.objects.filter(sealed=True).values_list("slug", flat=True))
    # A sealed department's vocabulary would tell others what it hears: it is never compared
    # with another spike's words (and its own spikes concern no one else).
    vocabularies = {
        t.scope: set(t.vocabulary)
        for t in ThemeSnapshot.objects.exclude(scope__in=sealed | {"all"})
    }
    min_hours = settings.SPIKE_MIN_HISTORY_HOURS
    found: list[Spike] = []
    for dimension, sql in _HOURLY.items():
        series: dict[str, dict[datetime, int]] = defaultdict(dict)
        with connection.cursor() as cursor:
            cursor.execute(sql, {"since": since})
            for key, hour, count in cursor.fetchall():
                series[key][hour] = count
            first_post: dict[str, datetime] = {}
            if series and min_hours > 0:
                cursor.execute(_FIRST[dimension])
                first_post = dict(cursor.fetchall())
        for key, counts in series.items():
            if newest_only:
                hours = [last, first]
            else:  # an hour with no post is no spike: score only the hours that have some
                hours = sorted(h for h in counts if first <= h <= last)
            for hour in hours:
                if not has_history(first_post.get(key), hour, min_hours=min_hours):
                    continue
                history = [
                    counts.get(hour - timedelta(hours=h), 0) for h in range(1, BASELINE_HOURS + 1)
                ]
                count = counts.get(hour, 0)
                mean, z = spike_score(count, history)
                if is_spike(count, mean, z):
                    in_sealed = dimension == Spike.Dimension.DEPARTMENT and key in sealed
                    related_from = {} if in_sealed else vocabularies
                    found.append(_record(dimension, key, hour, count, mean, z, related_from))
                    if newest_only:
                        break
    return found


def _spike_items_sql(dimension: str, key: str, hour: datetime, *, column: str) -> str:
    """The spike hour's posts in its scope (an _items_sql), selecting `column`."""
    end = hour + timedelta(hours=1)
    if dimension == "department":
        dept = Department.objects.filter(slug=key).first()
        return _items_sql(
            department_id=dept.pk if dept else None, start=hour, end=end, column=column
        )
    if dimension == "source":
        from feedback.models import Source

        source_id = Source.objects.filter(slug=key).values_list("pk", flat=True).first() or 0
        extra = f"AND i.source_id = {int(source_id)}"
    else:
        # Intent names are our own fixed vocabulary (routing.enrichment); still, keep only
        # letters and underscores before they go into the ts_stat query text.
        safe = "".join(ch for ch in key if ch.isalpha() or ch == "_")
        extra = f"AND '{safe}' = ANY(i.intents)"
    return _items_sql(department_id=None, start=hour, end=end, extra=extra, column=column)


def _spike_terms(dimension: str, key: str, hour: datetime) -> tuple[list[str], list[str]]:
    """(the spike hour's top stems, the same as people wrote them): the stems are for
    matching other departments' vocabularies (stems too), the words are what is shown."""
    query = _spike_items_sql(dimension, key, hour, column="i.search_vector")
    stems = list(_term_counts(query, limit=10)[0])[:10]
    words = surface_words(_spike_items_sql(dimension, key, hour, column="i.body"), stems)
    return stems, [words.get(stem, stem) for stem in stems]


def _record(dimension, key, hour, count, mean, z, vocabularies) -> Spike:
    """Store the spike; `related` are the departments of `vocabularies` (slug: usual terms)
    that share one of its top words. Its terms are stored as people wrote them."""
    stems, terms = _spike_terms(dimension, key, hour)
    related = sorted(
        scope
        for scope, vocabulary in vocabularies.items()
        if scope != key and vocabulary & set(stems[:5])
    )
    with transaction.atomic():
        spike, _ = Spike.objects.update_or_create(
            dimension=dimension,
            key=key,
            hour=hour,
            defaults={
                "count": count,
                "baseline": round(mean, 2),
                "zscore": round(z, 2),
                "terms": terms,
                "related": related,
            },
        )
    return spike


def _notify(spike: Spike, *, sealed: set[str]) -> None:
    """Email the managers of the departments concerned, once per spike; emit a webhook.

    A sealed department's spike concerns that department alone: its managers get the mail
    and the event names only it, so webhook_emit sends it only to subscriptions that name
    it. `sealed` are the sealed departments' slugs."""
    won = Spike.objects.filter(pk=spike.pk, notified_at__isnull=True).update(
        notified_at=timezone.now()
    )
    if not won:
        return
    if spike.dimension == Spike.Dimension.DEPARTMENT and spike.key in sealed:
        slugs = {spike.key}
    else:
        slugs = set(spike.related)  # never a sealed one (see spikes_detect)
        if spike.dimension == Spike.Dimension.DEPARTMENT:
            slugs.add(spike.key)
    managers = Membership.objects.filter(role="manager", department__slug__in=slugs).select_related(
        "user", "department"
    )
    if spike.dimension != Spike.Dimension.DEPARTMENT and not slugs:
        # Source and intent spikes count only items everyone may see (see _HOURLY).
        managers = Membership.objects.filter(role="manager").select_related("user", "department")
    subject = f"[Switchboard] Spike for {spike.dimension} {spike.key}: {spike.reason}"
    body = (
        f"Spike for {spike.dimension} '{spike.key}' between {spike.hour:%Y-%m-%d %H:00} and "
        f"{spike.hour + timedelta(hours=1):%H:00} UTC: {spike.reason}.\n"
        f"Expected is the mean of the {BASELINE_HOURS} hours before; z is how many spreads "
        f"above it the hour stands.\nWords: {', '.join(spike.terms)}\n"
    )
    recipients = sorted({m.user.email for m in managers if m.user.email})
    if recipients:
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
        except Exception:  # an unreachable mail server must not lose the spike or the webhook
            logger.warning("could not mail spike %s", spike.pk, exc_info=True)
    try:
        from webhooks.payloads import payload_spike_detected
        from webhooks.services import webhook_emit
    except ImportError:  # the webhooks app is optional for this feature
        return
    webhook_emit(
        event="spike.detected",
        payload=payload_spike_detected(spike=spike),
        departments=sorted(slugs),
    )


def _pct(value) -> str:
    return f"{value * 100:.0f}%" if value is not None else "n/a"


def _hours(value) -> str:
    """A duration as the dashboards write it ("1 h 12 m"), or "n/a"."""
    from departments.templatetags.workspace import hours_human

    return hours_human(value) if value is not None else "n/a"


def digest_context(user, department: Department, *, now: datetime) -> dict | None:
    """What one manager's weekly digest shows for one department, read as that manager
    (their visible cases and spikes only); None when they cannot see the department."""
    from django.http import QueryDict
    from django.urls import reverse
    from django.utils.http import urlencode

    from departments.dashboards import drill_url
    from departments.metrics import DashboardFilter, overview, spikes_for, themes_for
    from departments.models import Case

    query = QueryDict(mutable=True)
    query["since"] = (now - timedelta(days=6)).date().isoformat()
    query["until"] = now.date().isoformat()
    query.setlist("department", [str(department.pk)])
    flt = DashboardFilter.from_query(query)
    data = overview(user, flt)
    row = next((d for d in data["departments"] if d["department"].pk == department.pk), None)
    if row is None:
        return None
    site = settings.SITE_URL
    week = urlencode({"since": query["since"], "until": query["until"]})
    themes = themes_for(department.slug)
    return {
        "department": department,
        "start": flt.start,
        "end": flt.end,
        "row": row,
        "numbers": [
            ("New cases", str(row["cases"])),
            ("Open now", str(row["open"])),
            ("Oldest open", _hours(row["oldest_open_age_hours"])),
            ("First response within SLA", _pct(row["first_response_sla"])),
            ("Median first response", _hours(row["median_first_response_hours"])),
            ("Resolution within SLA", _pct(row["resolution_sla"])),
            ("Median resolution", _hours(row["median_resolution_hours"])),
            ("Shared with other departments", _pct(row["multi_department_share"])),
        ],
        "sentiment": row["sentiment"],
        "terms": (themes.terms[:8] if themes else []),
        "spikes": spikes_for(user, department=department)[:10],
        "dashboard_url": f"{site}{reverse('dashboards:department', args=[department.slug])}?{week}",
        "overview_url": f"{site}{reverse('dashboards:overview')}?{week}",
        "open_url": site + drill_url(department=department.slug, status=list(Case.OPEN_STATUSES)),
    }


def digest_message(user, department: Department, *, now: datetime):
    """The digest as an email with a plain-text body and an HTML alternative."""
    from django.core.mail import EmailMultiAlternatives
    from django.template.loader import render_to_string

    context = digest_context(user, department, now=now)
    if context is None:
        return None
    message = EmailMultiAlternatives(
        f"[Switchboard] {department.name}: your week",
        render_to_string("email/digest.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
    )
    message.attach_alternative(render_to_string("email/digest.html", context), "text/html")
    return message


def digest_send(*, now: datetime | None = None) -> int:
    """Email each manager their department's last seven days: numbers, rising terms,
    spikes and links into the dashboards."""
    from django.contrib.auth import get_user_model

    now = now or timezone.now()
    sent = 0
    for membership in Membership.objects.filter(role="manager").select_related(
        "user", "department"
    ):
        if not membership.user.email:
            continue
        user = get_user_model().objects.get(pk=membership.user_id)
        message = digest_message(user, membership.department, now=now)
        if message is None:
            continue
        message.send(fail_silently=False)
        sent += 1
    return sent
