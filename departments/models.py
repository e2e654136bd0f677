"""Departments, the people in them, and their cases: one item in one department's queue."""

from datetime import time, timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from departments.access import (
    CaseEventQuerySet,
    CaseQuerySet,
    NoteQuerySet,
    SpikeQuerySet,
    ThemeQuerySet,
    TriageRollupQuerySet,
)
from feedback.models import FeedbackItem


def _workweek() -> list[int]:
    return [0, 1, 2, 3, 4]


class Department(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    colour = models.CharField(max_length=7, default="#607d8b", help_text="Hex, e.g. #1e88e5.")
    # A sealed department's cases, notes and the items routed only to it are invisible to
    # every other department (HR by default).
    sealed = models.BooleanField(default=False)
    # The department's usual targets: its low and normal priorities' policies start from
    # them (urgent and high are tighter, see departments.sla), and a priority without a
    # policy row falls back to them. Cases read their targets from SlaPolicy.
    first_response_sla = models.DurationField(
        "default first-response target",
        default=timedelta(hours=4),
        help_text="For low and normal priority; urgent and high start tighter.",
    )
    resolution_sla = models.DurationField(
        "default resolution target",
        default=timedelta(days=2),
        help_text="For low and normal priority; urgent and high start tighter.",
    )
    # Overrides the classifier's own threshold for this department when set.
    routing_threshold = models.FloatField(null=True, blank=True)
    # New cases go round-robin to available agents (oldest case first, never over a cap).
    auto_assign = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SlaPolicy(models.Model):
    """A department's targets for cases of one priority (urgent: first response in 1 h)."""

    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="sla_policies"
    )
    priority = models.CharField(max_length=10, choices=FeedbackItem.Priority.choices)
    first_response = models.DurationField(help_text="First response due this long after opening.")
    resolution = models.DurationField(help_text="Resolved this long after opening.")

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(fields=["department", "priority"], name="sla_policy_unique"),
            models.CheckConstraint(
                condition=Q(first_response__gt=timedelta(0), resolution__gt=timedelta(0)),
                name="sla_policy_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.department} · {self.priority}"


class BusinessHours(models.Model):
    """When a department's SLA clocks run. Without a row they run around the clock.

    A window that ends at or before it starts runs overnight (22:00 to 06:00 belongs to
    the weekday it starts on)."""

    class Weekday(models.IntegerChoices):
        MONDAY = 0, "Mon"
        TUESDAY = 1, "Tue"
        WEDNESDAY = 2, "Wed"
        THURSDAY = 3, "Thu"
        FRIDAY = 4, "Fri"
        SATURDAY = 5, "Sat"
        SUNDAY = 6, "Sun"

    department = models.OneToOneField(
        Department, on_delete=models.CASCADE, related_name="business_hours"
    )
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        help_text="An IANA zone, e.g. Europe/Berlin. Without business hours the SLA clocks "
        "run around the clock.",
    )
    weekdays = ArrayField(
        models.PositiveSmallIntegerField(choices=Weekday.choices), default=_workweek
    )
    start = models.TimeField(default=time(9))
    end = models.TimeField(default=time(17))

    class Meta:
        verbose_name = verbose_name_plural = "business hours"

    def __str__(self) -> str:
        days = ",".join(self.Weekday(d).label for d in sorted(self.weekdays))
        return f"{days} {self.start:%H:%M}-{self.end:%H:%M} {self.timezone}"

    def clean(self) -> None:
        from zoneinfo import available_timezones

        errors = {}
        if self.timezone not in available_timezones():
            errors["timezone"] = f"Unknown time zone {self.timezone!r}."
        if not self.weekdays:
            errors["weekdays"] = "Choose at least one day."
        if self.start == self.end:
            errors["end"] = (
                "The window must not be empty; delete the hours to run around the clock."
            )
        if errors:
            raise ValidationError(errors)


class Membership(models.Model):
    class Role(models.TextChoices):
        AGENT = "agent", "Agent"
        MANAGER = "manager", "Manager"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.AGENT)
    available = models.BooleanField(default=True, help_text="Takes automatic assignments.")
    max_open_cases = models.PositiveIntegerField(default=25)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "department"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.department} ({self.role})"


