"""A queue row's HTML, built once per row in Python.

A queue page shows 50 rows of about twenty cells and attributes each. Rendered by the
template engine, the rows were three quarters of the page's template time (about 0.23 ms
a row, 11 ms a page at a million posts); one string format per row is a small part of that.
Every value from a post, an author or a person goes through `config.html.html_format`,
which escapes it as the template engine would. The queue template's `row` partial shows
`case.row_html`, so the queue page, its live-search fragment and a row re-rendered after
a claim all show the same markup.
"""

from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from config.html import html_format
from departments.models import Case
from departments.templatetags.workspace import age, sla_badge

ROW = (
    '<tr id="row-{id}" class="{row_class}" data-item-id="{item_id}" data-item-url="{item_url}"'
    ' data-claim-url="{claim_url}" tabindex="-1">\n'
    '  <td class="col-sel"><input type="checkbox" name="case" value="{id}" form="bulk"'
    ' aria-label="Select case {id}"></td>\n'
    '  <td class="col-prio"><span class="unread-dot" aria-hidden="true"></span>{unread}'
    '<span class="badge prio-{priority}">{priority}</span></td>\n'
    '  <td class="col-post"><a class="row-link" href="{item_url}" hx-get="{pane_url}"'
    ' hx-target="#reading-pane" hx-swap="innerHTML" hx-push-url="true">{body}</a>'
    "{presence}{error}</td>\n"
    '  <td class="col-author">{author}</td>\n'
    '  <td class="col-status"><span class="status status-{status}">{status_label}</span></td>\n'
    '  <td class="col-assignee">{assignee}</td>\n'
    '  <td class="col-age"><time datetime="{created_iso}" title="{created_title}">{age}</time>'
    "</td>\n"
    '  <td class="col-sla">{sla}</td>\n'
    "</tr>"
)
UNREAD = mark_safe('<span class="visually-hidden">Unread,</span>')
NOBODY = mark_safe('<span class="muted">—</span>')
CLAIM = (
    '<button type="button" class="btn ghost xsmall" hx-post="{}" hx-vals=\'{{"from": "row"}}\''
    ' hx-target="#row-{}" hx-swap="outerHTML" data-claim>Claim</button>'
)
PRESENCE = ' <span class="presence" title="Also here: {}">● {}</span>'
# How many characters of a post a row shows (the reading pane shows the rest).
EXCERPT_CHARS = 200


def _path_pattern(name: str) -> str:
    """A URL with one integer argument as a str.format pattern ("/items/{}/"): each row
    needs two such links, and formatting a string is a small part of reversing it."""
    marker = 918273645
    return reverse(name, args=[marker]).replace(str(marker), "{}")


def _excerpt(body: str) -> str:
    # Truncator walks every character (combining marks count for nothing); a post that is
    # short enough is shown whole without it.
    return body if len(body) <= EXCERPT_CHARS else Truncator(body).chars(EXCERPT_CHARS)


def rows_prepare(
    cases, links: dict, *, can_act: bool, open_id: int | None = None, row_error: str = ""
) -> None:
    """Set `row_html` on each case: its queue row. Each case has `seen` annotated
    (`views._with_seen`) and its `viewers` (presence) set; `links` are the queue's
    (`views._row_links`); `can_act` whether the viewer may claim; `open_id` the item open
    in the reading pane; `row_error` why a claim from the row failed."""
    item_path = _path_pattern("departments:item")
    claim_path = _path_pattern("departments:case-claim")
    # get_status_display() rebuilds a hashable copy of the choices on every call.
    status_labels = {value: str(label) for value, label in Case.Status.choices}
    error = html_format(' <span class="error">{}</span>', row_error) if row_error else ""
    for case in cases:
        seen = getattr(case, "seen", False)
        row_class = "case-row" if seen else "case-row unread"
        if open_id is not None and open_id == case.item_id:
            row_class += " selected"
        claim_url = claim_path.format(case.pk)
        if case.assignee_id:
            assignee = case.assignee.get_username()
        elif can_act:
            assignee = html_format(CLAIM, claim_url, case.pk)
        else:
            assignee = NOBODY
        viewers = ", ".join(case.viewers)
        presence = html_format(PRESENCE, viewers, viewers) if viewers else ""
        author = case.item.author
        created = timezone.localtime(case.created_at)
        case.row_html = html_format(
            ROW,
            id=case.pk,
            row_class=row_class,
            item_id=case.item_id,
            item_url=f"{item_path.format(case.item_id)}?{links['item_from']}",
            pane_url=f"{links['pane_base']}open={case.item_id}",
            claim_url=claim_url,
            unread="" if seen else UNREAD,
            priority=case.priority,
            body=_excerpt(case.item.body),
            presence=presence,
            error=error,
            author=(author.name or author.handle) if author else "—",
            status=case.status,
            status_label=status_labels.get(case.status, case.status),
            assignee=assignee,
            created_iso=created.isoformat(),
            created_title=created.strftime("%a %d %b %Y, %H:%M %Z"),
            age=age(case.created_at),
            sla=sla_badge(case),
        )
