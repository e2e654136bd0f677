"""Creating, reading-state and mailing notifications.

The case services (departments/services.py) call the `notify_*` functions inside their
own transaction, so a notification exists exactly when the change it reports committed.
Emails, for the people who turned them on, are sent by a task after commit.

Who is told:
- assigned: the new assignee, unless they assigned it to themselves (claims never notify);
- shared / rerouted: the members of the department the case went to, but not the actor.
  A department of up to HANDOFF_NOTIFY_ALL_UP_TO members tells everyone; a bigger one only
  those who watch it (their preferences), so a 200-person support floor is not paged for
  every handoff;
- mentioned: each @username in a note who can see both the item and the note (a sealed
  department's note mentions only its own people: an outsider gets nothing, and the writer
  is not told either way), at most MAX_MENTIONS per note;
- breach soon: the assignee of an open case with no first response whose first-response
  SLA ends within NOTIFY_BREACH_SOON_WITHIN, once per case (notifications_breach_soon).
"""

import logging
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from config.celery import BROKER_ERRORS
from departments.models import Case, Department, Membership, Note
from feedback.models import FeedbackItem
from notifications.models import Notification, NotificationPreference

logger = logging.getLogger(__name__)

HANDOFF_NOTIFY_ALL_UP_TO = 20
MAX_MENTIONS = 20
# "@name" not inside a word or an email address; usernames are letters, digits and _.+-
MENTION = re.compile(r"(?<![\w.+-])@([A-Za-z0-9_][A-Za-z0-9_.+-]{0,149})")
EMAIL_SWEEP_AFTER_SECONDS = 120
EMAIL_BATCH = 200


def _create(rows: list[Notification]) -> list[Notification]:
    """Insert the rows, marking those whose recipient wants email, and send those emails
    after commit."""
    if not rows:
        return []
    _mark_email_wanted(rows)
    created = Notification.objects.bulk_create(rows)
    emails = [n.pk for n in created if n.email_pending]
    if emails:
        # Robust: a broker outage after commit must not fail the action that committed;
        # the beat sweep sends what is still pending.
        transaction.on_commit(partial(_enqueue_emails, emails), robust=True)
    return created


def _enqueue_emails(ids: list[int]) -> None:
    from notifications.tasks import send_notification_emails

    try:
        send_notification_emails.apply_async(args=[ids], retry=False)
    except BROKER_ERRORS:
        logger.warning("broker unreachable; %d notification email(s) left for the sweep", len(ids))


def _actor_id(actor) -> int | None:
    return getattr(actor, "pk", None)


def notify_assigned(*, case: Case, assignee, actor) -> list[Notification]:
    """The new assignee hears of it, unless they assigned it to themselves."""
    if assignee is None or assignee.pk == _actor_id(actor):
        return []
    return notify_assigned_many(assignments=[(case, assignee.pk)], actor=actor)


def notify_assigned_many(
    *, assignments: Iterable[tuple[Case, int]], actor=None
) -> list[Notification]:
    """One notification per (case, assignee id); `actor` None is automatic assignment."""
    return _create(
        [
            Notification(
                recipient_id=user_id,
                kind=Notification.Kind.ASSIGNED,
                item_id=case.item_id,
                case_id=case.pk,
                actor_id=_actor_id(actor),
            )
            for case, user_id in assignments
        ]
    )


def handoff_recipients(department: Department, *, exclude: int | None) -> list[int]:
    members = list(
        Membership.objects.filter(department=department, user__is_active=True).values_list(
            "user_id", flat=True
        )
    )
    if len(members) > HANDOFF_NOTIFY_ALL_UP_TO:
        members = list(
            NotificationPreference.objects.filter(
                user_id__in=members, watched=department
            ).values_list("user_id", flat=True)
        )
    return sorted(uid for uid in set(members) if uid != exclude)


