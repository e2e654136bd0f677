"""The triage workspace: queues, the item page, and every action done in place (htmx).

Views are thin: they read through selectors (which apply the one access check) and change
state only through departments.services. Each action answers an htmx request with the
fragment it changed and a plain request with a redirect, so everything also works without
JavaScript.
"""

from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Case as CaseWhen
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Value, When
from django.http import Http404, HttpResponseBadRequest, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from departments import services, undo
from departments.access import item_scores, viewer_of
from departments.filters import CaseFilter
from departments.models import Case, CaseView, Department, Membership, SavedView
from departments.presence import presence_many, presence_others, presence_touch
from departments.rows import rows_prepare
from departments.selectors import (
    author_other_posts,
    can_act_on,
    capped_counts,
    departments_for,
    departments_list_for,
    item_timeline,
    saved_views_for,
    user_department_ids,
)
from departments.triage import (
    NO_SUGGESTION,
    age_short,
    item_suggestions,
    items_for_rows,
    triage_departments,
    triage_list,
)
from departments.triage import WINDOW as TRIAGE_WINDOW
from feedback.filters import FeedbackItemFilter
from feedback.models import FeedbackItem
from privacy.services import sealed_access_record

PAGE_SIZE = 50
MAX_PAGE = 200  # deeper than 10,000 rows, filter instead: offsets get slow at that depth
# The first is the default: breaching soonest first (the next SLA due time, read in order
# from the partial index case_open_next_due), then cases without a running clock, newest
# first.
SORTS = {
    "due": (F("sla_due_at").asc(nulls_last=True), "-created_at", "-pk"),
    "newest": ("-created_at", "-pk"),
    "oldest": ("created_at", "pk"),
    "priority": ("-priority_rank", "-created_at", "-pk"),
}
SORT_LABELS = {
    "due": "breaching soon",
    "newest": "newest",
    "oldest": "oldest",
    "priority": "priority",
}
DEFAULT_SORT = next(iter(SORTS))
PRIORITY_RANK = CaseWhen(
    When(priority="urgent", then=Value(3)),
    When(priority="high", then=Value(2)),
    When(priority="normal", then=Value(1)),
    default=Value(0),
    output_field=IntegerField(),
)


def _page_number(params) -> int:
    try:
        return max(1, min(MAX_PAGE, int(params.get("page", 1))))
    except ValueError:
        return 1


# The sidebar's counts stop at "99+", as an inbox's badges do: the sidebar is on every
# page, and each count through the access rules costs per row counted. The pages behind
# them count further (999+).
NAV_COUNT_CAP = 99


def _nav_counted(request) -> tuple[list[SavedView], dict]:
    """The sidebar's saved views, and the querysets behind its counts by name (the triage
    inbox's, each saved view's), for `_nav` or a page that counts them with its own."""
    user = request.user
    views = saved_views_for(user)
    querysets = {
        "triage": FeedbackItem.objects.visible_to(user).filter(
            state=FeedbackItem.State.TRIAGE, triage_department__isnull=True
        )
    }
    for view in views:
        # Through the access check: membership may have ended since the view was saved.
        base = Case.objects.visible_to(user)
        if view.department:
            base = base.filter(department=view.department)
        # A QueryDict, as the queue reads it: a dict of lists would hand each filter a list
        # ("since=" from a live search's query broke the date field).
        data = QueryDict(view.query, mutable=True)
        if "status" not in data:
            data.setlist("status", list(Case.OPEN_STATUSES))
        querysets[f"view-{view.pk}"] = CaseFilter(data, queryset=base, request=request).qs
    return views, querysets


def _nav(
    request,
    departments: list[Department] | None = None,
    counted: tuple[list[SavedView], dict] | None = None,
) -> dict:
    """What the sidebar shows on every workspace page (`departments`: the user's, when the
    caller has read them already; `counted`: its saved views and their counts, when the
    caller counted them in its own query, as the queue page does)."""
    user = request.user
    if counted is None:
        views, querysets = _nav_counted(request)
        counts = capped_counts(querysets, cap=NAV_COUNT_CAP)
    else:
        views, counts = counted
    for view in views:
        view.count, view.more = counts[f"view-{view.pk}"]
    if departments is None:
        departments = departments_list_for(user)
    return {
        "nav_departments": departments,
        "nav_triage_count": counts["triage"],
        "nav_sealed_triage": _sealed_triage_counts(user, departments),
        "saved_views": views,
    }


