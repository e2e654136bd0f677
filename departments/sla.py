"""SLA clocks: each case's targets come from its department's policy for its priority
(`SlaPolicy`), count only the department's business hours when it has them
(`BusinessHours`), and pause while the case waits on the customer.

What is stored on the case, so that queues sort and dashboards count in SQL:

- `due_at`: first response due, `created_at` + the first-response target (business time);
- `resolution_due_at`: `created_at` + the resolution target + `sla_paused` (business time);
- `sla_paused_at` / `sla_paused`: waiting on the customer since / business time waited
  before; the resolution clock does not run meanwhile;
- `sla_due_at`: the next of those two still ahead of the case (null while closed, paused or
  without a clock): the default queue order.

Defaults: a department's low and normal priorities get its own targets (the fields on
Department); high and urgent get at most `TIGHTER[priority]` (urgent: first response 1 h,
resolution 8 h; high: 2 h and 24 h), never looser than the department's own.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from departments.models import BusinessHours, Case, Department, SlaPolicy
from feedback.models import FeedbackItem


@dataclass(frozen=True)
class Targets:
    first_response: timedelta
    resolution: timedelta


# The ceilings high and urgent cases get by default: an urgent harassment report must not
# wait the 24 hours a low-priority remark may. Copied into migration 0007_sla_policies.
TIGHTER = {
    FeedbackItem.Priority.URGENT: Targets(timedelta(hours=1), timedelta(hours=8)),
    FeedbackItem.Priority.HIGH: Targets(timedelta(hours=2), timedelta(hours=24)),
}


def default_targets(department: Department, priority: str) -> Targets:
    """The targets a new policy of `department` starts with for `priority`."""
    own = Targets(department.first_response_sla, department.resolution_sla)
    tight = TIGHTER.get(priority)
    if tight is None:
        return own
    return Targets(
        min(own.first_response, tight.first_response), min(own.resolution, tight.resolution)
    )


def sla_policies_ensure(*, department: Department) -> int:
    """Create the policies `department` lacks (one per priority) from its defaults; existing
    ones are left as edited. Returns how many were created. Idempotent."""
    rows = []
    for priority in FeedbackItem.Priority.values:
        targets = default_targets(department, priority)
        rows.append(
            SlaPolicy(
                department=department,
                priority=priority,
                first_response=targets.first_response,
                resolution=targets.resolution,
            )
        )
    before = SlaPolicy.objects.filter(department=department).count()
    SlaPolicy.objects.bulk_create(rows, ignore_conflicts=True)
    return SlaPolicy.objects.filter(department=department).count() - before


# --- Business hours ---------------------------------------------------------------------


@dataclass(frozen=True)
class Hours:
    """Business hours as the arithmetic needs them."""

    zone: ZoneInfo
    weekdays: frozenset[int]  # Monday is 0
    start: time
    end: time  # at or before start: the window ends the next day

    @classmethod
    def of(cls, row: BusinessHours | None) -> "Hours | None":
        if row is None or not row.weekdays or row.start == row.end:
            return None
        return cls(ZoneInfo(row.timezone), frozenset(row.weekdays), row.start, row.end)


def _windows(hours: Hours, since: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The business windows (UTC start, UTC end) that end after `since`, in order.

    Local times are turned into instants one by one, so a day that springs forward or
    falls back is an hour shorter or longer (zoneinfo resolves a 02:30 that does not exist
    or exists twice with fold=0). Subtracting aware datetimes of one zone would ignore
    that; everything is compared in UTC."""
    day: date = since.astimezone(hours.zone).date() - timedelta(days=1)  # overnight windows
    overnight = hours.end <= hours.start
    while True:
        if day.weekday() in hours.weekdays:
            start = datetime.combine(day, hours.start, hours.zone).astimezone(UTC)
            end_day = day + timedelta(days=1) if overnight else day
            end = datetime.combine(end_day, hours.end, hours.zone).astimezone(UTC)
            if end > since:
                yield start, end
        day += timedelta(days=1)


def business_add(start: datetime, duration: timedelta, hours: Hours | None) -> datetime:
    """The instant `duration` of business time after `start` (plain addition without
    business hours). A clock started outside hours starts at the next window."""
    if hours is None:
        return start + duration
    remaining = duration
    for window_start, window_end in _windows(hours, start):
        begin = max(window_start, start)
        if remaining <= window_end - begin:
            return begin + remaining
        remaining -= window_end - begin
    raise AssertionError("unreachable: _windows never ends")


def business_between(start: datetime, end: datetime, hours: Hours | None) -> timedelta:
    """How much business time lies between two instants (zero if end is before start)."""
    if end <= start:
        return timedelta(0)
    if hours is None:
        return end - start
    total = timedelta(0)
    for window_start, window_end in _windows(hours, start):
        if window_start >= end:
            break
        total += min(window_end, end) - max(window_start, start)
    return total


# --- Clocks on cases --------------------------------------------------------------------


@dataclass(frozen=True)
class SlaClock:
    """One department's policies and hours, loaded once for a batch of cases."""

    policies: dict[str, Targets]
    fallback: Targets
    hours: Hours | None

    def targets(self, priority: str) -> Targets:
        return self.policies.get(priority, self.fallback)


