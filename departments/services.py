"""Everything staff do to cases. Each action checks permission (`check_*`), changes state
race-safely, and writes a CaseEvent, the audit log and the classifier's training labels.

Locks: every function that changes a case takes a row lock on it (`select_for_update`), or
uses a conditional UPDATE where the change is a single transition (claim). Actions that
touch two cases (reroute, share) lock them in primary-key order to avoid deadlocks.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from departments.models import Case, CaseEvent, CaseView, Department, Membership, Note
from departments.sla import (
    SLA_FIELDS,
    sla_clock_of,
    sla_clock_start,
    sla_next_due,
    sla_reprioritize,
    sla_status_changed,
)
from feedback.models import FeedbackItem
from notifications.services import (
    notify_assigned,
    notify_assigned_many,
    notify_handoff,
    notify_mentions,
)
from routing.labels import NOISE, label_record
from routing.models import RoutingLabel
from webhooks.payloads import payload_case_handoff, payload_case_status_changed
from webhooks.services import webhook_emit, webhooks_wanted


class ActionError(Exception):
    """An action that cannot be done; the message is shown to the person who tried."""


class PermissionDenied(ActionError):
    pass


class Conflict(ActionError):
    """Someone else changed the case first (e.g. claimed it)."""


DISMISS_REASONS = {
    "wrong_department": "Wrong department",
    "spam": "Spam",
    "duplicate": "Duplicate",
    "no_action": "No action needed",
    "rerouted": "Rerouted",
}
MAX_NOTE = 10_000
MAX_TAGS = 20


def is_admin(user) -> bool:
    return bool(getattr(user, "is_superuser", False) or getattr(user, "is_staff", False))


def _may_act_in(user, department: Department) -> bool:
    """Members act in their departments; superusers everywhere; other staff everywhere but
    in sealed departments, which only their own people and superusers touch."""
    if getattr(user, "is_superuser", False) or membership_of(user, department) is not None:
        return True
    return bool(getattr(user, "is_staff", False)) and not department.sealed


def membership_of(user, department: Department) -> Membership | None:
    if not getattr(user, "pk", None):
        return None
    return Membership.objects.filter(user=user, department=department).first()


def check_can_act(user, case: Case) -> None:
    """Only members of the case's department (agents and managers) and admins act on it."""
    if _may_act_in(user, case.department):
        return
    raise PermissionDenied(f"Only {case.department.name} can act on this case.")


def check_can_see_item(user, item: FeedbackItem) -> None:
    if not FeedbackItem.objects.visible_to(user).filter(pk=item.pk).exists():
        raise PermissionDenied("You cannot see this item.")


def _event(
    case: Case | None, kind: str, actor, *, item=None, note="", data=None, now=None, **fields
):
    return CaseEvent.objects.create(
        item=item or case.item,
        created_at=now or timezone.now(),
        case=case,
        kind=kind,
        actor=actor if getattr(actor, "pk", None) else None,
        note=note,
        data=data or {},
        **fields,
    )


def _locked(case: Case) -> Case:
    return (
        Case.objects.unscoped()
        .select_for_update()
        .select_related("department", "item")
        .get(pk=case.pk)
    )


def case_claim(*, case: Case, user, now=None) -> Case:
    """Assign an unassigned case to `user`. If two people claim at once, one wins and the
    other gets Conflict naming the winner.

    `now`, in this and every action below, is the time the action happens (default: the
    present); the demo seed replays history with it, production passes nothing."""
    check_can_act(user, case)
    now = now or timezone.now()
    with transaction.atomic():
        won = (
            Case.objects.unscoped()
            .filter(pk=case.pk, assignee__isnull=True)
            .update(
                assignee=user,
                updated_at=now,
            )
        )
        if not won:
            holder = (
                Case.objects.unscoped()
                .filter(pk=case.pk)
                .values_list("assignee__username", flat=True)
            )
            raise Conflict(f"Already claimed by {holder.first() or 'someone else'}.")
        Case.objects.unscoped().filter(pk=case.pk, status=Case.Status.NEW).update(
            status=Case.Status.OPEN
        )
        _event(case, CaseEvent.Kind.CLAIMED, user, data={"assignee": user.username}, now=now)
    case.refresh_from_db()
    return case