@login_required
def home(request):
    """Agents land on their department's queue; staff in no department (an admin who works
    across departments) on the shared triage inbox; other people in no department see why."""
    mine = user_department_ids(request.user)
    first = next((d for d in departments_for(request.user) if d.pk in mine), None)
    if first is not None:
        return redirect("departments:queue", slug=first.slug)
    if request.user.is_staff:
        # Not the alphabetically first queue (HR, a sealed one): the inbox every department
        # shares is where a cross-department admin's work starts.
        return redirect("departments:triage")
    return render(request, "departments/no_department.html", _nav(request))


def _queue_rows(request, department: Department, params):
    """A queue's filter and its rows in order, from the queue's query string: the queue
    page and the item page's previous / next links read the same list."""
    data = params.copy()
    if "status" not in data:
        data.setlist("status", list(Case.OPEN_STATUSES))
    base = (
        Case.objects.visible_to(request.user)
        .filter(department=department)
        # What a row shows (departments/rows.py): not the source, a join fewer per page.
        .select_related("item", "item__author", "assignee")
    )
    filterset = CaseFilter(data, queryset=base, request=request)
    sort = params.get("sort", DEFAULT_SORT)
    if sort not in SORTS:
        sort = DEFAULT_SORT
    rows = filterset.qs if filterset.is_valid() else base.none()
    if sort == "priority":
        rows = rows.annotate(priority_rank=PRIORITY_RANK)
    return filterset, rows.order_by(*SORTS[sort]), sort


# The one-click views above a queue's rows: a name and the filter it applies ("me" stands
# for the viewer's username). Each counts through the same CaseFilter as the rows.
QUEUE_VIEWS = [
    ("all", "All open", {}),
    ("mine", "Mine", {"assignee": "me"}),
    ("unassigned", "Unassigned", {"assignee": "none"}),
    ("breaching", "Breaching", {"sla": "breaching"}),
]
# The filters behind the filter bar's "More" menu (text and dates).
MORE_FILTERS = ("tag", "source", "language", "since", "until")
# Query parameters that do not change which cases a queue lists.
NOT_FILTERS = ("page", "open", "sort")


def _filter_params(params) -> dict[str, list[str]]:
    return {
        key: [v for v in values if v]
        for key, values in params.lists()
        if key not in NOT_FILTERS and any(values)
    }


def _queue_views(request, filterset, params, total=None, also=None) -> tuple:
    """The view chips with their counts (one query for all of them), the one whose filter
    is the current one marked active. `total`, when given, is counted in the same query,
    and so are the querysets in `also` (the sidebar's, to the sidebar's cap): returns the
    views, the total and the counts of `also`.

    Each chip counts through the page's own CaseFilter (`filterset`: its filters, applied
    to its base queryset, the department's cases this viewer may see), so a chip's count is
    what clicking it lists; building a FilterSet per chip cost more than its count."""
    current = _filter_params(params)
    sort = params.get("sort")
    open_cases = filterset.filters["status"].filter(filterset.queryset, list(Case.OPEN_STATUSES))
    views, querysets = [], {}
    for key, label, view_filter in QUEUE_VIEWS:
        wanted = {
            name: request.user.get_username() if value == "me" else value
            for name, value in view_filter.items()
        }
        query = QueryDict(mutable=True)
        rows = open_cases
        for name, value in wanted.items():
            query[name] = value
            rows = filterset.filters[name].filter(rows, value)
        if sort:
            query["sort"] = sort
        querysets[key] = rows
        views.append(
            {
                "key": key,
                "label": label,
                "query": query.urlencode(),
                "active": current == {name: [value] for name, value in wanted.items()},
            }
        )
    if total is not None:
        querysets["_total"] = total
    also = {f"also:{name}": queryset for name, queryset in (also or {}).items()}
    counts = capped_counts({**querysets, **also}, cap=999, caps=dict.fromkeys(also, NAV_COUNT_CAP))
    for view in views:
        view["count"], view["more"] = counts[view["key"]]
    also_counts = {name.removeprefix("also:"): counts[name] for name in also}
    return views, counts.get("_total"), also_counts


