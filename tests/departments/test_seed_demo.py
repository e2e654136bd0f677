"""seed_demo: refuses outside DEBUG, seeds users, sources and posts, and is safe to rerun."""

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from departments.management.commands.seed_demo import API_KEY_NAME, API_URL, DEMO_POSTS
from departments.models import Case, Department, Membership
from feedback.models import ApiKey, Author, FeedbackItem, Source
from feedback.principals import apikey_authenticate

User = get_user_model()


def seed(*args: str, stderr: StringIO | None = None) -> str:
    out = StringIO()
    call_command("seed_demo", "--force", *args, stdout=out, stderr=stderr or StringIO())
    return out.getvalue()


def printed_key(output: str) -> str:
    return re.search(r"^\s+(sb_[\w-]+)$", output, re.M).group(1)


# --- the demo posts themselves (no database) ---------------------------------------------


def test_demo_posts_are_varied_and_recent():
    assert 40 <= len(DEMO_POSTS) <= 60
    ids = [p["external_id"] for p in DEMO_POSTS]
    assert len(set(ids)) == len(ids), "external ids are the idempotency key: no repeats"
    assert len({p["source"] for p in DEMO_POSTS}) >= 5
    assert max(p["author"]["followers"] or 0 for p in DEMO_POSTS) >= 50_000
    now = timezone.now()
    for post in DEMO_POSTS:
        posted = parse_datetime(post["posted_at"])
        assert now - timedelta(days=14) <= posted <= now, post["external_id"]


# --- the command ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_refuses_without_debug_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="password is public"):
        call_command("seed_demo", stdout=StringIO())
    assert not User.objects.exists()
    assert not FeedbackItem.objects.exists()


@pytest.mark.django_db
def test_runs_without_force_when_debug_is_on(settings):
    settings.DEBUG = True
    call_command("seed_demo", "--no-route", stdout=StringIO(), stderr=StringIO())
    assert User.objects.filter(username="admin", is_superuser=True).exists()


@pytest.mark.django_db
def test_creates_a_manager_and_an_agent_per_department_and_an_admin():
    Department.objects.create(slug="legal", name="Legal")  # added by an admin: included too
    output = seed("--no-route", "--password", "s3cret-demo")

    for dept in Department.objects.all():
        for role in ("manager", "agent"):
            user = User.objects.get(username=f"{dept.slug}-{role}")
            assert Membership.objects.get(user=user, department=dept).role == role
            assert user.check_password("s3cret-demo")
            assert not user.is_superuser
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff and admin.check_password("s3cret-demo")
    assert "legal-manager" in output and "s3cret-demo" in output


@pytest.mark.django_db
def test_creates_the_demo_sources_and_posts():
    output = seed("--no-route")

    assert FeedbackItem.objects.count() == len(DEMO_POSTS)
    assert Source.objects.get(slug="app-store").kind == Source.Kind.APP_STORE
    assert Source.objects.get(slug="community-forum").kind == Source.Kind.FORUM
    assert Author.objects.filter(followers__gte=50_000).exists()
    assert f"Posts: {len(DEMO_POSTS)} created, 0 already present" in output
    # --no-route: the posts wait for a worker, exactly as ingest left them.
    assert set(FeedbackItem.objects.values_list("state", flat=True)) == {"received"}


@pytest.mark.django_db
def test_routes_every_demo_post_by_default():
    err = StringIO()
    seed(stderr=err)

    assert not FeedbackItem.objects.filter(state=FeedbackItem.State.RECEIVED).exists(), (
        err.getvalue()
    )
    assert Case.objects.exists()
    assert FeedbackItem.objects.exclude(model_version="").count() == len(DEMO_POSTS)


@pytest.mark.django_db
def test_second_run_creates_nothing_twice_and_replaces_the_demo_key():
    first = seed()
    counts = (
        User.objects.count(),
        Membership.objects.count(),
        Source.objects.count(),
        Author.objects.count(),
        FeedbackItem.objects.count(),
        Case.objects.count(),
    )

    second = seed("--password", "changed-demo")

    assert (
        User.objects.count(),
        Membership.objects.count(),
        Source.objects.count(),
        Author.objects.count(),
        FeedbackItem.objects.count(),
        Case.objects.count(),
    ) == counts
    assert f"Posts: 0 created, {len(DEMO_POSTS)} already present" in second
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
