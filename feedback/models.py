"""The shared feedback store: where every post lands, whichever department owns it."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone

from departments.access import AuthorQuerySet, ItemQuerySet


class Source(models.Model):
    """A channel posts come from; an integration's API keys belong to one source."""

    class Kind(models.TextChoices):
        X = "x", "X / Twitter"
        FACEBOOK = "facebook", "Facebook"
        INSTAGRAM = "instagram", "Instagram"
        LINKEDIN = "linkedin", "LinkedIn"
        REDDIT = "reddit", "Reddit"
        APP_STORE = "app_store", "App Store"
        GOOGLE_PLAY = "google_play", "Google Play"
        TRUSTPILOT = "trustpilot", "Trustpilot"
        FORUM = "forum", "Forum"
        BLOG = "blog", "Blog"
        EMAIL = "email", "Email"
        WEB_FORM = "web_form", "Web form"
        RSS = "rss", "RSS / Atom feed"
        OTHER = "other", "Other"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.OTHER)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Author(models.Model):
    """The customer behind posts: one row per handle on one source."""

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="authors")
    handle = models.CharField(max_length=255)
    name = models.CharField(max_length=255, blank=True)
    url = models.URLField(max_length=2000, blank=True)
    followers = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AuthorQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "handle"], name="author_unique_handle"),
        ]
        indexes = [
            # "All of this person's posts" matches handles across channels, ignoring case.
            models.Index(Upper("handle"), name="author_handle_ci"),
        ]

    def __str__(self) -> str:
        return self.name or self.handle


class FeedbackItem(models.Model):
    """One post. `body` is untrusted plain text: stored as received, always shown escaped."""

    class State(models.TextChoices):
        RECEIVED = "received", "Received"  # stored, waiting for a routing worker
        ROUTED = "routed", "Routed"  # has a case in at least one department
        TRIAGE = "triage", "Triage"  # no department was confident: the shared triage inbox
        NOISE = "noise", "Noise"  # spam or chatter, no department needs it
        FAILED = "failed", "Failed"  # routing raised; `error` says why

    class Sentiment(models.TextChoices):
        NEGATIVE = "negative", "Negative"
        NEUTRAL = "neutral", "Neutral"
        POSITIVE = "positive", "Positive"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="items")
    external_id = models.CharField(max_length=255)
    url = models.URLField(max_length=2000, blank=True)
    author = models.ForeignKey(
        Author, on_delete=models.SET_NULL, null=True, blank=True, related_name="items"
    )
    body = models.TextField()
    posted_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    language = models.CharField(max_length=16, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    in_reply_to = models.CharField(max_length=255, blank=True)
    # Historical imports skip SLAs and notifications; routing still classifies them.
    backfill = models.BooleanField(default=False)
    # A post no department was sure of, leaning towards a sealed department (HR), waits in
    # that department's own triage instead of the shared inbox (set with state=triage).
    triage_department = models.ForeignKey(
        "departments.Department",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    state = models.CharField(max_length=10, choices=State.choices, default=State.RECEIVED)
    error = models.TextField(blank=True)
    routed_at = models.DateTimeField(null=True, blank=True)
    routing_attempts = models.PositiveSmallIntegerField(default=0)
    swept_at = models.DateTimeField(null=True, blank=True)

    scores = models.JSONField(default=dict, blank=True)
    sentiment = models.FloatField(null=True, blank=True)
    sentiment_label = models.CharField(max_length=10, choices=Sentiment.choices, blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    intents = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    model_version = models.CharField(max_length=64, blank=True)

    # Kept by PostgreSQL itself, so no code path can forget to update it.
    search_vector = models.GeneratedField(
        expression=SearchVector("body", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    objects = ItemQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"], name="item_unique_external_id"
            ),
        ]
        indexes = [
            # The sweeper's query: items still waiting for routing, oldest first.
            models.Index(
                fields=["received_at"],
                name="item_received_waiting",
                condition=Q(state="received"),
            ),
            models.Index(fields=["state", "-received_at"], name="item_state_recent"),
            models.Index(fields=["-received_at"], name="item_recent"),
            models.Index(fields=["author", "-received_at"], name="item_author_recent"),
            GinIndex(fields=["search_vector"], name="item_search"),
            GinIndex(fields=["tags"], name="item_tags"),
        ]

    def __str__(self) -> str:
        return f"{self.source.slug}:{self.external_id}"


class ApiKey(models.Model):
    """A bearer key for one integration.

    Only a SHA-256 digest of the key is stored. Keys are 256-bit random tokens, so a fast
    unsalted hash is enough (there is no dictionary to attack) and lets a request find its
    key by digest in one indexed lookup (or a cache hit).
    """

    class Scope(models.TextChoices):
        INGEST = "ingest", "Ingest feedback"
        READ = "read", "Read results"
        WRITE = "write", "Update cases"
        WEBHOOKS = "webhooks", "Manage its own webhooks"

    name = models.CharField(max_length=200)
    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="api_keys")
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise a key.")
    digest = models.CharField(max_length=64, unique=True)
    scopes = ArrayField(models.CharField(max_length=16, choices=Scope.choices), default=list)
    # A key that updates cases acts as this (service) user, under the same access rules as
    # a person: it can act only on the cases of that user's departments.
    acts_as = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="api_keys",
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Feed(models.Model):
    """An RSS or Atom feed polled on a schedule; its entries go in as posts of `source`.

    `etag` and `last_modified` are the server's validators, echoed back verbatim on the next
    request (conditional GET) so an unchanged feed costs one 304 and no parsing.
    `next_poll_at` is also the claim: a worker moves it forward before polling, so two
    workers never poll the same feed at once (see feedback.connectors.feeds).
    """

    class Status(models.TextChoices):
        OK = "ok", "OK"
        NOT_MODIFIED = "not_modified", "Not modified"
        ERROR = "error", "Error"

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="feeds")
    url = models.URLField(max_length=2000)
    active = models.BooleanField(default=True)
    poll_interval = models.PositiveIntegerField(
        default=900,
        validators=[MinValueValidator(60)],
        help_text="Seconds between polls (at least 60: the scheduler ticks once a minute).",
    )
    etag = models.CharField(max_length=512, blank=True)
    last_modified = models.CharField(max_length=128, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    # Entries without a date are treated as history on a feed's first successful poll.
    last_success_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(default=timezone.now)
    last_status = models.CharField(max_length=16, choices=Status.choices, blank=True)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["source__name", "url"]
        constraints = [
            models.UniqueConstraint(fields=["source", "url"], name="feed_unique_url"),
            models.CheckConstraint(
                condition=Q(poll_interval__gte=60), name="feed_poll_interval_min"
            ),
        ]
        indexes = [
            # The scheduler's query: active feeds that are due, soonest first.
            models.Index(fields=["next_poll_at"], name="feed_due", condition=Q(active=True)),
        ]

    def __str__(self) -> str:
        return self.url