def _filter_menus(filterset, params, teammates: list[str]) -> list[dict]:
    """The filter bar's compact menus: each a chip that opens a list of checkboxes (several
    values) or radio buttons (one), over the same GET form the queue always had."""
    form = filterset.form

    def menu(name, label, choices, multiple, empty=""):
        chosen = params.getlist(name) if multiple else [params.get(name, "")]
        options = [(value, text, value in chosen) for value, text in choices]
        picked = [text for value, text, on in options if on and value]
        return {
            "name": name,
            "label": label,
            "multiple": multiple,
            "empty": empty,
            "options": options,
            "summary": ", ".join(picked) if picked else empty,
            "active": bool(picked),
        }

    def choices(name):
        return [(str(v), str(t)) for v, t in form.fields[name].choices if v != ""]

    people = [(name, name) for name in teammates]
    return [
        menu("status", "Status", choices("status"), True, empty="open"),
        menu("priority", "Priority", choices("priority"), True),
        menu(
            "assignee",
            "Assignee",
            [("", "Anyone"), ("none", "Unassigned"), *people],
            False,
        ),
        menu("sla", "SLA", [("", "Any"), *choices("sla")], False),
        menu("sentiment", "Sentiment", [("", "Any"), *choices("sentiment")], False),
        menu("routed_by", "Routed by", choices("routed_by"), True),
    ]


def _open_param(params) -> int | None:
    value = params.get("open", "")
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def _row_links(department: Department, params) -> dict:
    """What a queue row links to: the full item page (naming this queue, for its previous /
    next) and the queue itself with the item open in the reading pane (`pane_base` ends in
    ? or &, the row appends open=<item>)."""
    query = params.copy()
    query.pop("open", None)
    path = reverse("departments:queue", args=[department.slug])
    listing = f"{path}?{query.urlencode()}" if query else path
    return {
        "item_from": urlencode({"from": listing}),
        "pane_base": f"{path}?{query.urlencode()}&" if query else f"{path}?",
    }


def _reading_pane(request, department: Department, item_id: int) -> dict:
    """The item page's content for the queue's reading pane: read, logged and marked seen
    exactly as the item page is."""
    item = _visible_item(request, item_id)
    presence_touch(item_id=item.pk, user=request.user)
    context = _item_context(request, item)
    sealed_access_record(viewer=request.user, cases=context["cases"], via="page")
    services.cases_mark_seen(user=request.user, cases=context["cases"])
    links = _row_links(department, request.GET)
    context["full_url"] = f"{reverse('departments:item', args=[item.pk])}?{links['item_from']}"
    context["close_url"] = links["pane_base"].rstrip("?&")
    return context


def _with_seen(rows, user):
    """Annotate `seen`: the user opened the case after its last change (else it is unread)."""
    return rows.annotate(
        seen=Exists(
            CaseView.objects.filter(
                user=user, case=OuterRef("pk"), seen_at__gte=OuterRef("updated_at")
            )
        )
    )


@login_required
def queue(request, slug: str):
    departments = departments_list_for(request.user)
    department = next((d for d in departments if d.slug == slug), None)
    if department is None:
        raise Http404
    open_id = _open_param(request.GET)
    if request.htmx and request.htmx.target == "reading-pane":
        if open_id is None:
            raise Http404
        return render(
            request,
            "departments/_reading_pane.html",
            _reading_pane(request, department, open_id),
        )
    filterset, rows, sort = _queue_rows(request, department, request.GET)
    page = _page_number(request.GET)
    cases = list(_with_seen(rows, request.user)[(page - 1) * PAGE_SIZE : page * PAGE_SIZE + 1])
    has_next = len(cases) > PAGE_SIZE
    cases = cases[:PAGE_SIZE]
    searching = filterset.form.cleaned_data.get("q") if filterset.is_valid() else False
    # The view chips and the sidebar's counts (on a whole page) are counted in one query.
    rows_only = bool(request.htmx and request.htmx.target == "queue-rows")
    nav_views, nav_querysets = ([], {}) if rows_only else _nav_counted(request)
    views, total, nav_counts = _queue_views(
        request, filterset, request.GET, None if searching else rows, also=nav_querysets
    )
    if searching:
        # Counting every match of a common search word costs far more than the page itself
        # (a full-text hit list of 100,000+ posts): searches show no total.
        # Unless the matches fit on the pages seen so far: then the rows are the count.
        if has_next:
            total = page * PAGE_SIZE, True
        else:
            total = (page - 1) * PAGE_SIZE + len(cases), False
    viewers = presence_many(item_ids=[c.item_id for c in cases], user=request.user)
    links = _row_links(department, request.GET)
    for case in cases:
        case.viewers = viewers.get(case.item_id, [])
    can_act = can_act_on(request.user, Case(department=department))
    rows_prepare(cases, links, can_act=can_act, open_id=open_id)
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("open", None)
    # In a stable order: the assignee menu must not change with how rows sit on disk.
    teammates = list(
        Membership.objects.filter(department=department)
        .order_by("user__username", "pk")
        .values_list("user__username", flat=True)
    )
    context = {
        "department": department,
        "filterset": filterset,
        "cases": cases,
        "sort": sort,
        "sorts": SORT_LABELS.items(),
        "page": page,
        "has_next": has_next,
        "total": total[0],
        "total_more": total[1],
        "query": query.urlencode(),
        "views": views,
        "menus": _filter_menus(filterset, request.GET, teammates),
        "more_active": sum(1 for name in MORE_FILTERS if request.GET.get(name)),
        "open_id": open_id,
        **links,
        "can_act": can_act,
    }
    if rows_only:
        # The rows, and out of band the header's count, the view chips, the filter menus'
        # summaries and the query the "Save view" and bulk forms send: all follow the rows.
        return render(request, "departments/_queue_rows.html", context)
    if open_id is not None:
        # Reloading /queue/<slug>/?open=<item> opens the reading pane again (unless the item
        # is gone or out of sight: then the queue shows without it).
        try:
            pane = _reading_pane(request, department, open_id)
        except Http404:
            context["open_id"] = None
        else:
            context["pane_html"] = render_to_string(
                "departments/_reading_pane.html", pane, request=request
            )
    return render(
        request,
        "departments/queue.html",
        {**context, **_nav(request, departments=departments, counted=(nav_views, nav_counts))},
    )


