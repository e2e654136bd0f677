"""Everything that changes webhook state: subscriptions, emitting events, delivering them.

Delivery guarantees (docs/webhooks.md says the same for receivers):

- at least once: a Delivery row is written in the emitting transaction, so an event is
  owed exactly when the change that caused it is committed. Sending happens later, on the
  `webhooks` queue; a lost enqueue or a killed worker is caught by `deliveries_sweep`.
- one attempt at a time: an attempt is claimed with a conditional UPDATE, so two workers
  holding the same task never send the same attempt twice at once, and a succeeded
  delivery is never sent again.
- receivers deduplicate on the envelope's `id` (the event id), which a redelivery keeps.
"""

import json
import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from config.celery import BROKER_ERRORS
from departments.models import Department, Membership
from feedback.principals import ApiKeyPrincipal
from webhooks.models import Delivery, Event, Subscription, secret_new
from webhooks.payloads import payload_outside
from webhooks.selectors import (
    OUTSIDE,
    deliveries_failed_unresent,
    subscription_sealed_named,
    subscription_targets,
)
from webhooks.selectors import subscription_targets_forget as _targets_forget
from webhooks.signing import signature_header, signature_verify
from webhooks.transport import (
    USER_AGENT,
    Answer,
    check_url,
    http_post,
    request_body,
)

logger = logging.getLogger(__name__)

__all__ = [
    "WebhookError",
    "WebhookEvent",
    "check_sealed_approver",
    "check_url",
    "deliveries_enqueue",
    "deliveries_redeliver",
    "deliveries_sweep",
    "delivery_attempt",
    "delivery_redeliver",
    "signature_verify",
    "subscription_approvals_settle",
    "subscription_create",
    "subscription_delete",
    "subscription_redeliver_failed",
    "subscription_sealed_approve",
    "subscription_sealed_withdraw",
    "subscription_secret_rotate",
    "subscription_update",
    "webhook_emit",
    "webhook_emit_many",
]

# 6 attempts in all: the first, then these waits (about 20 minutes from first to last).
DEFAULT_RETRY_DELAYS = (10, 30, 90, 270, 810)
DEFAULT_SWEEP_AFTER = 60.0
# While an attempt is in flight its next_attempt_at is pushed this far ahead so neither the
# sweeper nor a duplicate task starts the same attempt. It must exceed the `deliver` task's
# hard time limit (90 s): past that, the attempt is certainly over (finished or killed).
ATTEMPT_LEASE = timedelta(seconds=120)
SWEEP_LIMIT = 1000


