"""Undo for the actions that close or hand off a case: resolve, dismiss and reroute.

The action runs through the case services as usual, inside `webhooks_held`, so its webhook
deliveries are not due until the undo window (plus a grace period, so a send can never
start while an undo is committing) has passed. What undo needs to put things back — the
touched cases' fields and the routing labels as they were before, the held deliveries, who
acted and when — is kept in the cache for a minute under the action's event id (the undo
token), not in the event log: it would otherwise carry another department's case state on
an event its readers see, and it is worthless after ten seconds anyway. A lost cache entry
only means the action stands.

Undo (`action_undo`) is allowed to the actor only, within UNDO_SECONDS of the action (server
time), once: it withdraws the held deliveries, restores the cases, writes a compensating
event on each (status_changed back, or a reroute back), and withdraws the labels the
action wrote (restoring the label a department had before, if any).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from departments.models import Case, CaseEvent
from departments.services import ActionError, Conflict, PermissionDenied, _event, check_can_act
from routing.models import RoutingLabel
from webhooks.services import deliveries_withdraw, webhooks_held

UNDO_SECONDS = 10
# Deliveries wait this much longer than the window: an undo accepted at 9.9 s has time to
# commit its withdrawal before the first attempt may claim the delivery.
HOLD_GRACE_SECONDS = 5
_KEEP_SECONDS = 60
_CASE_FIELDS = ("status", "assignee_id", "resolved_at", "first_response_at")
_LABEL_FIELDS = ("positive", "kind", "action", "actor_id", "created_at", "updated_at")


def _key(token: int) -> str:
    return f"undo:{token}"


def _case_state(case: Case) -> dict[str, Any]:
    state = {name: getattr(case, name) for name in _CASE_FIELDS}
    for name in ("resolved_at", "first_response_at"):
        state[name] = state[name].isoformat() if state[name] else None
    return state


def _labels(item_id: int) -> dict[str, dict[str, Any]]:
    rows = RoutingLabel.objects.filter(item_id=item_id).values("department", *_LABEL_FIELDS)
    return {row.pop("department"): row for row in rows}


def _plain(labels: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        slug: {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}
        for slug, row in labels.items()
    }


def action_undoable(*, case: Case, actor, run: Callable[[], Any], back: str = "") -> int | None:
    """Run a resolve, dismiss or reroute of `case` (`run` calls the case service) so that
    `actor` can undo it for UNDO_SECONDS. Returns the undo token (the action's event id), or
    None when the service changed nothing (the case already had that status). `back` is
    where the person is sent after undoing. Raises what the service raises."""
    with transaction.atomic():
        # Every case of the item as it was (locked: nobody changes them under the snapshot);
        # only the ones the action touched are kept.
        before = {
            c.pk: c
            for c in Case.objects.unscoped()
            .select_for_update()
            .filter(item_id=case.item_id)
            .order_by("pk")
        }
        labels_before = _labels(case.item_id)
        last = (
            CaseEvent.objects.unscoped()
            .filter(item_id=case.item_id)
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
            or 0
        )
        with webhooks_held(seconds=UNDO_SECONDS + HOLD_GRACE_SECONDS) as held:
            run()
        event = (
            CaseEvent.objects.unscoped()
            .filter(
                case_id=case.pk,
                pk__gt=last,
                kind__in=[CaseEvent.Kind.STATUS_CHANGED, CaseEvent.Kind.REROUTED],
            )
            .order_by("pk")
            .first()
        )
        if event is None:
            return None
        target_id = event.data.get("to_case") if event.kind == CaseEvent.Kind.REROUTED else None
        labels_after = _labels(case.item_id)
        touched = [s for s in labels_after if labels_after[s] != labels_before.get(s)]
        record = {
            "actor": actor.pk,
            "at": event.created_at.isoformat(),
            "kind": event.kind,
            "case": case.pk,
            "case_before": _case_state(before[case.pk]),
            "target": target_id,
            "target_before": _case_state(before[target_id]) if target_id in before else None,
            "labels_before": {s: _plain(labels_before).get(s) for s in touched},
            "deliveries": list(held),
            "back": back,
        }
        token = event.pk
        transaction.on_commit(lambda: cache.set(_key(token), record, _KEEP_SECONDS))
    return token


def check_undo(*, token: int, actor, now: datetime | None = None) -> dict[str, Any]:
    """The undo record, if `actor` may still undo the action; ActionError saying why not."""
    record = cache.get(_key(token))
    if record is None:
        raise ActionError("There is nothing to undo: the undo window has passed.")
    if record["actor"] != getattr(actor, "pk", None):
        raise PermissionDenied("Only the person who did this can undo it.")
    age = (now or timezone.now()) - datetime.fromisoformat(record["at"])
    if age > timedelta(seconds=UNDO_SECONDS):
        raise ActionError(f"Too late to undo: an action can be undone for {UNDO_SECONDS} seconds.")
    return record


def _restore(case: Case, state: dict[str, Any], now: datetime) -> None:
    case.status = state["status"]
    case.assignee_id = state["assignee_id"]
    for name in ("resolved_at", "first_response_at"):
        setattr(case, name, datetime.fromisoformat(state[name]) if state[name] else None)
    case.updated_at = now
    case.save(update_fields=[*_CASE_FIELDS[:1], "assignee", *_CASE_FIELDS[2:], "updated_at"])


def action_undo(*, token: int, actor, now: datetime | None = None) -> dict[str, Any]:
    """Undo the action behind `token` (see the module docstring). Returns its record (the
    case id and where to go back to).

    Locks: the touched cases, in primary-key order. The cache entry is taken (deleted) first,
    so of two undos at once only one proceeds; if the database part fails it is put back."""
    record = check_undo(token=token, actor=actor, now=now)
    if not cache.delete(_key(token)):
        raise Conflict("This has already been undone.")
    try:
        _undo(token, record, actor, now or timezone.now())
    except Exception:
        cache.set(_key(token), record, _KEEP_SECONDS)
        raise
    return record


def _undo(token: int, record: dict[str, Any], actor, now: datetime) -> None:
    ids = sorted(pk for pk in (record["case"], record["target"]) if pk)
    with transaction.atomic():
        locked = {
            c.pk: c
            for c in Case.objects.unscoped()
            .select_for_update()
            .select_related("department")
            .filter(pk__in=ids)
            .order_by("pk")
        }
        origin = locked.get(record["case"])
        if origin is None:
            raise ActionError("The case no longer exists.")
        check_can_act(actor, origin)
        deliveries_withdraw(delivery_ids=record["deliveries"])
        current = origin.status
        _restore(origin, record["case_before"], now)
        if record["kind"] == CaseEvent.Kind.STATUS_CHANGED:
            _event(
                origin,
                CaseEvent.Kind.STATUS_CHANGED,
                actor,
                note="Undone",
                data={"from": current, "to": origin.status, "reason": "undo", "undo_of": token},
            )
        else:
            target = locked[record["target"]]
            if record["target_before"] is None:
                # The reroute opened this case: it ends as it began, unworked.
                target.status = Case.Status.DISMISSED
                target.resolved_at = now
                target.assignee_id = None
                target.updated_at = now
                target.save(update_fields=["status", "resolved_at", "assignee", "updated_at"])
            else:
                _restore(target, record["target_before"], now)
            data = {"from_case": target.pk, "to_case": origin.pk, "undo_of": token}
            for which in (target, origin):
                _event(
                    which,
                    CaseEvent.Kind.REROUTED,
                    actor,
                    note="Undone",
                    data=data,
                    from_department=target.department,
                    to_department=origin.department,
                )
        for slug, row in record["labels_before"].items():
            labels = RoutingLabel.objects.filter(item_id=origin.item_id, department=slug)
            if row is None:
                labels.delete()
            else:
                labels.update(
                    **{
                        k: datetime.fromisoformat(v) if k.endswith("_at") else v
                        for k, v in row.items()
                    }
                )