def _check_triage_reader(request) -> None:
    if not (user_department_ids(request.user) or request.user.is_staff):
        raise Http404


def _triage_context(request, params) -> dict:
    """The inbox as `params` (the page's query string) asks for it: a sealed department's
    own triage (`inbox`), the item filters, the suggestion chip (`suggest`), the page."""
    base = FeedbackItem.objects.visible_to(request.user)
    sealed = None
    if params.get("inbox"):
        # A sealed department's own triage: its members (and superusers) only.
        sealed = get_object_or_404(
            departments_for(request.user).filter(sealed=True), slug=params["inbox"]
        )
    base = base.filter(triage_department=sealed)
    data = params.copy()
    data.setdefault("state", FeedbackItem.State.TRIAGE)
    filterset = FeedbackItemFilter(data, queryset=base, request=request)
    departments = triage_departments()
    suggest = params.get("suggest", "")
    # Only a suggestion this viewer can be shown is a filter: a hidden department's slug
    # is refused exactly like one that does not exist.
    viewer = viewer_of(request.user)
    visible = {slug for slug, d in departments.items() if viewer.may_see_department(d.pk)}
    bad_suggest = bool(suggest) and suggest not in visible | {NO_SUGGESTION}
    inbox = triage_list(
        request.user,
        filterset.qs if filterset.is_valid() else base.none(),
        departments=departments,
        suggest="" if bad_suggest else suggest,
    )
    page = _page_number(params)
    rows = inbox.rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    now = timezone.now()
    for row in rows:
        row.age = age_short(row.item.received_at, now)
    keep = params.copy()
    keep.pop("page", None)
    chips = keep.copy()
    chips.pop("suggest", None)
    return {
        "rows": rows,
        "counts": inbox.counts,
        "total": inbox.total,
        "truncated": inbox.truncated,
        "window": TRIAGE_WINDOW,
        "suggest": "" if bad_suggest else suggest,
        "suggest_error": "No such suggestion." if bad_suggest else "",
        "has_next": len(inbox.rows) > page * PAGE_SIZE,
        "page": page,
        "filterset": filterset,
        "departments": list(departments.values()),
        "sealed_inbox": sealed,
        "query": keep.urlencode(),
        "chip_query": chips.urlencode(),
    }


@login_required
def triage(request):
    """The shared triage inbox: items no department was sure about; any staff can route."""
    _check_triage_reader(request)
    context = _triage_context(request, request.GET)
    status = 400 if context["suggest_error"] else 200
    if request.htmx and request.htmx.target == "triage-list":
        return render(request, "departments/triage.html#list", context, status=status)
    return render(request, "departments/triage.html", {**context, **_nav(request)}, status=status)


TRIAGE_ACT_MAX = 500  # posts per action: a page of groups, with room to spare