class WebhookError(Exception):
    """A webhook action that cannot be done; the message is shown to whoever tried.
    `field` names the input at fault, if one is; `forbidden`: the person may not do it."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        conflict: bool = False,
        forbidden: bool = False,
    ):
        super().__init__(message)
        self.field = field
        self.conflict = conflict
        self.forbidden = forbidden


# --- settings -------------------------------------------------------------------------------


def retry_delays() -> list[float]:
    delays = [float(d) for d in getattr(settings, "WEBHOOK_RETRY_DELAYS", DEFAULT_RETRY_DELAYS)]
    if any(d < 0 for d in delays):
        raise ValueError("WEBHOOK_RETRY_DELAYS must be non-negative numbers of seconds.")
    return delays


def max_attempts() -> int:
    return len(retry_delays()) + 1


# --- subscriptions --------------------------------------------------------------------------


def _check_events(events: Sequence[str]) -> list[str]:
    unknown = set(events) - set(Event.values)
    if unknown:
        raise WebhookError(
            f"Unknown event(s): {', '.join(sorted(unknown))}. Choose from "
            f"{', '.join(Event.values)}.",
            field="events",
        )
    if not events:
        raise WebhookError("Choose at least one event.", field="events")
    return sorted(set(events))


def _check_url(url: str) -> None:
    try:
        check_url(url)
    except ValidationError as exc:
        raise WebhookError(exc.messages[0], field="url") from exc


def _changed() -> None:
    """Subscriptions changed: forget the cached copy now and again after commit (a reader in
    between could cache the old rows)."""
    _targets_forget()
    transaction.on_commit(_targets_forget)


# --- sealed departments ---------------------------------------------------------------------

_APPROVAL_FIELDS = ["sealed_approved_for", "sealed_approved_by", "sealed_approved_at"]


def _sealed_approvable(user, slugs: Iterable[str]) -> set[str]:
    """Which of these sealed departments `user` may approve subscriptions for: all of them
    for a superuser, the ones they manage for anyone else, none for an API key."""
    slugs = set(slugs)
    if (
        not slugs
        or user is None
        or isinstance(user, ApiKeyPrincipal)
        or not getattr(user, "is_active", False)
    ):
        return set()
    if user.is_superuser:
        return slugs
    return set(
        Membership.objects.filter(
            user=user, role=Membership.Role.MANAGER, department__slug__in=slugs
        ).values_list("department__slug", flat=True)
    )


def subscription_approvals_settle(
    *, subscription: Subscription, actor, before_url: str, before_sealed: Iterable[str]
) -> Subscription:
    """Bring `sealed_approved_for` up to date after `actor` (a user; None or an API key
    approves nothing) created or changed the subscription (saved, departments set).

    Approvals cover the sealed departments the subscription still names, at the URL they
    were given for: a new URL keeps only those `actor` could approve again. Sealed
    departments `actor` adds are approved at once if `actor` may approve them (their
    manager, a superuser); others wait for an explicit approval.
    """
    named = subscription_sealed_named(subscription)
    approvable = _sealed_approvable(actor, named)
    before = set(subscription.sealed_approved_for)
    kept = before & named
    if subscription.url != before_url:
        kept &= approvable
    granted = (named - set(before_sealed)) & approvable
    approved = kept | granted
    if approved == before and not granted:
        return subscription
    subscription.sealed_approved_for = sorted(approved)
    if granted or (approved and subscription.url != before_url):
        subscription.sealed_approved_by = actor
        subscription.sealed_approved_at = timezone.now()
    elif not approved:
        subscription.sealed_approved_by = None
        subscription.sealed_approved_at = None
    subscription.save(update_fields=_APPROVAL_FIELDS)
    _changed()
    return subscription


def check_sealed_approver(*, subscription: Subscription, user) -> set[str]:
    """The sealed departments `user` would approve the subscription for (those it names
    that they manage; all for a superuser). WebhookError if there are none."""
    named = subscription_sealed_named(subscription)
    if not named:
        raise WebhookError(
            "This subscription names no sealed department: nothing to approve.", conflict=True
        )
    approvable = _sealed_approvable(user, named)
    if not approvable:
        raise WebhookError(
            f"Only a manager of {', '.join(sorted(named))} or a superuser can approve "
            "this subscription.",
            forbidden=True,
        )
    return approvable


def subscription_sealed_approve(*, subscription: Subscription, user) -> Subscription:
    """Let the subscription receive the events of the sealed departments it names that
    `user` may approve (check_sealed_approver), at its current URL. Idempotent. Under the
    row lock subscription_update takes, so it approves what is stored, not a stale copy."""
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        approvable = check_sealed_approver(subscription=locked, user=user)
        approved = set(locked.sealed_approved_for) | approvable
        if approved == set(locked.sealed_approved_for):
            return locked
        locked.sealed_approved_for = sorted(approved)
        locked.sealed_approved_by = user
        locked.sealed_approved_at = timezone.now()
        locked.save(update_fields=_APPROVAL_FIELDS)
        _changed()
    return locked


def subscription_sealed_withdraw(*, subscription: Subscription) -> Subscription:
    """Stop sending the sealed departments' events to this subscription."""
    subscription.sealed_approved_for = []
    subscription.sealed_approved_by = None
    subscription.sealed_approved_at = None
    with transaction.atomic():
        subscription.save(update_fields=_APPROVAL_FIELDS)
        _changed()
    return subscription