def sla_clocks_load(*, departments: Iterable[Department]) -> dict[int, SlaClock]:
    """The clocks of these departments, by department id (two queries)."""
    departments = {d.pk: d for d in departments}
    policies: dict[int, dict[str, Targets]] = {pk: {} for pk in departments}
    for policy in SlaPolicy.objects.filter(department_id__in=departments):
        policies[policy.department_id][policy.priority] = Targets(
            policy.first_response, policy.resolution
        )
    hours = {
        h.department_id: h for h in BusinessHours.objects.filter(department_id__in=departments)
    }
    return {
        pk: SlaClock(
            policies=policies[pk],
            fallback=Targets(d.first_response_sla, d.resolution_sla),
            hours=Hours.of(hours.get(pk)),
        )
        for pk, d in departments.items()
    }


def sla_clock_of(department: Department) -> SlaClock:
    return sla_clocks_load(departments=[department])[department.pk]


def sla_targets(case: Case, clock: SlaClock | None = None) -> Targets:
    """The targets `case` is held to: its department's policy for its priority."""
    clock = clock or sla_clock_of(case.department)
    return clock.targets(case.priority)


def sla_next_due(case: Case) -> datetime | None:
    """The next target the case can breach; None while closed, paused or without a clock."""
    if case.status not in (Case.Status.NEW, Case.Status.OPEN) or case.sla_paused_at is not None:
        return None
    if case.first_response_at is None:
        dues = [d for d in (case.due_at, case.resolution_due_at) if d is not None]
        return min(dues) if dues else None
    return case.resolution_due_at


def sla_clock_start(case: Case, *, clock: SlaClock, backfill: bool) -> None:
    """Set a new (unsaved) case's due times from its created_at and priority. Historical
    imports are owed no response: no clock for them."""
    if backfill:
        case.due_at = case.resolution_due_at = case.sla_due_at = None
        return
    _due_times_set(case, clock)


def sla_reprioritize(case: Case, *, clock: SlaClock) -> None:
    """The case's priority changed: its due times follow the new policy, counted from when
    it opened (a first response already given stays given)."""
    if case.due_at is None and case.resolution_due_at is None:
        return  # no clock (a historical import)
    _due_times_set(case, clock)


def _due_times_set(case: Case, clock: SlaClock) -> None:
    targets = clock.targets(case.priority)
    case.due_at = business_add(case.created_at, targets.first_response, clock.hours)
    case.resolution_due_at = business_add(
        case.created_at, targets.resolution + case.sla_paused, clock.hours
    )
    case.sla_due_at = sla_next_due(case)


def sla_status_changed(
    case: Case, *, before: str, now: datetime, clock: SlaClock | None = None
) -> None:
    """Keep the clock in step with a status change already set on `case`: entering
    `waiting` pauses it, leaving `waiting` resumes it with the resolution due time moved
    out by the business time spent waiting (the department's clock is read only then)."""
    waiting = Case.Status.WAITING
    if case.status == waiting and before != waiting and case.sla_paused_at is None:
        case.sla_paused_at = now
    elif case.status != waiting and case.sla_paused_at is not None:
        clock = clock or sla_clock_of(case.department)
        waited = business_between(case.sla_paused_at, now, clock.hours)
        case.sla_paused += waited
        case.sla_paused_at = None
        if case.resolution_due_at is not None and waited:
            # Moved out from the due time it had (not recomputed from the policy), so a
            # case opened under other targets keeps the promise it was given.
            case.resolution_due_at = business_add(case.resolution_due_at, waited, clock.hours)
    case.sla_due_at = sla_next_due(case)


SLA_FIELDS = ["due_at", "resolution_due_at", "sla_due_at", "sla_paused_at", "sla_paused"]


# --- The badge --------------------------------------------------------------------------


@dataclass(frozen=True)
class SlaBadge:
    tone: str  # breached, soon, calm, paused, closed or none
    text: str
    target: str = ""  # "first response" or "resolution"
    due: datetime | None = None


def duration_short(delta: timedelta) -> str:
    """35 m, 1 h 50 m, 5 h, 3 d: minutes while under three hours (where they tell cases
    apart), hours under two days, then days."""
    minutes = max(1, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} m"
    if minutes < 3 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h {rest} m" if rest else f"{hours} h"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


# Amber ("breaching soon") when less than a quarter of the time allowed is left, or less
# than an hour: an 8-hour target turns amber with 2 h left, a week-long one with 42 h left,
# a 1-hour one from the start.
SOON_SHARE = 0.25
SOON_WITHIN = timedelta(hours=1)


def sla_badge(case: Case, *, now: datetime) -> SlaBadge:
    if case.status not in Case.OPEN_STATUSES:
        return SlaBadge("closed", "closed")
    if case.status == Case.Status.WAITING or case.sla_paused_at is not None:
        return SlaBadge("paused", "paused", "resolution", case.resolution_due_at)
    due = sla_next_due(case)
    if due is None:
        return SlaBadge("none", "no SLA")
    target = (
        "first response" if case.first_response_at is None and due == case.due_at else "resolution"
    )
    left = due - now
    if left <= timedelta(0):
        return SlaBadge("breached", f"breached {duration_short(-left)}", target, due)
    allowed = due - case.created_at
    tone = "soon" if left < SOON_WITHIN or left < allowed * SOON_SHARE else "calm"
    return SlaBadge(tone, f"due in {duration_short(left)}", target, due)