@login_required
@require_POST
def triage_act(request):
    """Accept the suggestion for, route, or mark as noise the posted rows (each a post or a
    group of posts that say the same thing): one service call per post. Answers htmx with
    the list as the query string of the URL asks for it, and the sidebar's counts."""
    _check_triage_reader(request)
    action = request.POST.get("action", "")
    if action not in ("accept", "route", "noise"):
        return HttpResponseBadRequest("Choose accept, route or noise.")
    try:
        groups = items_for_rows(request.user, request.POST.getlist("row"), TRIAGE_ACT_MAX)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc))
    departments = triage_departments()
    chosen = None
    if action == "route":
        chosen = departments.get(request.POST.get("department", ""))
        if chosen is None:
            return HttpResponseBadRequest("Choose a department.")
    done = skipped = 0
    error = ""
    for group in groups:
        if not group:
            continue
        target = chosen
        if action == "accept":
            # The suggestion the row showed: its first post's, as this viewer sees it.
            suggestion = next(iter(item_suggestions(request.user, group[0], departments)), None)
            if suggestion is None:
                error = "A post without a suggestion needs a department: pick one (d)."
                continue
            target = departments[suggestion.slug]
        try:
            outcome = services.triage_decide(
                items=group,
                actor=request.user,
                action="noise" if action == "noise" else "route",
                department=target,
            )
        except services.ActionError as exc:
            error = str(exc)
            continue
        done += outcome.done
        skipped += outcome.skipped
    summary = _triage_summary(action, done, skipped, chosen)
    if not request.htmx:
        if done or skipped:
            messages.success(request, summary)
        if error:
            messages.error(request, error)
        return redirect(f"{reverse('departments:triage')}?{request.GET.urlencode()}")
    context = {
        **_triage_context(request, request.GET),
        **_nav(request),
        "summary": summary,
        "action_error": error,
    }
    return render(request, "departments/_triage_changed.html", context)


def _triage_summary(action: str, done: int, skipped: int, department) -> str:
    if not done and not skipped:
        return ""
    posts = f"{done} post{'s' if done != 1 else ''}"
    text = {
        "accept": f"Routed {posts} as suggested.",
        "route": f"Routed {posts} to {department.name if department else ''}.",
        "noise": f"Marked {posts} as noise.",
    }[action]
    if skipped:
        # Someone else routed them meanwhile (or the list showed routed posts: ?state=).
        text += f" {skipped} {'was' if skipped == 1 else 'were'} no longer waiting in triage."
    return text


def _sealed_triage_counts(user, departments) -> list[tuple[Department, int]]:
    """The sealed departments' own triage inboxes among `departments` (those the user
    works), with their sizes."""
    sealed = [d for d in departments if d.sealed]
    if not sealed:
        return []
    counts = dict(
        FeedbackItem.objects.visible_to(user)
        .filter(state=FeedbackItem.State.TRIAGE, triage_department__in=sealed)
        .values_list("triage_department")
        .annotate(n=Count("pk"))
    )
    return [(d, counts.get(d.pk, 0)) for d in sealed]


def _item_context(request, item: FeedbackItem, error: str = "") -> dict:
    user = request.user
    cases = list(
        Case.objects.visible_to(user).filter(item=item).select_related("department", "assignee")
    )
    for case in cases:
        case.can_act = can_act_on(user, case)
        case.teammates = (
            [
                m.user
                for m in Membership.objects.filter(department=case.department)
                .select_related("user")
                .order_by("user__username", "pk")
            ]
            if case.can_act
            else []
        )
    departments = list(Department.objects.order_by("name"))
    # Scores are keyed by slug; show the department's own name ("HR", not "Hr").
    names = {d.slug: d.name for d in departments}
    scores = sorted(
        (
            (names.get(label, label.capitalize()), score)
            for label, score in item_scores(user, item).items()
        ),
        key=lambda kv: -kv[1],
    )
    return {
        "item": item,
        "cases": cases,
        "my_cases": [c for c in cases if c.can_act],
        "timeline": item_timeline(user, item),
        "scores": scores,
        "other_posts": author_other_posts(user, item),
        "departments": departments,
        "error": error,
        "dismiss_reasons": services.DISMISS_REASONS,
        "priorities": FeedbackItem.Priority.choices,
        # Someone in several departments files a note in one of them (a sealed one keeps
        # it inside): the departments with a case here come first.
        "note_departments": sorted(
            Department.objects.filter(pk__in=user_department_ids(user)),
            key=lambda d: (d.pk not in {c.department_id for c in cases}, d.name),
        ),
        "viewers": presence_others(item_id=item.pk, user=user),
    }