def subscription_create(
    *,
    name: str,
    url: str,
    events: Sequence[str],
    departments: Iterable[Department] = (),
    format: str = Subscription.Format.JSON,
    active: bool = True,
    owner_key_id: int | None = None,
    created_by=None,
) -> Subscription:
    """Create a subscription with a new signing secret (readable on the returned object).

    Its owner is the API key `owner_key_id` or the user `created_by`. Sealed departments
    it names are approved at once only if `created_by` may approve them."""
    _check_url(url)
    clean_events = _check_events(events)
    if format not in Subscription.Format.values:
        raise WebhookError(f"Unknown format {format!r}.", field="format")
    with transaction.atomic():
        subscription = Subscription.objects.create(
            name=name,
            url=url,
            events=clean_events,
            format=format,
            active=active,
            owner_key_id=owner_key_id,
            created_by=created_by,
        )
        subscription.departments.set(list(departments))
        subscription_approvals_settle(
            subscription=subscription, actor=created_by, before_url=url, before_sealed=()
        )
        _changed()
    return subscription


def subscription_update(
    *,
    subscription: Subscription,
    name: str | None = None,
    url: str | None = None,
    events: Sequence[str] | None = None,
    departments: Iterable[Department] | None = None,
    format: str | None = None,
    active: bool | None = None,
    actor=None,
) -> Subscription:
    """Change the given fields (None leaves a field as it is). Deliveries already pending
    are sent to the URL current at the time of each attempt. `actor` is the user making
    the change (None for an API key): see subscription_approvals_settle.

    Locks the subscription's row, so an approval given meanwhile is either seen here (and
    dropped if the URL changes) or given after this change, never lost in between."""
    fields = ["updated_at"]
    if name is not None:
        subscription.name = name
        fields.append("name")
    if url is not None:
        _check_url(url)
        subscription.url = url
        fields.append("url")
    if events is not None:
        subscription.events = _check_events(events)
        fields.append("events")
    if format is not None:
        if format not in Subscription.Format.values:
            raise WebhookError(f"Unknown format {format!r}.", field="format")
        subscription.format = format
        fields.append("format")
    if active is not None:
        subscription.active = active
        fields.append("active")
    subscription.updated_at = timezone.now()
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        before_url, before_sealed = locked.url, subscription_sealed_named(locked)
        subscription.sealed_approved_for = locked.sealed_approved_for
        subscription.save(update_fields=fields)
        if departments is not None:
            subscription.departments.set(list(departments))
        subscription_approvals_settle(
            subscription=subscription,
            actor=actor,
            before_url=before_url,
            before_sealed=before_sealed,
        )
        _changed()
    return subscription


def subscription_delete(*, subscription: Subscription) -> None:
    """Delete the subscription and its delivery log; pending deliveries are dropped."""
    with transaction.atomic():
        subscription.delete()
        _changed()


def subscription_secret_rotate(*, subscription: Subscription) -> Subscription:
    """A new signing secret, used from the next attempt on (the old one stops at once)."""
    subscription.secret = secret_new()
    subscription.updated_at = timezone.now()
    subscription.save(update_fields=["secret", "updated_at"])
    return subscription


# --- emitting -------------------------------------------------------------------------------


# Set while history is replayed (the demo seed): those changes happened long ago and no
# receiver is owed them. A context variable, so it covers only the code inside the block.
_suppressed: ContextVar[bool] = ContextVar("webhooks_suppressed", default=False)


@contextmanager
def webhooks_suppressed() -> Iterator[None]:
    """Inside this block no event is owed to anyone: no delivery is written or sent."""
    token = _suppressed.set(True)
    try:
        yield
    finally:
        _suppressed.reset(token)


def webhooks_wanted() -> bool:
    """Whether an event emitted now is owed to anyone: not inside webhooks_suppressed(),
    nor without an active subscription. Callers skip building a payload nobody receives."""
    return not _suppressed.get() and bool(subscription_targets())


@dataclass(frozen=True)
class WebhookEvent:
    event: str
    payload: dict
    departments: Sequence[str] = field(default_factory=tuple)