def case_assign(*, case: Case, assignee, actor, now=None) -> Case:
    check_can_act(actor, case)
    now = now or timezone.now()
    if assignee is not None and membership_of(assignee, case.department) is None:
        raise ActionError(f"{assignee.username} is not in {case.department.name}.")
    with transaction.atomic():
        locked = _locked(case)
        before = locked.assignee
        locked.assignee = assignee
        if assignee is not None and locked.status == Case.Status.NEW:
            locked.status = Case.Status.OPEN
        locked.updated_at = now
        locked.save(update_fields=["assignee", "status", "updated_at"])
        _event(
            locked,
            CaseEvent.Kind.ASSIGNED,
            actor,
            data={
                "from": before.username if before else None,
                "to": assignee.username if assignee else None,
            },
            now=now,
        )
        if assignee is not None and assignee != before:
            notify_assigned(case=locked, assignee=assignee, actor=actor)
    return locked


def _transition(locked: Case, status: str, now) -> None:
    """Set the new status on the locked case (saved by the caller with TRANSITION_FIELDS),
    and its SLA clock: waiting on the customer pauses the resolution clock."""
    before = locked.status
    if status in (Case.Status.WAITING, Case.Status.RESOLVED, Case.Status.DISMISSED):
        # First response: the first time someone answered (waiting on the customer) or
        # closed the case. Claiming alone is not a response.
        locked.first_response_at = locked.first_response_at or now
    if status in (Case.Status.RESOLVED, Case.Status.DISMISSED):
        locked.resolved_at = now
    else:
        locked.resolved_at = None
    locked.status = status
    locked.updated_at = now
    sla_status_changed(locked, before=before, now=now)


TRANSITION_FIELDS = ["status", "first_response_at", "resolved_at", "updated_at", *SLA_FIELDS]


def case_set_status(
    *, case: Case, status: str, actor, reason: str = "", note: str = "", now=None
) -> Case:
    check_can_act(actor, case)
    now = now or timezone.now()
    if status not in Case.Status.values:
        raise ActionError(f"Unknown status {status!r}.")
    if status == Case.Status.DISMISSED and reason not in DISMISS_REASONS:
        raise ActionError("Dismissing needs a reason: " + ", ".join(DISMISS_REASONS) + ".")
    with transaction.atomic():
        locked = _locked(case)
        before = locked.status
        if before == status:
            return locked
        _transition(locked, status, now)
        locked.save(update_fields=TRANSITION_FIELDS)
        _event(
            locked,
            CaseEvent.Kind.STATUS_CHANGED,
            actor,
            note=note,
            data={"from": before, "to": status, "reason": reason},
            now=now,
        )
        _label_status(locked, status, reason, actor, now)
        if webhooks_wanted():  # the payload costs queries: only build it for a receiver
            webhook_emit(
                event="case.status_changed",
                payload=payload_case_status_changed(
                    case=locked, before=before, actor=actor, reason=reason, note=note
                ),
                departments=[locked.department.slug],
                backfill=locked.item.backfill,
            )
    return locked


def _label_status(case: Case, status: str, reason: str, actor, now) -> None:
    """Closing a case says something about where its item belongs."""
    slug = case.department.slug
    if status == Case.Status.DISMISSED and reason == "wrong_department":
        label_record(
            item_id=case.item_id, actor=actor, action="dismissed", negative=[slug], now=now
        )
    elif status == Case.Status.DISMISSED and reason == "spam":
        label_record(
            item_id=case.item_id,
            actor=actor,
            action="spam",
            positive=[NOISE],
            negative=[slug],
            now=now,
        )
    elif status == Case.Status.RESOLVED and case.routed_by != Case.RoutedBy.PERSON:
        # Working a case the product routed to the end confirms the route.
        label_record(
            item_id=case.item_id,
            actor=actor,
            action="resolved",
            positive=[slug],
            kind=RoutingLabel.Kind.CONFIRMATION,
            now=now,
        )


