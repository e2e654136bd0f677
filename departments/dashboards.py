"""Manager dashboards: the cross-silo overview, one page per department, handoffs, routing
quality, drill-down to the cases behind any number, and a streamed CSV export."""

import csv
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

from departments import metrics
from departments.filters import CaseFilter
from departments.flow_diagram import handoff_diagram
from departments.models import Case, Membership
from departments.rollups import rollups_as_of, rollups_request_refresh
from departments.selectors import (
    capped_count,
    cases_visible_to,
    items_visible_to,
    user_sees_everything,
)
from feedback.models import Source
from privacy.services import sealed_access_record

DEPARTMENT_COLOURS_FALLBACK = "#607d8b"


def _require_manager(user) -> None:
    if user_sees_everything(user):
        return
    if not Membership.objects.filter(user=user, role=Membership.Role.MANAGER).exists():
        raise PermissionDenied("Dashboards are for managers.")


def drill_url(**params) -> str:
    """The list of cases behind a number: same filters, as a query string."""
    query = []
    for key, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        query += [(key, str(v)) for v in values if v not in (None, "")]
    return f"{reverse('dashboards:items')}?{urlencode(query)}"


def _base_context(request, flt):
    return {
        "flt": flt,
        "sources": Source.objects.order_by("name"),
        "all_departments": metrics.visible_departments(request.user),
        "query": request.GET.urlencode(),
    }


def _range(flt, dept=None, **extra) -> dict:
    params = {
        "since": flt.start.isoformat(),
        "until": (flt.end + timedelta(days=1)).isoformat(),
        **extra,
    }
    if dept is not None:
        params["department"] = dept.slug
    if flt.sources:
        params["source"] = [s.slug for s in Source.objects.filter(pk__in=flt.sources)]
    return params


def _chart_data(data, flt) -> dict:
    """What dashboards.js draws; each point carries the URL of its drill-down list."""
    days = [d.isoformat() for d in data["days"]]
    volume, sentiment, sla = [], [], []
    for row in data["departments"]:
        dept = row["department"]
        colour = dept.colour or DEPARTMENT_COLOURS_FALLBACK
        volume.append(
            {
                "label": dept.name,
                "colour": colour,
                "values": [n for _, n in row["volume_by_day"]],
                "links": [
                    drill_url(
                        **_range(flt, dept)
                        | {"since": d.isoformat(), "until": (d + timedelta(days=1)).isoformat()}
                    )
                    for d, _ in row["volume_by_day"]
                ],
            }
        )
        sentiment.append(
            {
                "label": dept.name,
                "values": [row["sentiment"][k] for k in ("negative", "neutral", "positive")],
                "links": [
                    drill_url(**_range(flt, dept, sentiment=k))
                    for k in ("negative", "neutral", "positive")
                ],
            }
        )
        sla.append(
            {
                "label": dept.name,
                "colour": colour,
                "values": [
                    round((row["first_response_sla"] or 0) * 100, 1),
                    round((row["resolution_sla"] or 0) * 100, 1),
                ],
                "links": [
                    drill_url(**_range(flt, dept, first_response="missed")),
                    drill_url(**_range(flt, dept, resolution="missed")),
                ],
            }
        )
    return {"days": days, "volume": volume, "sentiment": sentiment, "sla": sla}


def _links(data, flt) -> None:
    for row in data["departments"]:
        dept = row["department"]
        row["links"] = {
            "cases": drill_url(**_range(flt, dept)),
            "open": drill_url(department=dept.slug, status=list(Case.OPEN_STATUSES)),
            "fr_missed": drill_url(**_range(flt, dept, first_response="missed")),
            "res_missed": drill_url(**_range(flt, dept, resolution="missed")),
            "negative": drill_url(**_range(flt, dept, sentiment="negative")),
        }


def _as_of(now=None) -> dict:
    """How current the rollups behind a page are: 'as of' time, and whether they are older
    than the refresh interval."""
    now = now or timezone.now()
    as_of = rollups_as_of()
    age = None if as_of is None else (now - as_of).total_seconds()
    stale = age is None or age > settings.ROLLUPS_REFRESH_EVERY
    ago = "" if age is None else "just now" if age < 60 else f"{timesince(as_of, now)} ago"
    return {"as_of": as_of, "as_of_ago": ago, "as_of_stale": stale}


def _render_with_rollups(request, template: str, context: dict):
    """Render a rollup-backed page; when its rollups are stale, ask for a refresh once the
    response has gone out (the page never waits for it, nor fails with the broker down)."""
    response = render(request, template, context)
    if context["as_of_stale"]:
        as_of = context["as_of"]
        # Run by HttpResponse.close(), which the server calls after sending the body.
        response._resource_closers.append(lambda: rollups_request_refresh(as_of))
    return response


def _triage_chart(history: list[dict]) -> dict:
    """The triage inbox over time for dashboards.js: posts waiting at the end of each day,
    and the median and 90th percentile of how long they had waited (hours)."""
    return {
        "days": [row["day"].isoformat() for row in history],
        "waiting": [row["waiting"] for row in history],
        "median": [row["median_age_hours"] for row in history],
        "p90": [row["p90_age_hours"] for row in history],
    }