def _queue_neighbours(request, item: FeedbackItem, source: str | None = None) -> dict:
    """The item page opened from a queue (?from=/queue/<slug>/?<query>): the queue's link
    and its previous and next items, read through the same filter and order as the queue,
    within the page the item was on (one row either side). Nothing if the item has left
    that list or `from` is not a queue this user works."""
    source = urlsplit(request.GET.get("from", "") if source is None else source)
    if source.scheme or source.netloc:
        return {}
    try:
        match = resolve(source.path)
    except Resolver404:
        return {}
    if match.view_name != "departments:queue":
        return {}
    department = departments_for(request.user).filter(slug=match.kwargs["slug"]).first()
    if department is None:
        return {}
    params = QueryDict(source.query, mutable=True)
    page = _page_number(params)
    _, rows, _ = _queue_rows(request, department, params)
    start = max(0, (page - 1) * PAGE_SIZE - 1)
    ids = list(rows.values_list("item_id", flat=True)[start : page * PAGE_SIZE + 1])
    if item.pk not in ids:
        return {"queue_url": f"{source.path}?{source.query}"}
    at = ids.index(item.pk)

    def link(index: int) -> str | None:
        if not 0 <= index < len(ids):
            return None
        params["page"] = (start + index) // PAGE_SIZE + 1
        back = f"{source.path}?{params.urlencode()}"
        return f"{reverse('departments:item', args=[ids[index]])}?{urlencode({'from': back})}"

    return {
        "queue_url": f"{source.path}?{source.query}",
        "prev_url": link(at - 1),
        "next_url": link(at + 1),
    }


def _visible_items(request):
    return FeedbackItem.objects.visible_to(request.user).select_related("source", "author")


def _visible_item(request, pk: int) -> FeedbackItem:
    return get_object_or_404(_visible_items(request), pk=pk)


def _visible_item_or_none(request, pk: int) -> FeedbackItem | None:
    return _visible_items(request).filter(pk=pk).first()


@login_required
def item_detail(request, pk: int):
    item = _visible_item(request, pk)
    presence_touch(item_id=item.pk, user=request.user)
    context = _item_context(request, item)
    # The cases the page shows (departments loaded): no second query to log them.
    sealed_access_record(viewer=request.user, cases=context["cases"], via="page")
    services.cases_mark_seen(user=request.user, cases=context["cases"])
    return render(
        request,
        "departments/item.html",
        {
            **context,
            **_queue_neighbours(request, item),
            **_nav(request),
            "back_url": request.get_full_path(),
        },
    )


@login_required
def item_presence(request, pk: int):
    """Polled by the item page: refreshes my presence and lists the others here."""
    item = _visible_item(request, pk)
    presence_touch(item_id=item.pk, user=request.user)
    cases = Case.objects.visible_to(request.user).filter(item=item).select_related("assignee")
    return render(
        request,
        "departments/item.html#presence",
        {
            "item": item,
            "viewers": presence_others(item_id=item.pk, user=request.user),
            "cases": cases,
        },
    )


def _after_action(request, item: FeedbackItem, error: str = ""):
    """htmx: re-render the item's work panel (cases + timeline) and, out of band, its state
    and the sidebar's counts; otherwise redirect."""
    # The services change the item's row, not this instance (its state after routing).
    fresh = _visible_item_or_none(request, item.pk)
    if fresh is None:
        # Routed or rerouted to a sealed department only: this viewer may no longer see it.
        messages.success(request, "Done: the item is now with a department you cannot see.")
        if request.htmx:
            return HttpResponseClientRedirect(reverse("departments:home"))
        return redirect("departments:home")
    if request.htmx:
        context = {**_item_context(request, fresh, error), **_nav(request)}
        current = urlsplit(request.htmx.current_url_abs_path or "")
        if _local_url(current.path, "departments:item"):
            # On the item page (not the reading pane), the re-rendered forms still know the
            # queue's next item and the way back.
            source = QueryDict(current.query).get("from", "")
            context.update(_queue_neighbours(request, fresh, source), back_url=current.geturl())
        # The page (or reading pane) shows the cases as they now are: one's own action
        # leaves them read.
        services.cases_mark_seen(user=request.user, cases=context["cases"])
        return render(request, "departments/_item_changed.html", context)
    if error:
        messages.error(request, error)
    return redirect("departments:item", pk=item.pk)


def _case_for_action(request, pk: int) -> Case:
    case = get_object_or_404(
        Case.objects.visible_to(request.user).select_related("item", "department"), pk=pk
    )
    return case


def _run(request, case_or_item, fn):
    item = case_or_item.item if isinstance(case_or_item, Case) else case_or_item
    try:
        fn()
    except services.ActionError as exc:
        return _after_action(request, item, str(exc))
    return _after_action(request, item)