def _open_case_in(item: FeedbackItem, department: Department, actor, reason: str, now) -> Case:
    """The item's case in `department`, created or reopened (routed by a person).

    A sealed department's closed case is reopened (and unassigned) only by someone who may
    act in it: a support agent sharing a post with HR must not reopen, or learn of, HR's
    closed case; the handoff event on that case still tells HR."""
    new = Case(
        item=item,
        department=department,
        routed_by=Case.RoutedBy.PERSON,
        reason=reason,
        priority=item.priority,
        tags=list(item.tags),
        created_at=now,
        updated_at=now,
    )
    sla_clock_start(new, clock=sla_clock_of(department), backfill=item.backfill)
    case, created = (
        Case.objects.unscoped()
        .select_for_update()
        .get_or_create(
            item=item,
            department=department,
            defaults={
                f.attname: getattr(new, f.attname)
                for f in Case._meta.concrete_fields
                if f.attname not in ("id", "item_id", "department_id")
            },
        )
    )
    if (
        not created
        and case.status not in Case.OPEN_STATUSES
        and (not department.sealed or _may_act_in(actor, department))
    ):
        case.status = Case.Status.NEW
        case.resolved_at = None
        case.assignee = None
        case.updated_at = now
        case.sla_due_at = sla_next_due(case)  # what is left of the clock it had
        case.save(update_fields=["status", "resolved_at", "assignee", "updated_at", "sla_due_at"])
    return case


def _handoff(
    *, case: Case, to_department: Department, actor, note: str, kind: str, now=None
) -> Case:
    check_can_act(actor, case)
    if to_department.pk == case.department_id:
        raise ActionError("The case is already in that department.")
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ActionError(f"A note is at most {MAX_NOTE} characters.")
    now = now or timezone.now()
    with transaction.atomic():
        # Lock the item row first: every handoff on one item is serialized, so two people
        # rerouting the same item at once cannot both create the target case.
        item = FeedbackItem.objects.unscoped().select_for_update().get(pk=case.item_id)
        locked = _locked(case)
        if kind == CaseEvent.Kind.REROUTED and locked.status not in Case.OPEN_STATUSES:
            raise Conflict("This case is already closed.")
        # A handoff out of a sealed department is sealed itself: the case it opens in
        # another department must not say where it came from, or who sent it.
        reason = (
            "routed by a person"
            if locked.department.sealed
            else f"{'rerouted' if kind == 'rerouted' else 'shared'} by "
            f"{actor.get_username()} from {locked.department.name}"
        )
        target = _open_case_in(item, to_department, actor, reason, now)
        if kind == CaseEvent.Kind.REROUTED:
            _transition(locked, Case.Status.DISMISSED, now)
            locked.save(update_fields=TRANSITION_FIELDS)
        data = {"from_case": locked.pk, "to_case": target.pk}
        for which in (locked, target):  # both departments see the handoff on their case
            _event(
                which,
                kind,
                actor,
                note=note,
                data=data,
                from_department=locked.department,
                to_department=to_department,
                now=now,
            )
        label_record(
            item_id=item.pk,
            actor=actor,
            action=kind,
            positive=[to_department.slug],
            negative=[locked.department.slug] if kind == CaseEvent.Kind.REROUTED else [],
            now=now,
        )
        _emit_handoff(kind, locked, target, actor, note, item.backfill)
        notify_handoff(kind=kind, origin=locked, target=target, actor=actor)
    return target


def _emit_handoff(kind: str, origin: Case, target: Case, actor, note: str, backfill: bool):
    """A handoff's webhook, for both departments' subscriptions. The webhooks service
    redacts a sealed side (its case becomes null) for subscriptions not approved for it."""
    if not webhooks_wanted():  # the payload costs queries: only build it for a receiver
        return
    webhook_emit(
        event=f"case.{kind}",
        payload=payload_case_handoff(from_case=origin, to_case=target, actor=actor, note=note),
        departments=[origin.department.slug, target.department.slug],
        backfill=backfill,
    )


