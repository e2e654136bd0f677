"""seed_demo: refuses outside DEBUG; seeds users (cx-head too), sources and a 90-day
history routed and worked through the real services; sends nothing; its planted wave is
the only spike; and a second run creates nothing."""

import re
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from departments.demo import DATA_DIR
from departments.demo.compose import posts_compose, wave_window
from departments.management.commands.seed_demo import API_KEY_NAME, API_URL
from departments.metrics import BACKLOG_CACHE_KEY, backlog_compute
from departments.models import Case, CaseEvent, DailyRollup, Department, Membership, Note, Spike
from feedback.models import ApiKey, Author, FeedbackItem, Source
from feedback.principals import apikey_authenticate
from routing.models import RoutingLabel
from webhooks.models import Delivery
from webhooks.services import subscription_create

User = get_user_model()
# A short history keeps the suite fast; the planted wave is the same as in 90 days.
SMALL = ("--days", "12", "--per-day", "14")


def seed(*args: str, stderr: StringIO | None = None) -> str:
    out = StringIO()
    call_command("seed_demo", "--force", *args, stdout=out, stderr=stderr or StringIO())
    return out.getvalue()


def printed_key(output: str) -> str:
    return re.search(r"^\s+(sb_[\w-]+)$", output, re.M).group(1)


def counts() -> dict[str, int]:
    models = (User, Membership, Source, Author, FeedbackItem, Case, CaseEvent, Note,
              RoutingLabel, Spike, DailyRollup)  # fmt: skip
    return {m.__name__: m.objects.unscoped().count() if hasattr(m.objects, "unscoped")
            else m.objects.count() for m in models}  # fmt: skip


# --- the composed posts (no database) ------------------------------------------------------


def test_ninety_days_of_varied_posts_with_a_rhythm():
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    posts = posts_compose(now=now)

    assert 3000 <= len(posts) <= 6000
    ids = [p.payload["external_id"] for p in posts]
    assert len(set(ids)) == len(ids), "external ids are the idempotency key: no repeats"
    assert {p.payload["source"] for p in posts} >= {"x", "reddit", "app-store", "web-form"}
    assert all(now - timedelta(days=90) <= p.posted_at <= now for p in posts)
    topics = {p.topic for p in posts}
    assert {"spam", "chatter", "non_english", "jobs", "wave"} <= topics
    weekday = sum(1 for p in posts if p.posted_at.weekday() < 5 and p.topic != "wave") / 5
    weekend = sum(1 for p in posts if p.posted_at.weekday() >= 5) / 2
    assert weekday > 1.2 * weekend
    night = sum(1 for p in posts if 2 <= p.posted_at.hour < 6)
    evening = sum(1 for p in posts if 18 <= p.posted_at.hour < 22 and p.topic != "wave")
    assert evening > 5 * night
    begin, end = wave_window(now)
    assert all(begin <= p.posted_at <= end for p in posts if p.topic == "wave")
    assert max(p.payload["author"]["followers"] or 0 for p in posts) >= 50_000
    assert posts_compose(now=now)[7].payload == posts[7].payload  # deterministic


def test_no_row_of_the_shared_datasets_is_in_the_demo_data():
    datasets = Path(settings.BASE_DIR).parent / "shared" / "datasets"
    if not datasets.is_dir():
        pytest.skip("no ../shared/datasets here")
    import csv

    ours = " ".join(p.read_text().lower() for p in DATA_DIR.glob("*.yaml"))
    ours = re.sub(r"\s+", " ", ours)
    for path in datasets.glob("*.csv"):
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                text = re.sub(r"\s+", " ", (row.get("text") or "").lower()).strip()
                if len(text) >= 25:
                    assert text not in ours, (path.name, text)


# --- the command ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_refuses_without_debug_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="password is public"):
        call_command("seed_demo", stdout=StringIO())
    assert not User.objects.exists()
    assert not FeedbackItem.objects.exists()