@login_required
@require_POST
def case_claim(request, pk: int):
    case = _case_for_action(request, pk)
    if request.htmx and request.POST.get("from") == "row":
        # Claiming from the list is not reading the case: a row read before stays read,
        # an unread one stays unread.
        was_seen = CaseView.objects.filter(
            user=request.user, case=case, seen_at__gte=case.updated_at
        ).exists()
        try:
            services.case_claim(case=case, user=request.user)
            error = ""
        except services.ActionError as exc:
            error = str(exc)
        if was_seen:
            services.cases_mark_seen(user=request.user, cases=[case])
        case = _with_seen(
            Case.objects.visible_to(request.user).select_related(
                "item", "item__author", "assignee"
            ),
            request.user,
        ).get(pk=case.pk)
        case.viewers = []
        # The row's links name the queue it sits in, as the queue page's own rows do.
        current = urlsplit(request.htmx.current_url_abs_path or "")
        links = _row_links(case.department, QueryDict(current.query))
        rows_prepare([case], links, can_act=True, row_error=error)
        return render(request, "departments/queue.html#row", {"case": case})
    return _run(request, case, lambda: services.case_claim(case=case, user=request.user))


@login_required
@require_POST
def case_assign(request, pk: int):
    case = _case_for_action(request, pk)
    username = request.POST.get("assignee", "")
    assignee = get_user_model().objects.filter(username=username).first() if username else None
    if username and assignee is None:
        return _after_action(request, case.item, f"No user {username!r}.")
    return _run(
        request,
        case,
        lambda: services.case_assign(case=case, assignee=assignee, actor=request.user),
    )


CLOSING = (Case.Status.RESOLVED, Case.Status.DISMISSED)
UNDO_DONE = {"resolved": "Resolved.", "dismissed": "Dismissed.", "rerouted": "Rerouted."}


def _local_url(value: str, *view_names: str) -> str:
    """`value` if it is a path on this site to one of these views, else ""."""
    parts = urlsplit(value or "")
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return ""
    try:
        return value if resolve(parts.path).view_name in view_names else ""
    except Resolver404:
        return ""


def _undo_back(request, item: FeedbackItem) -> str:
    """Where undoing sends the person: the page they acted on (the item page with its
    queue, or the queue with the item open in its reading pane)."""
    if request.htmx:
        current = _local_url(
            request.htmx.current_url_abs_path or "", "departments:item", "departments:queue"
        )
        if current:
            return current
    return _local_url(request.POST.get("back", ""), "departments:item") or reverse(
        "departments:item", args=[item.pk]
    )


def _run_undoable(request, case: Case, fn, done: str):
    """Run a resolve, dismiss or reroute that can be undone from a toast; after closing a
    case the item page moves on to the next item of its queue (`next`, from the page) and
    the reading pane is told to open the next row (the `sb-case-closed` event)."""
    try:
        token = undo.action_undoable(
            case=case, actor=request.user, run=fn, back=_undo_back(request, case.item)
        )
    except services.ActionError as exc:
        return _after_action(request, case.item, str(exc))
    if token is not None:
        messages.success(request, done, extra_tags=f"undo undo-{token}")
    onward = _local_url(request.POST.get("next", ""), "departments:item")
    if token is not None and onward and done != UNDO_DONE["rerouted"]:
        if request.htmx:
            return HttpResponseClientRedirect(onward)
        return redirect(onward)
    response = _after_action(request, case.item)
    if token is not None and request.htmx and done != UNDO_DONE["rerouted"]:
        response["HX-Trigger"] = "sb-case-closed"
    return response


@login_required
@require_POST
def case_status(request, pk: int):
    case = _case_for_action(request, pk)
    status = request.POST.get("status", "")

    def change():
        return services.case_set_status(
            case=case,
            status=status,
            actor=request.user,
            reason=request.POST.get("reason", ""),
            note=request.POST.get("note", ""),
        )

    if status in CLOSING:
        return _run_undoable(request, case, change, UNDO_DONE[status])
    return _run(request, case, change)


@login_required
@require_POST
def action_undo(request, token: int):
    """Undo a resolve, dismiss or reroute from its toast (plain form: it may come from
    another page than the one acted on)."""
    try:
        record = undo.action_undo(token=token, actor=request.user)
    except services.ActionError as exc:
        return HttpResponseBadRequest(
            render_to_string("departments/undo_refused.html", {"error": str(exc)}, request)
        )
    messages.success(request, "Undone.")
    return redirect(record.get("back") or "departments:home")


@login_required
@require_POST
def case_priority(request, pk: int):
    case = _case_for_action(request, pk)
    return _run(
        request,
        case,
        lambda: services.case_set_priority(
            case=case, priority=request.POST.get("priority", ""), actor=request.user
        ),
    )


def _department_from_post(request) -> Department | None:
    return Department.objects.filter(slug=request.POST.get("department", "")).first()