def notify_handoff(*, kind: str, origin: Case, target: Case, actor) -> list[Notification]:
    """A case shared or rerouted into `target`'s department: tell its people.

    A handoff out of a sealed department is sealed itself: members of the target who are
    not in the origin department get a plain "new case" without the actor."""
    recipients = handoff_recipients(target.department, exclude=_actor_id(actor))
    if not recipients:
        return []
    insiders = set(recipients)
    if origin.department.sealed:
        insiders = set(
            Membership.objects.filter(
                department_id=origin.department_id, user_id__in=recipients
            ).values_list("user_id", flat=True)
        )
    rows = []
    for uid in recipients:
        inside = uid in insiders
        rows.append(
            Notification(
                recipient_id=uid,
                kind=kind if inside else Notification.Kind.ROUTED,
                item_id=target.item_id,
                case_id=target.pk,
                actor_id=_actor_id(actor) if inside else None,
            )
        )
    return _create(rows)


def mentioned_usernames(body: str) -> list[str]:
    """The distinct @usernames in a note, in order, at most MAX_MENTIONS."""
    names: list[str] = []
    for match in MENTION.finditer(body or ""):
        name = match.group(1).rstrip(".-+")
        if name and name.lower() not in {n.lower() for n in names}:
            names.append(name)
        if len(names) >= MAX_MENTIONS:
            break
    return names


def notify_mentions(*, note: Note, actor) -> list[Notification]:
    """Everyone @mentioned in the note who may read it (the item and the note), but not
    the writer. Nothing tells the writer who was or was not notified."""
    names = mentioned_usernames(note.body)
    if not names:
        return []
    users = get_user_model().objects.filter(is_active=True, username__in=names)
    rows = []
    for user in users:
        if user.pk == _actor_id(actor):
            continue
        # As that person: may they see the item, and this note (a sealed department's
        # note stays inside it even on an item others see)?
        sees_item = FeedbackItem.objects.visible_to(user).filter(pk=note.item_id).exists()
        if not sees_item or not Note.objects.visible_to(user).filter(pk=note.pk).exists():
            continue
        rows.append(
            Notification(
                recipient_id=user.pk,
                kind=Notification.Kind.MENTIONED,
                item_id=note.item_id,
                note_id=note.pk,
                actor_id=_actor_id(actor),
            )
        )
    return _create(rows)


def notifications_breach_soon(*, now: datetime | None = None) -> int:
    """Tell each assignee whose open case has had no first response and is due within
    NOTIFY_BREACH_SOON_WITHIN, once per case (a partial unique constraint is the last guard
    when two sweeps overlap). Returns how many notifications were made."""
    now = now or timezone.now()
    until = now + settings.NOTIFY_BREACH_SOON_WITHIN
    told = Notification.objects.unscoped().filter(
        case_id=OuterRef("pk"), kind=Notification.Kind.BREACH_SOON
    )
    made = 0
    notified: list[int] = []
    # Per department: each reads the partial index case_open_due (department, due_at).
    for department_id in Department.objects.order_by("pk").values_list("pk", flat=True):
        cases = list(
            Case.objects.unscoped()
            .filter(
                department_id=department_id,
                status__in=Case.OPEN_STATUSES,
                due_at__gt=now,
                due_at__lte=until,
                first_response_at__isnull=True,
                assignee__isnull=False,
            )
            .exclude(Exists(told))
            .values_list("pk", "item_id", "assignee_id")[:1000]
        )
        if not cases:
            continue
        rows = [
            Notification(
                recipient_id=assignee_id,
                kind=Notification.Kind.BREACH_SOON,
                item_id=item_id,
                case_id=case_id,
            )
            for case_id, item_id, assignee_id in cases
        ]
        _mark_email_wanted(rows)
        # ignore_conflicts: a sweep running at the same moment already told them.
        Notification.objects.bulk_create(rows, ignore_conflicts=True)
        made += len(rows)
        notified += [case_id for case_id, _, _ in cases]
    if notified:
        # Already in a worker: mail these now rather than through another task.
        notification_emails_send(
            notification_ids=Notification.objects.unscoped()
            .filter(kind=Notification.Kind.BREACH_SOON, case_id__in=notified, email_pending=True)
            .values_list("pk", flat=True)
        )
    return made