class Case(models.Model):
    """One feedback item in one department's queue. Unique per (item, department)."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        OPEN = "open", "Open"
        # The SLA's resolution clock is paused while the case waits on the customer.
        WAITING = "waiting", "Waiting on customer"
        RESOLVED = "resolved", "Resolved"
        DISMISSED = "dismissed", "Dismissed"

    class RoutedBy(models.TextChoices):
        RULE = "rule", "Rule"
        MODEL = "model", "Model"
        PERSON = "person", "Person"

    OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.WAITING)

    item = models.ForeignKey(
        "feedback.FeedbackItem", on_delete=models.CASCADE, related_name="cases"
    )
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="cases")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_cases",
    )
    priority = models.CharField(max_length=10, default="normal")
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    routed_by = models.CharField(max_length=10, choices=RoutedBy.choices)
    rule = models.ForeignKey("routing.Rule", on_delete=models.SET_NULL, null=True, blank=True)
    model_version = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    confidence = models.FloatField(null=True, blank=True)
    explanation = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(null=True, blank=True, help_text="First response due.")
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The SLA clock (departments.sla): the next target this case can breach, first response
    # or resolution; null while closed, waiting on the customer, or without a clock. The
    # default queue order reads it through `case_open_next_due`.
    sla_due_at = models.DateTimeField(null=True, blank=True, help_text="Next SLA target due.")
    sla_paused_at = models.DateTimeField(
        null=True, blank=True, help_text="Waiting on the customer since (the clock is paused)."
    )
    # Business time spent waiting on the customer, added to the resolution target.
    # db_default too: routing inserts cases with its own INSERT, which leaves this out.
    sla_paused = models.DurationField(default=timedelta(0), db_default=timedelta(0))

    objects = CaseQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "department"], name="case_unique_per_dept"),
        ]
        indexes = [
            # A department's queue: its open cases, newest first / most urgent first.
            models.Index(fields=["department", "status", "-created_at"], name="case_queue"),
            models.Index(fields=["assignee", "status"], name="case_assignee"),
            # The default queue order: breaching soonest first (nulls, paused or without a
            # clock, last), then newest.
            models.Index(
                fields=["department", "sla_due_at", "-created_at", "-id"],
                name="case_open_next_due",
                condition=Q(status__in=["new", "open", "waiting"]),
            ),
            # The default queue view (open cases, newest first) reads this in order and
            # stops after one page; the backlog counts scan only open cases.
            models.Index(
                fields=["department", "-created_at", "-id"],
                name="case_open_recent",
                condition=Q(status__in=["new", "open", "waiting"]),
            ),
            # The queue's "Unassigned" view and its count: without it PostgreSQL scans
            # the cases table for the few open cases nobody has claimed (6 ms at a
            # million posts, on every queue page).
            models.Index(
                fields=["department", "-created_at", "-id"],
                name="case_open_unassigned",
                condition=Q(status__in=["new", "open", "waiting"], assignee__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"case {self.pk} ({self.department.slug}, {self.status})"

    @property
    def sla_badge(self):
        """What the SLA badge says now (departments.sla.SlaBadge)."""
        from departments.sla import sla_badge

        return sla_badge(self, now=timezone.now())


class CaseEvent(models.Model):
    """Append-only timeline of what happened to an item, in any department.

    It is the audit log, the source of the handoff dashboard and the labels the
    classifier retrains on. Rows are never updated, and deleted only with their item when
    an author's posts are erased on request (privacy.services.author_erase).
    """

    class Kind(models.TextChoices):
        ROUTED = "routed", "Routed"
        TRIAGED = "triaged", "Sent to triage"
        NOISE = "noise", "Marked as noise"
        CLAIMED = "claimed", "Claimed"
        ASSIGNED = "assigned", "Assigned"
        STATUS_CHANGED = "status_changed", "Status changed"
        REROUTED = "rerouted", "Rerouted"
        SHARED = "shared", "Shared"
        NOTED = "noted", "Note added"
        TAGGED = "tagged", "Tagged"
        PRIORITIZED = "prioritized", "Priority changed"

    item = models.ForeignKey(
        "feedback.FeedbackItem", on_delete=models.CASCADE, related_name="events"
    )
    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    from_department = models.ForeignKey(
        Department, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    to_department = models.ForeignKey(
        Department, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = CaseEventQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["item", "created_at"], name="event_item_timeline"),
            models.Index(fields=["kind", "created_at"], name="event_kind_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on item {self.item_id}"


class Note(models.Model):
    """An internal note on an item, readable by every department that can see the item."""

    item = models.ForeignKey(
        "feedback.FeedbackItem", on_delete=models.CASCADE, related_name="notes"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    department = models.ForeignKey(
        Department, on_delete=models.SET_NULL, null=True, blank=True, related_name="notes"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    objects = NoteQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["item", "created_at"], name="note_item_time")]

    def __str__(self) -> str:
        return f"note {self.pk} on item {self.item_id}"


class SavedView(models.Model):
    """A person's named queue filter ("my open", "unassigned urgent"), shown with a count."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=1000, blank=True, help_text="The filter query string.")
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_view_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class CaseView(models.Model):
    """When a person last opened a case (its item's page or the queue's reading pane): a
    queue row is unread while the case changed (`Case.updated_at`) after that.

    Not a restricted model: it is read only for `user` themselves, always joined to cases
    the queue already scoped to them, so it names no case the user could not see.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # Also the index the queue's unread check reads (user, case).
            models.UniqueConstraint(fields=["user", "case"], name="case_view_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} saw case {self.case_id} at {self.seen_at:%Y-%m-%d %H:%M}"


# Histogram bucket upper bounds (seconds) for response/resolution times in the rollups: a
# median over any date range is read from summed buckets instead of scanning cases.
DURATION_BUCKETS = [
    300,
    900,
    1800,
    3600,
    2 * 3600,
    4 * 3600,
    8 * 3600,
    16 * 3600,
    24 * 3600,
    2 * 86400,
    3 * 86400,
    5 * 86400,
    7 * 86400,
    14 * 86400,
    30 * 86400,
    10**9,
]


class DailyRollup(models.Model):
    """One day's numbers for one department and source, recomputed by a task for recent
    days. Dashboards read these, so they stay fast at millions of cases."""

    day = models.DateField()
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="+")
    source = models.ForeignKey("feedback.Source", on_delete=models.CASCADE, related_name="+")
    cases = models.PositiveIntegerField(default=0)
    multi_department = models.PositiveIntegerField(
        default=0, help_text="Items also in another department."
    )
    positive = models.PositiveIntegerField(default=0)
    neutral = models.PositiveIntegerField(default=0)
    negative = models.PositiveIntegerField(default=0)
    first_response_met = models.PositiveIntegerField(default=0)
    first_response_missed = models.PositiveIntegerField(default=0)
    resolution_met = models.PositiveIntegerField(default=0)
    resolution_missed = models.PositiveIntegerField(default=0)
    first_response_hist = ArrayField(models.PositiveIntegerField(), default=list)
    resolution_hist = ArrayField(models.PositiveIntegerField(), default=list)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "department", "source"], name="rollup_unique"),
        ]
        indexes = [models.Index(fields=["day", "department"], name="rollup_day_dept")]

    def __str__(self) -> str:
        return f"{self.day} {self.department_id}/{self.source_id}: {self.cases} cases"


class TriageRollup(models.Model):
    """The triage inbox at the end of one day (for today: when computed), per source and
    inbox: how many posts were waiting, and how long they had waited since received
    (a DURATION_BUCKETS histogram). Recomputed with the daily rollups."""

    day = models.DateField()
    source = models.ForeignKey("feedback.Source", on_delete=models.CASCADE, related_name="+")
    # The sealed department these posts belong to (its own triage, or where they went on
    # to alone), whose members alone see them; null for the shared inbox.
    sealed_department = models.ForeignKey(
        Department, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    waiting = models.PositiveIntegerField(default=0)
    age_hist = ArrayField(models.PositiveIntegerField(), default=list)
    computed_at = models.DateTimeField(default=timezone.now)

    objects = TriageRollupQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["day"], name="triage_rollup_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.source_id}/{self.sealed_department_id}: {self.waiting} waiting"


class Spike(models.Model):
    """An hour whose count stood far above its usual level, for a department, a source or
    an intent. `related` lists departments whose usual vocabulary the spike's words match
    (a promotion's complaints landing in support concern marketing too)."""

    class Dimension(models.TextChoices):
        DEPARTMENT = "department", "Department"
        SOURCE = "source", "Source"
        INTENT = "intent", "Intent"

    dimension = models.CharField(max_length=12, choices=Dimension.choices)
    key = models.CharField(max_length=64)
    hour = models.DateTimeField()
    count = models.PositiveIntegerField()
    baseline = models.FloatField()
    zscore = models.FloatField()
    terms = models.JSONField(default=list, blank=True)
    related = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    detected_at = models.DateTimeField(default=timezone.now)

    objects = SpikeQuerySet.as_manager()

    class Meta:
        ordering = ["-hour", "-zscore"]
        constraints = [
            models.UniqueConstraint(fields=["dimension", "key", "hour"], name="spike_unique"),
        ]

    def __str__(self) -> str:
        return f"spike {self.dimension}={self.key} at {self.hour:%Y-%m-%d %H:00}"

    @property
    def reason(self) -> str:
        """Why it fired: "42 posts this hour against about 3 expected (z 9.1)"."""
        posts = "post" if self.count == 1 else "posts"
        return (
            f"{self.count} {posts} this hour against about {round(self.baseline, 1):g} "
            f"expected (z {self.zscore:.1f})"
        )


class ThemeSnapshot(models.Model):
    """Terms rising this week against the previous four, per department (or overall),
    computed by a periodic task with PostgreSQL's ts_stat."""

    scope = models.CharField(max_length=64, unique=True, help_text="Department slug or 'all'.")
    terms = models.JSONField(default=list)
    vocabulary = models.JSONField(default=list, help_text="The scope's usual top terms.")
    computed_at = models.DateTimeField(default=timezone.now)

    objects = ThemeQuerySet.as_manager()

    def __str__(self) -> str:
        return f"themes for {self.scope}"