def webhook_emit(
    *,
    event: str,
    payload: dict,
    departments: Iterable[str] = (),
    backfill: bool = False,
) -> None:
    """Owe `event` to every active subscription that wants it.

    Call it inside the transaction that makes the change: the deliveries are written in
    that transaction (so they exist exactly when the change does) and enqueued after it
    commits. `departments` are the department slugs the event concerns; a subscription
    with a department filter receives the event only if they intersect. Historical imports
    (`backfill=True`) notify no one.

    Cost: no query while the active subscriptions are cached (one otherwise); one INSERT
    when at least one subscription matches. Never raises for a broker outage.
    """
    webhook_emit_many(
        events=[WebhookEvent(event=event, payload=payload, departments=tuple(departments))],
        backfill=backfill,
    )


_SEALED_TTL = 60.0
_sealed_cache: tuple[float, frozenset[str]] = (0.0, frozenset())


def _sealed_departments() -> frozenset[str]:
    """Slugs of sealed departments, read at most once a minute per process (like the
    subscriptions, they change rarely and routing emits once per item)."""
    global _sealed_cache
    import time

    from departments.models import Department

    expires, slugs = _sealed_cache
    if time.monotonic() >= expires:
        slugs = frozenset(Department.objects.filter(sealed=True).values_list("slug", flat=True))
        _sealed_cache = (time.monotonic() + _SEALED_TTL, slugs)
    return slugs


def _envelope(event_id: uuid.UUID, event: str, now, data: dict) -> dict:
    # Round-trip through JSON once: datetimes, UUIDs and decimals become the strings the
    # receiver will see, and a payload that cannot be sent fails here, in the caller.
    return json.loads(
        json.dumps(
            {"id": str(event_id), "event": event, "created_at": now.isoformat(), "data": data},
            cls=DjangoJSONEncoder,
        )
    )


@dataclass
class _Hold:
    seconds: float
    delivery_ids: list[int] = field(default_factory=list)


_hold: ContextVar[_Hold | None] = ContextVar("webhooks_hold", default=None)


@contextmanager
def webhooks_held(*, seconds: float):
    """Deliveries written inside this block are not due for `seconds` (an undo window) and
    are enqueued with that countdown; the block yields the list their ids are added to, so
    the caller can withdraw them (`deliveries_withdraw`) if the action is undone meanwhile.
    The task needs no check of its own: an attempt only sends a pending delivery."""
    hold = _Hold(seconds=seconds)
    token = _hold.set(hold)
    try:
        yield hold.delivery_ids
    finally:
        _hold.reset(token)


def deliveries_withdraw(*, delivery_ids: Sequence[int]) -> int:
    """End still-pending deliveries unsent (their action was undone). One conditional UPDATE:
    a delivery an attempt already claimed (sent or failed) is left as it is."""
    if not delivery_ids:
        return 0
    return Delivery.objects.filter(
        pk__in=list(delivery_ids), status=Delivery.Status.PENDING, attempts=0
    ).update(status=Delivery.Status.WITHDRAWN, next_attempt_at=None)