def case_reroute(*, case: Case, to_department: Department, actor, note: str = "", now=None) -> Case:
    """Hand the item to another department: this case ends, theirs starts; both see the
    note. Returns the target department's case."""
    return _handoff(
        case=case,
        to_department=to_department,
        actor=actor,
        note=note,
        kind=CaseEvent.Kind.REROUTED,
        now=now,
    )


def case_share(*, case: Case, to_department: Department, actor, note: str = "", now=None) -> Case:
    """Bring another department in: both keep a case."""
    return _handoff(
        case=case,
        to_department=to_department,
        actor=actor,
        note=note,
        kind=CaseEvent.Kind.SHARED,
        now=now,
    )


def triage_route(
    *, item: FeedbackItem, departments: Sequence[Department], actor, note: str = "", now=None
) -> list[Case]:
    """Route an item from the shared triage inbox: any department member may do it."""
    _check_triage_staff(actor, "Only department staff can route from the triage inbox.", item)
    if not departments:
        raise ActionError("Choose at least one department.")
    now = now or timezone.now()
    with transaction.atomic():
        locked = FeedbackItem.objects.unscoped().select_for_update().get(pk=item.pk)
        if locked.state not in (
            FeedbackItem.State.TRIAGE,
            FeedbackItem.State.NOISE,
            FeedbackItem.State.FAILED,
        ):
            raise Conflict("This item has already been routed.")
        cases = []
        for department in sorted(departments, key=lambda d: d.pk):
            case = _open_case_in(
                locked, department, actor, f"routed from triage by {actor.get_username()}", now
            )
            _event(
                case,
                CaseEvent.Kind.ROUTED,
                actor,
                note=note,
                to_department=department,
                data={"routed_by": "person", "from_state": locked.state},
                now=now,
            )
            cases.append(case)
        chosen = {d.slug for d in departments}
        suggested = _suggested(locked)
        label_record(
            item_id=locked.pk,
            actor=actor,
            action="triage_route",
            positive=chosen,
            negative=[NOISE],
            # Picking exactly what the model already ranked first confirms it; anything
            # else corrects it.
            kind=(
                RoutingLabel.Kind.CONFIRMATION
                if suggested and chosen == {suggested}
                else RoutingLabel.Kind.CORRECTION
            ),
            now=now,
        )
        FeedbackItem.objects.unscoped().filter(pk=locked.pk).update(
            state=FeedbackItem.State.ROUTED, error="", triage_department=None
        )
    return cases


def _check_triage_staff(actor, message: str, item: FeedbackItem | None = None) -> None:
    """The shared triage inbox is worked by anyone in a department, and admins; a sealed
    department's own triage only by those who may act in it."""
    if not (is_admin(actor) or Membership.objects.filter(user=actor).exists()):
        raise PermissionDenied(message)
    sealed = item.triage_department if item is not None else None
    if sealed is not None and not _may_act_in(actor, sealed):
        raise PermissionDenied(f"Only {sealed.name} can work its triage.")


def _suggested(item: FeedbackItem) -> str | None:
    """The department the model ranked first for the item (noise excluded), if any."""
    scores = {k: v for k, v in (item.scores or {}).items() if k != NOISE}
    return max(scores, key=scores.get) if scores else None


def triage_mark_noise(*, item: FeedbackItem, actor, note: str = "", now=None) -> FeedbackItem:
    """Take an item out of the triage inbox as spam or chatter that no department owns."""
    _check_triage_staff(actor, "Only department staff can work the triage inbox.", item)
    with transaction.atomic():
        locked = FeedbackItem.objects.unscoped().select_for_update().get(pk=item.pk)
        if locked.state not in (FeedbackItem.State.TRIAGE, FeedbackItem.State.FAILED):
            raise Conflict("This item is not in the triage inbox.")
        _event(
            None,
            CaseEvent.Kind.NOISE,
            actor,
            item=locked,
            note=note,
            data={"marked_by": "person", "from_state": locked.state},
            now=now,
        )
        label_record(item_id=locked.pk, actor=actor, action="mark_noise", positive=[NOISE], now=now)
        locked.state = FeedbackItem.State.NOISE
        FeedbackItem.objects.unscoped().filter(pk=locked.pk).update(
            state=FeedbackItem.State.NOISE, triage_department=None
        )
    return locked


