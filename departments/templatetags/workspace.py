"""Template filters of the workspace pages."""

from datetime import UTC, datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from config.html import html_format

register = template.Library()

# Function words the classifier may weigh (it sees every token) but that explain nothing to
# a person reading why a case was routed. The languages the posts mostly come in.
STOPWORDS = frozenset(
    """
    a about after all also am an and any are as at be been but by can could did do does for
    from had has have he her him his how i if in into is it its just me more most my no not
    of on or our out over she so some than that the their them then there these they this
    those to too up us very was we were what when where which who why will with would you
    your yours
    aber als am an auch auf aus bei bin bis das dass dem den der des die du ein eine einen
    er es für hat ich ihr im in ist ja mein meine mich mir mit nicht noch nur oder sich sie
    sind und uns von war was wie wir zu zum zur
    au avec ce de des du elle en est et il je la le les ma mais me mes mon ne nous on ou par
    pas pour qui que sa se son sur un une vous
    al con de del el en es la las lo los me mi mis no por que se su un una y yo
    """.split()  # noqa: SIM905 - a list literal of 200 quoted words reads worse
)


@register.filter
def telling_terms(terms) -> list[str]:
    """The words that pushed a case, as a person should read them: a stored explanation's
    `[term, weight]` pairs without punctuation and function words ("my", "?"), each once
    ("hiring ?" is "hiring" again). The stored explanation keeps every term."""
    shown: list[str] = []
    for entry in terms or []:
        words = [w for w in str(entry[0]).split() if any(ch.isalnum() for ch in w)]
        if not words or all(w.lower() in STOPWORDS for w in words):
            continue
        phrase = " ".join(words)
        if phrase.lower() not in {s.lower() for s in shown}:
            shown.append(phrase)
    return shown


@register.filter
def duration(delta: timedelta) -> str:
    """A timedelta in words: "15 minutes", "1 hour"."""
    start = datetime(2000, 1, 1, tzinfo=UTC)
    return timesince(start, start + delta)


@register.filter
def hours_human(hours) -> str:
    """A duration given in hours as people read it: "45 m", "1 h 12 m", "3 d 4 h"; "—"
    when there is none. (Dashboards compute in hours; 0.04 h means "2 m" to a reader.)"""
    if hours is None or hours == "":
        return "—"
    minutes = round(float(hours) * 60)
    if minutes < 1:
        return "< 1 m"
    days, rest = divmod(minutes, 24 * 60)
    h, m = divmod(rest, 60)
    if days:
        return f"{days} d {h} h" if h else f"{days} d"
    if h:
        return f"{h} h {m} m" if m else f"{h} h"
    return f"{m} m"


@register.filter
def age(moment: datetime | None) -> str:
    """How long ago, in one short unit, for a dense queue row: "40s", "12m", "5h", "3d",
    "6w". The full time is the cell's title."""
    if moment is None:
        return ""
    seconds = max(0, int((datetime.now(UTC) - moment).total_seconds()))
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@register.filter
def undo_token(extra_tags: str) -> int | None:
    """The undo token a message carries in its tags ("undo undo-<event id>"), if any."""
    for tag in (extra_tags or "").split():
        if tag.startswith("undo-") and tag[5:].isdigit():
            return int(tag[5:])
    return None


@register.simple_tag
def undo_seconds() -> int:
    from departments.undo import UNDO_SECONDS

    return UNDO_SECONDS


@register.filter
def is_open_status(status: str) -> bool:
    from departments.models import Case

    return status in Case.OPEN_STATUSES


VISUALLY_HIDDEN = mark_safe(' class="visually-hidden"')


@register.simple_tag
def sla_badge(case, long: bool = False) -> str:
    """A case's SLA badge: tone, time to (or since) breach, and a title with the target and
    when it is due. `long` also shows which target ("first response") beside the time; in
    a dense row that stays for screen readers only. Built in Python rather than an
    included template: a queue page shows 50 of them."""
    badge = case.sla_badge
    title = ""
    if badge.tone == "paused":
        title = "Waiting on the customer: the resolution clock is paused"
    elif badge.due:
        due = timezone.localtime(badge.due).strftime("%a %-d %b, %H:%M %Z")
        was = "was " if badge.tone == "breached" else ""
        # Not capfirst(): its lazy-string wrapper costs more than the capital, 50 times a page.
        target_name = badge.target[:1].upper() + badge.target[1:]
        title = f"{target_name} {was}due {due} ({case.priority} priority)"
    target = ""
    if badge.target and badge.tone != "paused":
        hidden = "" if long else VISUALLY_HIDDEN
        target = html_format("<span{}>{} </span>", hidden, badge.target)
    return html_format(
        '<span class="sla sla-{}"{}>{}{}</span>',
        badge.tone,
        html_format(' title="{}"', title) if title else "",
        target,
        badge.text,
    )