def webhook_emit_many(*, events: Iterable[WebhookEvent], backfill: bool = False) -> None:
    """`webhook_emit` for many events in one INSERT (routing emits one per item). Inside
    `webhooks_held` the deliveries wait out the hold; inside `webhooks_suppressed`
    (the demo seed) none is written."""
    if backfill or _suppressed.get():
        return
    events = list(events)
    for e in events:
        if e.event not in Event.values:
            raise ValueError(f"Unknown webhook event {e.event!r}.")  # a bug in the caller
    if not events:
        return
    targets = subscription_targets()
    if not targets:
        return
    sealed = _sealed_departments()
    now = timezone.now()
    hold = _hold.get()
    due = now + timedelta(seconds=hold.seconds) if hold else now
    rows: list[Delivery] = []
    for e in events:
        slugs = frozenset(e.departments)
        heard = [(t.subscription_id, t.hears(e.event, slugs, sealed)) for t in targets]
        heard = [(subscription_id, how) for subscription_id, how in heard if how]
        if not heard:
            continue
        event_id = uuid.uuid4()
        envelopes = {}
        for subscription_id, how in heard:
            if how not in envelopes:
                data = e.payload
                if how == OUTSIDE:  # a sealed department's part is not this one's to hear
                    data = payload_outside(event=e.event, data=data, sealed=slugs & sealed)
                envelopes[how] = None if data is None else _envelope(event_id, e.event, now, data)
            if envelopes[how] is None:
                continue
            rows.append(
                Delivery(
                    subscription_id=subscription_id,
                    event=e.event,
                    event_id=event_id,
                    payload=envelopes[how],
                    sealed=sorted(slugs & sealed) if how != OUTSIDE else [],
                    next_attempt_at=due,
                    created_at=now,
                )
            )
    if not rows:
        return
    rows = _deliveries_insert(rows)
    if not rows:
        return
    if hold:
        hold.delivery_ids.extend(row.pk for row in rows)
    _enqueue_on_commit([row.pk for row in rows], countdown=hold.seconds if hold else None)