@dataclass
class TriageOutcome:
    done: int = 0  # posts this call routed or marked
    skipped: int = 0  # no longer in triage: someone else handled them meanwhile


def triage_decide(
    *,
    items: Sequence[FeedbackItem],
    actor,
    action: str,
    department: Department | None = None,
) -> TriageOutcome:
    """Route several triage posts to `department`, or mark them as noise (`action`
    "route" or "noise"): a group of posts that say the same thing, or a selection.

    Each post goes through triage_route / triage_mark_noise in its own transaction, so
    each gets its own label (a confirmation when `department` is what the model ranked
    first for that post, a correction otherwise) and one post someone else handled first
    does not undo the rest. Permission errors stop the call."""
    if action not in ("route", "noise"):
        raise ActionError("Choose accept, route or noise.")
    if action == "route" and department is None:
        raise ActionError("Choose a department.")
    outcome = TriageOutcome()
    for item in sorted(items, key=lambda i: i.pk):
        try:
            if action == "route":
                triage_route(item=item, departments=[department], actor=actor)
            else:
                triage_mark_noise(item=item, actor=actor)
        except PermissionDenied:
            raise
        except Conflict:
            outcome.skipped += 1
        else:
            outcome.done += 1
    return outcome


def note_add(
    *, item: FeedbackItem, actor, body: str, department: Department | None = None, now=None
) -> Note:
    """An internal note on the item. It is filed in one of the writer's departments and
    readable by every department that can see the item, except that a sealed department's
    notes stay inside it. Someone in several departments says which one the note is for
    (`department`), unless the item has a case in just one of them."""
    check_can_see_item(actor, item)
    body = (body or "").strip()
    if not body:
        raise ActionError("A note cannot be empty.")
    if len(body) > MAX_NOTE:
        raise ActionError(f"A note is at most {MAX_NOTE} characters.")
    filed_in = _note_department(item, actor, department)
    now = now or timezone.now()
    with transaction.atomic():
        note = Note.objects.create(
            item=item, author=actor, body=body, department=filed_in, created_at=now
        )
        _event(
            None,
            CaseEvent.Kind.NOTED,
            actor,
            item=item,
            note=body,
            data={"note": note.pk},
            from_department=filed_in,
            now=now,
        )
        notify_mentions(note=note, actor=actor)
    return note


def cases_mark_seen(*, user, cases: Sequence[Case]) -> None:
    """Record that `user` has read these cases now (the item page or the queue's reading pane
    showed them, or they just acted on them): their queue rows stop being unread until the
    case changes again. One upsert whatever the number of cases; the caller has already
    read `cases` through the access check."""
    if not cases or not user.is_authenticated:
        return
    now = timezone.now()
    CaseView.objects.bulk_create(
        [CaseView(user=user, case_id=case.pk, seen_at=now) for case in cases],
        update_conflicts=True,
        unique_fields=["user", "case"],
        update_fields=["seen_at"],
    )


def _note_department(item: FeedbackItem, actor, chosen: Department | None) -> Department | None:
    mine = {
        m.department_id: m.department
        for m in Membership.objects.filter(user=actor).select_related("department")
    }
    if chosen is not None:
        if chosen.pk not in mine:
            raise PermissionDenied(f"You are not in {chosen.name}.")
        return chosen
    if len(mine) <= 1:
        return next(iter(mine.values()), None)
    with_case = set(
        Case.objects.unscoped()
        .filter(item=item, department_id__in=mine)
        .values_list("department_id", flat=True)
    )
    if len(with_case) == 1:
        return mine[with_case.pop()]
    names = ", ".join(sorted(d.name for d in mine.values()))
    raise ActionError(f"You are in several departments ({names}): choose which this note is for.")


