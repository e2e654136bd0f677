"""What each event carries, and its one-line human summary for Slack-format subscriptions.

The builders are for the services that emit events (routing, case services, dashboards):
they turn objects the caller already holds into the documented JSON shapes without a
query of their own, provided the caller loaded `item.source`, `item.author` and
`case.department` (routing and the case services already do). docs/webhooks.md shows an
example of every shape.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from webhooks.models import Event

SNIPPET_CHARS = 280
# The public, versioned API path. Not reverse(): the first reverse() in a process imports
# the whole URLconf (about 2 s here), and routing builds payloads while holding row locks.
ITEM_API_PATH = "/api/v1/feedback/{id}/"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _username(user) -> str | None:
    return user.get_username() if getattr(user, "pk", None) else None


def item_payload(item) -> dict[str, Any]:
    author = item.author if item.author_id else None
    return {
        "id": item.pk,
        "api_url": ITEM_API_PATH.format(id=item.pk),
        "source": item.source.slug,
        "external_id": item.external_id,
        "url": item.url,
        "author": (
            {"handle": author.handle, "name": author.name, "followers": author.followers}
            if author
            else None
        ),
        "body": item.body,
        "posted_at": _iso(item.posted_at),
        "received_at": _iso(item.received_at),
        "language": item.language,
        "sentiment": item.sentiment,
        "sentiment_label": item.sentiment_label,
        "priority": item.priority,
        "tags": list(item.tags),
        "state": item.state,
    }


def case_payload(case) -> dict[str, Any]:
    return {
        "id": case.pk,
        "item_id": case.item_id,
        "department": case.department.slug,
        "status": case.status,
        "priority": case.priority,
        "assignee": _username(case.assignee) if case.assignee_id else None,
        "routed_by": case.routed_by,
        "reason": case.reason,
        "confidence": case.confidence,
        "due_at": _iso(case.due_at),
        "created_at": _iso(case.created_at),
    }


def payload_item_routed(*, item, cases: Sequence) -> dict[str, Any]:
    """`item.routed`: emit with departments=[case.department.slug for case in cases]."""
    return {"item": item_payload(item), "cases": [case_payload(c) for c in cases]}


def payload_case_status_changed(
    *, case, before: str, actor=None, reason: str = "", note: str = ""
) -> dict[str, Any]:
    """`case.status_changed`: emit with departments=[case.department.slug]."""
    return {
        "case": case_payload(case),
        "item": item_payload(case.item),
        "from": before,
        "to": case.status,
        "reason": reason,
        "note": note,
        "actor": _username(actor),
    }


def payload_case_handoff(*, from_case, to_case, actor=None, note: str = "") -> dict[str, Any]:
    """`case.rerouted` and `case.shared`: emit with departments=[from slug, to slug]."""
    return {
        "item": item_payload(from_case.item),
        "from_case": case_payload(from_case),
        "to_case": case_payload(to_case),
        "from_department": from_case.department.slug,
        "to_department": to_case.department.slug,
        "note": note,
        "actor": _username(actor),
    }


def payload_spike_detected(*, spike) -> dict[str, Any]:
    """`spike.detected` from a departments.Spike: emit with departments = `spike.related`,
    plus `spike.key` when the spike is a department's; a sealed department's spike names
    only itself (departments/signals_detect.py)."""
    return {
        "dimension": spike.dimension,
        "key": spike.key,
        "hour": _iso(spike.hour),
        "count": spike.count,
        "baseline": spike.baseline,
        "zscore": spike.zscore,
        # Why it fired, as the email and the dashboards say it.
        "reason": spike.reason,
        "terms": list(spike.terms),
        "related_departments": list(spike.related),
    }


def payload_outside(*, event: str, data: dict[str, Any], sealed: frozenset[str]) -> dict | None:
    """The event's data for subscriptions not approved for the `sealed` departments it
    concerns: their cases are taken out (a handoff's sealed side becomes null), or None
    when nothing would be left, or for a shape this function does not know (better to
    send nothing than a sealed department's data)."""
    if event == Event.ITEM_ROUTED:
        cases = [c for c in data.get("cases", []) if c.get("department") not in sealed]
        return {**data, "cases": cases} if cases else None
    if event == Event.CASE_STATUS_CHANGED:
        case = data.get("case") or {}
        return data if case.get("department") not in sealed else None
    if event in (Event.CASE_REROUTED, Event.CASE_SHARED):
        if {data.get("from_department"), data.get("to_department")} <= sealed:
            return None
        shown = dict(data)
        for side in ("from", "to"):
            if data.get(f"{side}_department") in sealed:
                shown[f"{side}_case"] = None
        return shown
    if event == Event.SPIKE_DETECTED:
        if data.get("dimension") == "department" and data.get("key") in sealed:
            return None
        related = [d for d in data.get("related_departments", []) if d not in sealed]
        return {**data, "related_departments": related}
    return None


# --- Slack ----------------------------------------------------------------------------------


def _slack_escape(text: Any) -> str:
    # Slack treats &, < and > as control characters (<!channel>, <url|label>); customer text
    # must never become a mention or a disguised link.
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _snippet(text: str) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def _link(url: str | None, label: str) -> str:
    if url and url.startswith(("http://", "https://")):
        return f"<{_slack_escape(url)}|{_slack_escape(label)}>"
    return _slack_escape(label)


def slack_text(*, event: str, data: dict) -> str:
    """A short human summary. Reads the payload defensively: a summary that cannot be built
    must not stop the delivery."""
    item = data.get("item") or {}
    quote = f"“{_slack_escape(_snippet(item.get('body', '')))}”" if item.get("body") else ""
    by = f" by {_slack_escape(data['actor'])}" if data.get("actor") else ""
    if event == Event.ITEM_ROUTED:
        departments = ", ".join(_slack_escape(c.get("department")) for c in data.get("cases", []))
        priority = item.get("priority")
        flag = f" [{_slack_escape(priority)}]" if priority in ("high", "urgent") else ""
        source = _link(item.get("url"), item.get("source") or "feedback")
        return f"New feedback{flag} from {source} routed to {departments or 'triage'}: {quote}"
    if event == Event.CASE_STATUS_CHANGED:
        case = data.get("case") or {}
        return (
            f"Case #{case.get('id')} in {_slack_escape(case.get('department'))}: "
            f"{_slack_escape(data.get('from'))} → {_slack_escape(data.get('to'))}{by} {quote}"
        ).strip()
    if event in (Event.CASE_REROUTED, Event.CASE_SHARED):
        verb, target = ("rerouted", "to") if event == Event.CASE_REROUTED else ("shared", "with")
        note = f"\nNote: {_slack_escape(_snippet(data['note']))}" if data.get("note") else ""
        return (
            f"Feedback {verb} from {_slack_escape(data.get('from_department'))} {target} "
            f"{_slack_escape(data.get('to_department'))}{by}: {quote}{note}"
        )
    if event == Event.SPIKE_DETECTED:
        where = f"{_slack_escape(data.get('dimension'))} {_slack_escape(data.get('key'))}"
        terms = ", ".join(_slack_escape(t) for t in (data.get("terms") or [])[:5])
        about = f" — about: {terms}" if terms else ""
        reason = data.get("reason")
        if not reason:  # a delivery queued before payloads carried the reason
            baseline = data.get("baseline")
            usual = f"{baseline:.1f}" if isinstance(baseline, int | float) else "?"
            reason = f"{data.get('count')} posts this hour against about {usual} expected"
        return f":rotating_light: Spike for {where}: {_slack_escape(reason)}{about}"
    return f"Switchboard event {_slack_escape(event)}"