def _deliveries_insert(rows: list[Delivery]) -> list[Delivery]:
    """INSERT the deliveries whose subscription still exists, in one statement; returns
    those written (with their pk).

    The active subscriptions come from a per-process cache (subscription_targets, a few
    seconds old at most), so a subscription deleted meanwhile by another process, or
    created in a transaction that was rolled back, may still be named: a plain INSERT
    would then fail the caller's whole transaction on the foreign key at commit (a resolve,
    a routing batch). Such a subscription is owed nothing, so its rows are skipped."""

    sql = """
        INSERT INTO webhooks_delivery (subscription_id, event, event_id, payload, sealed, status,
                                attempts, next_attempt_at, created_at, response_body, error)
        SELECT v.subscription_id, v.event, v.event_id, v.payload::jsonb,
               ARRAY(SELECT jsonb_array_elements_text(v.sealed::jsonb)), %s, 0, v.due,
               v.created_at, '', ''
        FROM unnest(%s::bigint[], %s::text[], %s::uuid[], %s::text[], %s::text[],
                    %s::timestamptz[], %s::timestamptz[])
             AS v(subscription_id, event, event_id, payload, sealed, due, created_at)
        WHERE EXISTS (SELECT 1 FROM webhooks_subscription s WHERE s.id = v.subscription_id)
        RETURNING id, subscription_id, event_id
    """
    params = [
        Delivery.Status.PENDING.value,
        [r.subscription_id for r in rows],
        [r.event for r in rows],
        [r.event_id for r in rows],
        [json.dumps(r.payload, cls=DjangoJSONEncoder) for r in rows],
        [json.dumps(list(r.sealed)) for r in rows],
        [r.next_attempt_at for r in rows],
        [r.created_at for r in rows],
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        written = {(sub, event_id): pk for pk, sub, event_id in cursor.fetchall()}
    kept = []
    for r in rows:  # one row per (subscription, event id)
        pk = written.get((r.subscription_id, r.event_id))
        if pk is not None:
            r.pk = pk
            r._state.adding = False
            kept.append(r)
    return kept


# --- enqueueing -----------------------------------------------------------------------------

# After a failed publish, skip publishing for a while instead of making every caller wait
# for the broker's connect timeout; the sweeper sends what was missed.
_BROKER_BACKOFF_SECONDS = 5.0
_broker_down_until = 0.0


def deliveries_enqueue(delivery_ids: Sequence[int], *, countdown: float | None = None) -> bool:
    """Publish a `deliver` task per id. Best effort: False if the broker is unreachable, and
    the rows, still pending, are left for `deliveries_sweep`."""
    global _broker_down_until
    if not delivery_ids:
        return True
    from webhooks.tasks import deliver  # tasks import this module

    if time.monotonic() < _broker_down_until:
        return False
    try:
        for pk in delivery_ids:
            deliver.apply_async(args=[pk], countdown=countdown, retry=False)
    except BROKER_ERRORS:
        _broker_down_until = time.monotonic() + _BROKER_BACKOFF_SECONDS
        logger.warning(
            "broker unreachable; %d webhook deliveries left for the sweeper",
            len(delivery_ids),
            exc_info=True,
        )
        return False
    return True


def _enqueue_on_commit(delivery_ids: list[int], *, countdown: float | None = None) -> None:
    # robust: whatever happens while publishing, the caller's change is committed and must
    # not turn into an error; the rows are pending and the sweeper will find them.
    transaction.on_commit(
        partial(deliveries_enqueue, delivery_ids, countdown=countdown), robust=True
    )


# --- delivering -----------------------------------------------------------------------------


def _unapproved(delivery: Delivery, subscription: Subscription) -> str:
    """Why the delivery may not be sent: it carries a sealed department's data and the
    subscription is no longer approved for it (withdrawn, or its URL changed)."""
    missing = set(delivery.sealed) - set(subscription.sealed_approved_for)
    if not missing:
        return ""
    return (
        f"The subscription is not approved for {', '.join(sorted(missing))} (any more); not sent."
    )


def delivery_attempt(*, delivery_id: int) -> Delivery:
    """Make the next attempt of a delivery if it is pending and due; otherwise change
    nothing. Returns the delivery as it stands afterwards.

    Locks: none held during the HTTP request. The attempt is claimed with one conditional
    UPDATE (still pending, due, same attempt count) that bumps `attempts` and pushes
    `next_attempt_at` past ATTEMPT_LEASE; the result is written with another conditional
    UPDATE on the claimed attempt number. So of two workers with the same task exactly one
    sends, and a succeeded or failed delivery is never sent again.

    Side effects: an HTTP POST to the subscription's URL; on a non-2xx answer or an error,
    a retry is enqueued after the next delay in WEBHOOK_RETRY_DELAYS, or the delivery
    becomes `failed` after the last attempt.
    Raises Delivery.DoesNotExist if the delivery is gone (its subscription was deleted).
    """
    delivery = Delivery.objects.select_related("subscription").get(pk=delivery_id)
    now = timezone.now()
    limit = max_attempts()
    if (
        delivery.status != Delivery.Status.PENDING
        or delivery.next_attempt_at is None
        or delivery.next_attempt_at > now
        or delivery.attempts >= limit  # the worker died during the last one: the sweeper ends it
    ):
        return delivery
    attempt = delivery.attempts + 1
    claimed = Delivery.objects.filter(
        pk=delivery.pk,
        status=Delivery.Status.PENDING,
        attempts=delivery.attempts,
        next_attempt_at__lte=now,
    ).update(attempts=attempt, last_attempt_at=now, next_attempt_at=now + ATTEMPT_LEASE)
    if not claimed:
        delivery.refresh_from_db()
        return delivery

    subscription = delivery.subscription
    final = False
    if not subscription.active:
        answer, final = Answer(error="The subscription is inactive; not sent."), True
    elif unapproved := _unapproved(delivery, subscription):
        answer, final = Answer(error=unapproved), True
    else:
        body = request_body(subscription=subscription, delivery=delivery)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Switchboard-Event": delivery.event,
            "Switchboard-Delivery": str(delivery.pk),
            "Switchboard-Signature": signature_header(secret=subscription.secret, body=body),
        }
        # The address is checked again where the POST connects (config.outbound): the name
        # may resolve elsewhere than when it was saved. A refused address ends the delivery.
        answer = http_post(url=subscription.url, body=body, headers=headers)
        final = answer.refused

    done = timezone.now()
    update = {
        "response_code": answer.code,
        "response_ms": answer.ms,
        "response_body": answer.body,
        "error": answer.error,
    }
    retry_in: float | None = None
    if answer.ok:
        update.update(status=Delivery.Status.SUCCEEDED, delivered_at=done, next_attempt_at=None)
    elif final or attempt >= limit:
        update.update(status=Delivery.Status.FAILED, next_attempt_at=None)
    else:
        retry_in = retry_delays()[attempt - 1]
        update.update(next_attempt_at=done + timedelta(seconds=retry_in))
    Delivery.objects.filter(
        pk=delivery.pk, attempts=attempt, status=Delivery.Status.PENDING
    ).update(**update)
    if retry_in is not None:
        # If this publish is lost the row is still pending and due later: the sweeper sends it.
        deliveries_enqueue([delivery.pk], countdown=retry_in)
    delivery.refresh_from_db()
    return delivery