def _mark_email_wanted(rows: list[Notification]) -> None:
    wants = set(
        NotificationPreference.objects.filter(
            user_id__in={n.recipient_id for n in rows}, email=True
        )
        .exclude(user__email="")
        .values_list("user_id", flat=True)
    )
    for n in rows:
        n.email_pending = n.recipient_id in wants


def notification_open(*, user, notification: Notification) -> None:
    """Mark one read (the first opening counts; opening again changes nothing)."""
    Notification.objects.unscoped().filter(
        pk=notification.pk, recipient_id=user.pk, read_at__isnull=True
    ).update(read_at=timezone.now())


def notifications_mark_all_read(*, user) -> int:
    return (
        Notification.objects.unscoped()
        .filter(recipient_id=user.pk, read_at__isnull=True)
        .update(read_at=timezone.now())
    )


def preference_set(*, user, email: bool, watched: Iterable[Department]) -> NotificationPreference:
    """Save the person's choices; only departments they are in can be watched."""
    from departments.selectors import user_department_ids

    mine = user_department_ids(user)
    chosen = [d for d in watched if d.pk in mine]
    with transaction.atomic():
        preference, _ = NotificationPreference.objects.select_for_update().get_or_create(
            user_id=user.pk
        )
        preference.email = email
        preference.save(update_fields=["email"])
        preference.watched.set(chosen)
    return preference


def notification_emails_send(*, notification_ids: Iterable[int]) -> int:
    """Send the pending emails among these notifications, each at most once: a row is
    claimed (email_pending → false) before sending and handed back if sending fails, for
    the sweep. The text is made as the recipient sees it now; a notification they can no
    longer see is dropped, unsent."""
    from notifications.selectors import notifications_describe, notifications_for

    sent = 0
    pending = list(
        Notification.objects.unscoped()
        .filter(pk__in=list(notification_ids), email_pending=True)
        .select_related("recipient", "actor")
        .order_by("pk")
    )
    for n in pending:
        claimed = (
            Notification.objects.unscoped()
            .filter(pk=n.pk, email_pending=True)
            .update(email_pending=False, emailed_at=timezone.now())
        )
        if not claimed:
            continue
        user = n.recipient
        visible = notifications_for(user).filter(pk=n.pk).select_related("actor")
        described = notifications_describe(user, list(visible))
        if not described or not user.email or not user.is_active:
            continue
        message = _email_message(user, described[0])
        try:
            message.send(fail_silently=False)
        except Exception:  # an unreachable mail server: the sweep tries again
            logger.warning("could not mail notification %s", n.pk, exc_info=True)
            Notification.objects.unscoped().filter(pk=n.pk).update(
                email_pending=True, emailed_at=None
            )
            continue
        sent += 1
    return sent


def _email_message(user, n: Notification) -> EmailMessage:
    context = {
        "user": user,
        "notification": n,
        "open_url": f"{settings.SITE_URL}{n.url}",
        "settings_url": f"{settings.SITE_URL}{reverse('notifications:list')}#settings",
    }
    return EmailMessage(
        # One line: a name with a line break must not break the header.
        "[Switchboard] " + " ".join(n.title.split()),
        render_to_string("email/notification.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
    )


def notification_emails_sweep(*, now: datetime | None = None) -> int:
    """Send the emails whose task never ran (broker down at commit), oldest first."""
    now = now or timezone.now()
    ids = list(
        Notification.objects.unscoped()
        .filter(
            email_pending=True,
            created_at__lte=now - timedelta(seconds=EMAIL_SWEEP_AFTER_SECONDS),
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:EMAIL_BATCH]
    )
    return notification_emails_send(notification_ids=ids) if ids else 0