@pytest.mark.django_db
def test_no_route_stores_posts_for_the_worker_and_users(settings):
    settings.DEBUG = True
    Department.objects.create(slug="legal", name="Legal")  # added by an admin: included too
    output = seed("--no-route", "--days", "2", "--password", "s3cret-demo")

    for dept in Department.objects.all():
        for role in ("manager", "agent"):
            user = User.objects.get(username=f"{dept.slug}-{role}")
            assert Membership.objects.get(user=user, department=dept).role == role
            assert user.check_password("s3cret-demo")
            assert not user.is_superuser
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password("s3cret-demo")
    cx_head = User.objects.get(username="cx-head")
    assert set(Membership.objects.filter(user=cx_head).values_list("department__slug", "role")) == {
        (d.slug, "manager") for d in Department.objects.filter(sealed=False)
    }
    assert "legal-manager" in output and "cx-head" in output and "s3cret-demo" in output
    assert Source.objects.get(slug="app-store").kind == Source.Kind.APP_STORE
    # --no-route: the posts wait for a worker, exactly as ingest left them.
    assert set(FeedbackItem.objects.values_list("state", flat=True)) == {"received"}


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """One short history for the tests below, seeded with a webhook subscription that
    would hear everything; rolled back afterwards."""
    with django_db_blocker.unblock(), transaction.atomic():
        subscription_create(
            name="everything", url="https://hooks.example.com/in", events=[
                "item.routed", "case.status_changed", "case.rerouted", "case.shared",
                "spike.detected"],
        )  # fmt: skip
        mail.outbox = []
        output = seed(*SMALL)
        result = {
            "output": output,
            "mails": len(mail.outbox),
            "counts": counts(),
            # The conftest empties the cache before each test: read it here.
            "backlog_cached": cache.get(BACKLOG_CACHE_KEY),
            "backlog_live": backlog_compute(),
        }
        yield result
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_history_is_routed_and_worked_by_the_staff(seeded):
    items = FeedbackItem.objects.all()
    assert not items.filter(state="received").exists(), seeded["output"]
    assert items.filter(state="triage").exists(), "the last day's triage inbox has posts"
    # Posts arrived over the days, not in one minute, and were routed as they arrived.
    assert items.order_by("received_at").first().received_at < timezone.now() - timedelta(days=11)
    for dept in Department.objects.all():
        assert Case.objects.filter(department=dept, status="resolved").exists(), dept
    # The busiest queues still have work on the last day (the smaller ones hear too little
    # in 12 days to be sure of it; bench/seed_demo.py shows every queue's over 90).
    for slug in ("support", "product"):
        assert Case.objects.filter(department__slug=slug, status__in=Case.OPEN_STATUSES).exists()
    kinds = set(CaseEvent.objects.values_list("kind", flat=True))
    assert {"routed", "claimed", "status_changed", "noted", "rerouted", "shared"} <= kinds
    assert CaseEvent.objects.filter(actor__username="support-agent").exists()
    # SLA hits and misses both happened.
    resolved = Case.objects.exclude(first_response_at=None).exclude(due_at=None)
    assert resolved.filter(first_response_at__lte=models_f("due_at")).exists()
    assert resolved.filter(first_response_at__gt=models_f("due_at")).exists()
    assert DailyRollup.objects.filter(day__lt=timezone.now().date() - timedelta(days=7)).exists()
    # cx-head sees every department's cases but HR's.
    cx_head = User.objects.get(username="cx-head")
    seen = set(Case.objects.visible_to(cx_head).values_list("department__slug", flat=True))
    assert seen == {"product", "support", "marketing"}


@pytest.mark.django_db
def test_the_overview_shows_the_seeded_backlog_not_an_older_one(seeded):
    # The overview's "open now" reads the backlog cache (refreshed with the rollups): the
    # seed leaves it current, not empty or as it was while the history was being routed.
    assert seeded["backlog_cached"] == seeded["backlog_live"]
    assert seeded["backlog_live"], "the seed leaves open cases"


def models_f(name):
    from django.db.models import F

    return F(name)


@pytest.mark.django_db
def test_the_seed_sends_no_webhook_and_no_email(seeded):
    assert seeded["counts"]["Spike"] >= 1  # there was something to tell
    assert not Delivery.objects.exists()
    assert seeded["mails"] == 0
    assert not Spike.objects.exclude(notified_at=None).exists()


@pytest.mark.django_db
def test_the_planted_wave_is_the_only_spike(seeded):
    now = timezone.now()
    begin, end = wave_window(now)
    wave = FeedbackItem.objects.filter(raw__demo__topic="wave")
    scopes = (
        {("department", s) for s in Case.objects.filter(item__in=wave).values_list(
            "department__slug", flat=True)}
        | {("source", s) for s in wave.values_list("source__slug", flat=True)}
        | {("intent", i) for intents in wave.values_list("intents", flat=True) for i in intents}
    )  # fmt: skip
    spikes = list(Spike.objects.all())
    found = {(s.dimension, s.key) for s in spikes}
    assert {("department", "support"), ("source", "x")} <= found
    assert found <= scopes, found - scopes
    slack = timedelta(minutes=10)  # the seed's clock started a little before this test's
    for spike in spikes:
        assert begin - timedelta(hours=1) - slack <= spike.hour <= end + slack, spike


@pytest.mark.django_db
def test_second_run_creates_nothing_and_replaces_the_demo_key(seeded):
    first = seeded["output"]
    second = seed(*SMALL, "--password", "changed-demo")

    assert counts() == seeded["counts"]
    assert "Posts: 0 created" in second
    assert User.objects.get(username="support-agent").check_password("changed-demo")
    active = ApiKey.objects.filter(name=API_KEY_NAME, revoked_at=None)
    assert active.count() == 1
    assert ApiKey.objects.filter(name=API_KEY_NAME).count() == 2
    old_key, new_key = printed_key(first), printed_key(second)
    assert apikey_authenticate(raw_key=old_key) is None
    principal = apikey_authenticate(raw_key=new_key)
    assert principal.key_id == active.get().pk
    assert set(principal.scopes) == {"ingest", "read"}
    assert active.get().source.slug == "web-form"
    # The first screen's facts are saved for `make run` to print after the servers' lines.
    saved = settings.DEMO_CREDENTIALS_FILE.read_text()
    assert f"Bearer {new_key}" in saved and API_URL in saved and "curl -X POST" in saved
    assert "support-agent" in saved and "changed-demo" in saved and old_key not in saved