# --- redelivery and the sweeper ---------------------------------------------------------------


def delivery_redeliver(*, delivery: Delivery) -> Delivery:
    """Send a finished (failed or succeeded) delivery again, as a new delivery with a fresh
    attempt series. The original stays in the log as it was; the new one points at it with
    `redelivery_of` and carries the same payload and event id.

    Repeating the request while that redelivery is still pending returns it rather than
    queueing another (the original is row-locked while we check).
    """
    with transaction.atomic():
        original = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("subscription")
            .get(pk=delivery.pk)
        )
        if original.status == Delivery.Status.PENDING:
            raise WebhookError("This delivery is still being attempted.", conflict=True)
        if not original.subscription.active:
            raise WebhookError("The subscription is inactive; activate it first.", conflict=True)
        if unapproved := _unapproved(original, original.subscription):
            raise WebhookError(unapproved, conflict=True)
        pending = original.redeliveries.filter(status=Delivery.Status.PENDING).first()
        if pending is not None:
            return pending
        now = timezone.now()
        copy = Delivery.objects.create(
            subscription=original.subscription,
            event=original.event,
            event_id=original.event_id,
            payload=original.payload,
            sealed=original.sealed,
            next_attempt_at=now,
            created_at=now,
            redelivery_of=original,
        )
        _enqueue_on_commit([copy.pk])
    return copy


def deliveries_redeliver(*, deliveries: Iterable[Delivery]) -> tuple[list[Delivery], list[str]]:
    """Redeliver several; returns the new deliveries and the reasons for any skipped."""
    created, skipped = [], []
    for delivery in deliveries:
        try:
            created.append(delivery_redeliver(delivery=delivery))
        except WebhookError as exc:
            skipped.append(f"delivery {delivery.pk}: {exc}")
    return created, skipped


def subscription_redeliver_failed(*, subscription: Subscription, limit: int = 1000) -> int:
    """After an outage: redeliver every failed delivery of this subscription that has not been
    redelivered yet, oldest first, up to `limit`. Returns how many were queued."""
    if not subscription.active:
        raise WebhookError("The subscription is inactive; activate it first.", conflict=True)
    failed: QuerySet[Delivery] = deliveries_failed_unresent(subscription=subscription)
    created, _ = deliveries_redeliver(deliveries=failed.order_by("id")[:limit])
    return len(created)


def deliveries_sweep(*, older_than: timedelta | None = None, limit: int = SWEEP_LIMIT) -> int:
    """Re-enqueue pending deliveries overdue by more than WEBHOOK_SWEEP_AFTER seconds (a lost
    enqueue, a broker outage, a killed worker), and end those whose last attempt died with
    its worker. Returns how many were re-enqueued.

    Swept rows get next_attempt_at = now, so a backlog is not enqueued again on every sweep
    while it drains; a duplicate task is harmless (the attempt claim lets one through).
    """
    if older_than is None:
        older_than = timedelta(
            seconds=float(getattr(settings, "WEBHOOK_SWEEP_AFTER", DEFAULT_SWEEP_AFTER))
        )
    now = timezone.now()
    cutoff = now - older_than
    overdue = Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lt=cutoff)
    overdue.filter(attempts__gte=max_attempts()).update(
        status=Delivery.Status.FAILED,
        next_attempt_at=None,
        error="The last attempt was interrupted (worker lost); no answer was recorded.",
    )
    ids = list(overdue.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    Delivery.objects.filter(
        pk__in=ids, status=Delivery.Status.PENDING, next_attempt_at__lt=cutoff
    ).update(next_attempt_at=now)
    deliveries_enqueue(ids)
    return len(ids)