def case_tag(
    *, case: Case, actor, add: Sequence[str] = (), remove: Sequence[str] = (), now=None
) -> Case:
    check_can_act(actor, case)
    now = now or timezone.now()
    clean_add = [t.strip().lower() for t in add if t and t.strip()]
    for tag in clean_add:
        if len(tag) > 64:
            raise ActionError("A tag is at most 64 characters.")
    with transaction.atomic():
        locked = _locked(case)
        tags = [t for t in locked.tags if t not in set(remove)]
        tags += [t for t in clean_add if t not in tags]
        if len(tags) > MAX_TAGS:
            raise ActionError(f"A case has at most {MAX_TAGS} tags.")
        if tags == locked.tags:
            return locked
        locked.tags = tags
        locked.updated_at = now
        locked.save(update_fields=["tags", "updated_at"])
        _event(
            locked,
            CaseEvent.Kind.TAGGED,
            actor,
            data={"added": clean_add, "removed": list(remove)},
            now=now,
        )
    return locked


def case_set_priority(*, case: Case, priority: str, actor) -> Case:
    """Change the case's priority; its SLA due times follow the new priority's policy."""
    check_can_act(actor, case)
    if priority not in FeedbackItem.Priority.values:
        raise ActionError(f"Unknown priority {priority!r}.")
    with transaction.atomic():
        locked = _locked(case)
        before = locked.priority
        if before == priority:
            return locked
        locked.priority = priority
        locked.updated_at = timezone.now()
        sla_reprioritize(locked, clock=sla_clock_of(locked.department))
        locked.save(update_fields=["priority", "updated_at", *SLA_FIELDS])
        _event(locked, CaseEvent.Kind.PRIORITIZED, actor, data={"from": before, "to": priority})
    return locked


def cases_auto_assign_on_commit(*, department_ids: Sequence[int]) -> None:
    """Auto-assign these departments' new cases in the background once the surrounding
    transaction commits (the worker must see the cases). Other apps (routing) call this
    rather than departments' tasks.

    A hand-written on_commit rather than delay_on_commit: it must be `robust`, so a broker
    outage after commit is logged and leaves the cases for people to claim (the next routed
    case retries) instead of failing the routing batch that created them."""
    ids = sorted(set(department_ids))
    if not ids:
        return
    from departments.tasks import auto_assign  # the tasks module imports this one

    transaction.on_commit(lambda: auto_assign.delay(ids), robust=True)


def cases_auto_assign(*, department: Department, limit: int = 200) -> int:
    """Give unassigned new cases, oldest first, to available agents in turn, never over an
    agent's cap. Returns how many were assigned.

    Locks: the department's unassigned cases are taken with SKIP LOCKED, so two runs (or
    a person claiming at the same moment) never assign one case twice."""
    from django.db.models import Count, Q

    if not department.auto_assign:
        return 0
    agents = list(
        Membership.objects.filter(department=department, available=True, user__is_active=True)
        .annotate(
            open_cases=Count(
                "user__assigned_cases",
                filter=Q(
                    user__assigned_cases__department=department,
                    user__assigned_cases__status__in=Case.OPEN_STATUSES,
                ),
            )
        )
        .select_related("user")
        .order_by("open_cases", "user_id")
    )
    load = {m.user_id: m.open_cases for m in agents}
    caps = {m.user_id: m.max_open_cases for m in agents}
    users = {m.user_id: m.user for m in agents}
    assigned: list[tuple[Case, int]] = []
    with transaction.atomic():
        cases = list(
            Case.objects.unscoped()
            .select_for_update(skip_locked=True)
            .filter(
                department=department,
                status=Case.Status.NEW,
                assignee__isnull=True,
            )
            .order_by("created_at", "pk")[:limit]
        )
        for case in cases:
            free = [uid for uid in load if load[uid] < caps[uid]]
            if not free:
                break
            uid = min(free, key=lambda u: (load[u], u))  # least loaded, then stable order
            case.assignee_id = uid
            case.status = Case.Status.OPEN
            case.updated_at = timezone.now()
            case.save(update_fields=["assignee", "status", "updated_at"])
            _event(
                case,
                CaseEvent.Kind.ASSIGNED,
                None,
                data={"to": users[uid].get_username(), "auto": True},
            )
            load[uid] += 1
            assigned.append((case, uid))
        notify_assigned_many(assignments=assigned)
    return len(assigned)