@login_required
def overview(request):
    _require_manager(request.user)
    flt = metrics.DashboardFilter.from_query(request.GET)
    data = metrics.overview(request.user, flt)
    _links(data, flt)
    context = {
        **_base_context(request, flt),
        "data": data,
        "charts": _chart_data(data, flt) | {"triage": _triage_chart(data["triage_history"])},
        "triage_waited": any(row["waiting"] for row in data["triage_history"]),
        "spikes": metrics.spikes_for(request.user),
        "themes": metrics.themes_for("all"),
        **_as_of(),
    }
    return _render_with_rollups(request, "dashboards/overview.html", context)


@login_required
def department(request, slug: str):
    _require_manager(request.user)
    dept = next((d for d in metrics.visible_departments(request.user) if d.slug == slug), None)
    if dept is None:
        raise Http404
    query = request.GET.copy()
    query.setlist("department", [str(dept.pk)])
    flt = metrics.DashboardFilter.from_query(query)
    data = metrics.overview(request.user, flt)
    _links(data, flt)
    context = {
        **_base_context(request, flt),
        "dept": dept,
        "data": data,
        "row": data["departments"][0] if data["departments"] else None,
        "charts": _chart_data(data, flt),
        "spikes": metrics.spikes_for(request.user, department=dept),
        "themes": metrics.themes_for(dept.slug),
        **_as_of(),
    }
    return _render_with_rollups(request, "dashboards/department.html", context)


@login_required
def handoffs(request):
    _require_manager(request.user)
    flt = metrics.DashboardFilter.from_query(request.GET)
    data = metrics.handoffs(request.user, flt)
    for cell in data["matrix"]:
        cell["link"] = (
            drill_url(**_range(flt, cell["from"]), routed_by="person")
            if cell["kind"] == "rerouted"
            else drill_url(**_range(flt, cell["to"]), routed_by="person")
        )
    context = {
        **_base_context(request, flt),
        "data": data,
        # Drawn from the matrix itself: the same cells, already scoped to the viewer.
        "diagram": handoff_diagram(data["matrix"]),
    }
    return render(request, "dashboards/handoffs.html", context)


@login_required
def quality(request):
    _require_manager(request.user)
    flt = metrics.DashboardFilter.from_query(request.GET)
    data = metrics.routing_quality(request.user, flt)
    return render(request, "dashboards/quality.html", {**_base_context(request, flt), "data": data})


def _drill_queryset(request):
    base = (
        cases_visible_to(request.user)
        .filter(item__in=items_visible_to(request.user).values("pk"))
        .select_related("item", "item__source", "department", "assignee")
    )
    filterset = CaseFilter(request.GET, queryset=base, request=request)
    if not filterset.is_valid():
        return filterset, base.none()
    return filterset, filterset.qs.order_by("-created_at", "-pk")


@login_required
def items(request):
    """The cases behind a number or a chart segment."""
    _require_manager(request.user)
    filterset, rows = _drill_queryset(request)
    raw_page = request.GET.get("page", "1")
    # isascii(): "²".isdigit() is true but int() refuses it (and 5,000 digits, too).
    digits = raw_page.isascii() and raw_page.isdigit() and len(raw_page) <= 9
    page = max(1, min(200, int(raw_page))) if digits else 1
    cases = list(rows[(page - 1) * 100 : page * 100 + 1])
    total, more = capped_count(rows)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "dashboards/items.html",
        {
            "cases": cases[:100],
            "has_next": len(cases) > 100,
            "page": page,
            "total": total,
            "total_more": more,
            "filterset": filterset,
            "query": query.urlencode(),
        },
    )


class _Echo:
    def write(self, value):
        return value


EXPORT_COLUMNS = [
    "case_id",
    "item_id",
    "department",
    "status",
    "priority",
    "routed_by",
    "source",
    "sentiment",
    "created_at",
    "first_response_at",
    "resolved_at",
    "due_at",
    "resolution_due_at",
    "assignee",
    "tags",
    "body",
]


@login_required
def export(request):
    """Every case behind the current filters, one CSV line per case, streamed so a large
    export never sits in memory."""
    _require_manager(request.user)
    _, rows = _drill_queryset(request)
    sealed_access_record(viewer=request.user, cases=rows, via="export")
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(EXPORT_COLUMNS)
        for case in rows.iterator(chunk_size=2000):
            body = case.item.body.replace("\n", " ")
            # A leading =, +, - or @ would be a formula in a spreadsheet: neutralize it.
            if body[:1] in ("=", "+", "-", "@"):
                body = "'" + body
            yield writer.writerow(
                [
                    case.pk,
                    case.item_id,
                    case.department.slug,
                    case.status,
                    case.priority,
                    case.routed_by,
                    case.item.source.slug,
                    case.item.sentiment_label,
                    case.created_at.isoformat(),
                    _iso(case.first_response_at),
                    _iso(case.resolved_at),
                    _iso(case.due_at),
                    _iso(case.resolution_due_at),
                    case.assignee.get_username() if case.assignee else "",
                    " ".join(case.tags),
                    body,
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="switchboard-cases.csv"'
    return response


def _iso(value) -> str:
    return value.isoformat() if value else ""