def _handoff(request, pk: int, service, missing: str):
    case = _case_for_action(request, pk)
    target = _department_from_post(request)
    if target is None:
        return _after_action(request, case.item, missing)
    note = request.POST.get("note", "")

    def handoff():
        return service(case=case, to_department=target, actor=request.user, note=note)

    if service is services.case_reroute:
        return _run_undoable(request, case, handoff, UNDO_DONE["rerouted"])
    return _run(request, case, handoff)


@login_required
@require_POST
def case_reroute(request, pk: int):
    return _handoff(request, pk, services.case_reroute, "Choose a department to reroute to.")


@login_required
@require_POST
def case_share(request, pk: int):
    return _handoff(request, pk, services.case_share, "Choose a department to share with.")


@login_required
@require_POST
def case_tags(request, pk: int):
    case = _case_for_action(request, pk)
    add = [t for t in request.POST.get("add", "").replace(",", " ").split() if t]
    remove = request.POST.getlist("remove")
    return _run(
        request,
        case,
        lambda: services.case_tag(case=case, actor=request.user, add=add, remove=remove),
    )


@login_required
@require_POST
def item_note(request, pk: int):
    item = _visible_item(request, pk)
    return _run(
        request,
        item,
        lambda: services.note_add(
            item=item,
            actor=request.user,
            body=request.POST.get("body", ""),
            department=departments_for(request.user)
            .filter(slug=request.POST.get("department") or None)
            .first(),
        ),
    )


@login_required
@require_POST
def triage_route(request, pk: int):
    item = _visible_item(request, pk)
    slugs = request.POST.getlist("department")
    chosen = list(Department.objects.filter(slug__in=slugs))
    return _run(
        request,
        item,
        lambda: services.triage_route(
            item=item, departments=chosen, actor=request.user, note=request.POST.get("note", "")
        ),
    )


BULK_ACTIONS = {"claim", "resolve", "dismiss_spam", "dismiss_duplicate", "unassign"}


@login_required
@require_POST
def queue_bulk(request, slug: str):
    """Apply one action to the selected rows; each row is its own service call, so one
    failure (someone claimed it first) does not stop the others."""
    department = get_object_or_404(departments_for(request.user), slug=slug)
    action = request.POST.get("action", "")
    # isascii(): "²".isdigit() is true but int() refuses it; 18 digits fit a bigint.
    ids = [
        int(i) for i in request.POST.getlist("case") if i.isascii() and i.isdigit() and len(i) <= 18
    ][: PAGE_SIZE * 4]
    if action not in BULK_ACTIONS:
        messages.error(request, "Choose an action for the selected cases.")
        return redirect(
            f"{reverse('departments:queue', args=[slug])}?{request.POST.get('query', '')}"
        )
    done, failed = 0, []
    for case in (
        Case.objects.visible_to(request.user)
        .filter(pk__in=ids, department=department)
        .select_related("department", "item")
    ):
        try:
            if action == "claim":
                services.case_claim(case=case, user=request.user)
            elif action == "resolve":
                services.case_set_status(case=case, status="resolved", actor=request.user)
            elif action == "unassign":
                services.case_assign(case=case, assignee=None, actor=request.user)
            else:
                services.case_set_status(
                    case=case,
                    status="dismissed",
                    actor=request.user,
                    reason=action.removeprefix("dismiss_"),
                )
            done += 1
        except services.ActionError as exc:
            failed.append(f"case {case.pk}: {exc}")
    if done:
        messages.success(request, f"{action.replace('_', ' ').capitalize()}: {done} case(s).")
    for failure in failed[:10]:
        messages.error(request, failure)
    return redirect(f"{reverse('departments:queue', args=[slug])}?{request.POST.get('query', '')}")


@login_required
@require_POST
def saved_view_save(request):
    name = request.POST.get("name", "").strip()[:80]
    # Only a queue the user works: a view's count would otherwise reveal another (sealed)
    # department's cases.
    department = departments_for(request.user).filter(slug=request.POST.get("department", ""))
    department = department.first()
    query = request.POST.get("query", "")[:1000]
    target = reverse("departments:queue", args=[department.slug]) if department else "/"
    if not name:
        messages.error(request, "Give the view a name.")
    else:
        SavedView.objects.update_or_create(
            user=request.user, name=name, defaults={"department": department, "query": query}
        )
        messages.success(request, f"Saved view “{name}”.")
    return redirect(f"{target}?{query}")


@login_required
@require_POST
def saved_view_delete(request, pk: int):
    SavedView.objects.filter(user=request.user, pk=pk).delete()
    return redirect("departments:home")


def saved_view_url(view: SavedView) -> str:
    if view.department is None:
        return reverse("departments:home")
    return f"{reverse('departments:queue', args=[view.department.slug])}?{view.query}"
