"""`manage.py seed_demo`: a demo with a past, for a first look.

Demo users (a manager and an agent per department, a head of customer experience who sees
every department but sealed ones, an admin), the demo rules and sources, then 90 days of
history for Brightloop, a fictional company: several thousand posts composed from the
templates in departments/demo/ (departments.demo.compose), ingested, routed by the real
routing service in batches at the times they arrived, and worked by the demo staff through
the case services at the times they acted (departments.demo.history). Then the dashboards'
rollups, rising terms and the history's spikes are computed. Nothing is sent: webhooks are
suppressed and the spikes of the past notify no one.

Safe to run twice: users, sources and rules are looked up before they are created, and the
history is written once (a store that already holds the demo's posts gets none); a second
run only resets the demo password and replaces the demo API key. The history is not one
transaction (a transaction per routing window and per post worked, see
departments.demo.history), so a seed interrupted half-way leaves half a history: seed a
fresh database again. `make run` seeds before it starts the workers, so none routes the
posts at the present before the seed routes them at their past.
"""

import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from departments.demo import demo_data
from departments.demo.compose import ID_PREFIX, posts_compose
from departments.demo.history import HistoryWorker
from departments.metrics import backlog_refresh
from departments.models import Case, CaseEvent, Department, Membership
from departments.rollups import rollups_refresh
from departments.signals_detect import spikes_history, themes_refresh
from feedback.models import ApiKey, FeedbackItem, Source
from feedback.services import apikey_create, apikey_revoke, feedback_ingest
from routing.classification import classifier_active
from routing.memory import memory_refit
from routing.services import items_route
from webhooks.services import webhooks_suppressed

DEFAULT_PASSWORD = "switchboard-demo"  # noqa: S105 (public by design: demo only)
API_KEY_NAME = "demo integration"
API_KEY_SOURCE = "web-form"
API_URL = "http://127.0.0.1:8000/api/v1/feedback/"
CX_HEAD = "cx-head"
INGEST_CHUNK = 1000
# The history is replayed in windows of this many days: route the window's posts, then
# work them. Staff labels reach the correction memory window by window (rebuilding it for
# every day cost more than the rest of the routing).
WINDOW_DAYS = 6


class Command(BaseCommand):
    help = (
        "Create demo users, rules and sources and 90 days of demo history (posts routed "
        "and worked by the demo staff), build the dashboards' rollups, and print a fresh "
        "demo API key. Safe to run again. Refuses to run with DEBUG off unless --force: "
        "the demo password is public."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            default=DEFAULT_PASSWORD,
            help=f"Password for every demo user (default: {DEFAULT_PASSWORD}).",
        )
        parser.add_argument(
            "--no-route",
            action="store_true",
            help="Store the posts only; leave them for the Celery worker (no history).",
        )
        parser.add_argument("--days", type=int, default=90, help="Days of history (90).")
        parser.add_argument(
            "--per-day", type=float, default=32, help="Posts on an average weekday (32)."
        )
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off.")
        parser.add_argument(
            "--credentials-file",
            default=str(settings.DEMO_CREDENTIALS_FILE),
            help="Where to save the logins, the API key and a curl command (default: "
            "DEMO_CREDENTIALS_FILE, .run/demo-credentials.txt; `make run` prints it once the "
            "servers are up). Empty: none.",
        )

    def handle(self, *args, password: str, no_route: bool, force: bool, credentials_file: str,
               days: int, per_day: float, **options):  # fmt: skip
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off, so this looks like a real deployment. seed_demo creates a "
                "superuser and department accounts whose password is public (the default is "
                "in the source code). Pass --force if this really is a demo instance."
            )
        if not password:
            raise CommandError("--password may not be empty.")
        if days < 1:
            raise CommandError("--days must be at least 1.")

        started = time.perf_counter()
        logins = self._users(password)
        self._rules()
        sources = self._sources()
        now = timezone.now()
        # The past happened long ago: nobody is owed a webhook for it (spikes_history
        # mails no one either).
        with webhooks_suppressed():
            item_ids = self._posts(now=now, days=days, per_day=per_day)
            if no_route:
                self.stdout.write(
                    f"Routing: skipped (--no-route); {len(item_ids)} post(s) wait for a "
                    "Celery worker on the 'routing' queue."
                )
            elif item_ids:
                self._history(item_ids, now=now)
            if not no_route:
                self._dashboards(now=now, days=days)
        raw = self._api_key(sources[API_KEY_SOURCE])
        if credentials_file:
            _credentials_save(
                Path(credentials_file), logins, password, raw, sources[API_KEY_SOURCE].slug
            )
            self.stdout.write(f"Logins, API key and a curl command saved to {credentials_file}.")
        self.stdout.write(f"Seeded in {time.perf_counter() - started:.1f} s.")

    # --- rules -----------------------------------------------------------------------------

    def _rules(self) -> None:
        """A few rules an admin would write on day one; they show how rules and the model
        work together (and route what the model is unsure of)."""
        from routing.models import Rule
        from routing.services import rule_save

        rules = demo_data("company")["rules"]
        made = 0
        for rule in rules:
            if Rule.objects.filter(name=rule["name"]).exists():
                continue
            rule_save(
                rule=None,
                name=rule["name"],
                position=rule["position"],
                enabled=True,
                match="all",
                conditions=[{"field": "body", "op": "contains_any", "value": rule["words"]}],
                actions=[{"type": "route_to", "department": rule["department"]}],
            )
            made += 1
        self.stdout.write(f"Rules ({made} created, {len(rules) - made} already present)")

    # --- users ---------------------------------------------------------------------------

    def _users(self, password: str) -> list[tuple[str, str, str]]:
        User = get_user_model()
        # One hash for every demo user: the password is public anyway, and a PBKDF2 hash
        # costs about half a second each on these machines.
        hashed = make_password(password)
        rows: list[tuple[str, str, str]] = []
        created = 0
        with transaction.atomic():
            admin, made = User.objects.get_or_create(
                username="admin", defaults={"email": "admin@example.com"}
            )
            created += made
            admin.is_staff = admin.is_superuser = admin.is_active = True
            admin.password = hashed
            admin.save()
            rows.append(("admin", "(all)", "superuser"))
            names = demo_data("company")["staff"]
            _name(admin, names)
            for dept in Department.objects.order_by("slug"):
                for role in (Membership.Role.MANAGER, Membership.Role.AGENT):
                    username = f"{dept.slug}-{role}"
                    user, made = User.objects.get_or_create(
                        username=username,
                        defaults={
                            "email": f"{username}@example.com",
                            "first_name": dept.name,
                            "last_name": role.label,
                        },
                    )
                    created += made
                    user.is_active = True
                    user.password = hashed
                    _name(user, names)
                    user.save()
                    Membership.objects.update_or_create(
                        user=user, department=dept, defaults={"role": role}
                    )
                    rows.append((username, dept.name, role.value))
            created += self._cx_head(hashed, names)
            rows.append((CX_HEAD, "all but sealed", "manager"))

        self.stdout.write(
            self.style.MIGRATE_HEADING(
                f"Users ({created} created, {len(rows) - created} already present)"
            )
        )
        width = max(len(r[0]) for r in [("username",), *rows]) + 2
        dwidth = max(len(r[1]) for r in [("", "department"), *rows]) + 2
        self.stdout.write(f"  {'username':<{width}}{'department':<{dwidth}}role")
        for username, dept_name, role in rows:
            self.stdout.write(f"  {username:<{width}}{dept_name:<{dwidth}}{role}")
        self.stdout.write(f"  password for all of them: {password}")
        return rows

    def _cx_head(self, hashed: str, names: dict) -> int:
        """The head of customer experience: a manager in every department that is not
        sealed, so the dashboards show her everything but HR. Returns 1 if created."""
        User = get_user_model()
        user, made = User.objects.get_or_create(
            username=CX_HEAD, defaults={"email": f"{CX_HEAD}@example.com"}
        )
        user.is_active = True
        user.password = hashed
        _name(user, names)
        user.save()
        for dept in Department.objects.filter(sealed=False):
            Membership.objects.update_or_create(
                user=user, department=dept, defaults={"role": Membership.Role.MANAGER}
            )
        return int(made)

    # --- sources and posts ---------------------------------------------------------------

    def _sources(self) -> dict[str, Source]:
        sources: dict[str, Source] = {}
        created = 0
        for spec in demo_data("company")["sources"]:
            sources[spec["slug"]], made = Source.objects.get_or_create(
                slug=spec["slug"], defaults={"name": spec["name"], "kind": spec["kind"]}
            )
            created += made
        self.stdout.write(
            self.style.MIGRATE_HEADING(
                f"Sources ({created} created, {len(sources) - created} already present): "
            )
            + ", ".join(sources)
        )
        return sources

    def _posts(self, *, now, days: int, per_day: float) -> list[int]:
        """Ingest the composed posts, as an integration would; returns the ids created.
        The history is written once: a store that holds demo posts gets no more."""
        present = FeedbackItem.objects.filter(external_id__startswith=ID_PREFIX).count()
        if present:
            self.stdout.write(
                self.style.MIGRATE_HEADING(f"Posts: 0 created, {present} already present")
            )
            return []
        posts = posts_compose(now=now, days=days, per_day=per_day)
        sources = {s.slug: s for s in Source.objects.all()}
        counts: Counter[str] = Counter()
        created: list[int] = []
        for start in range(0, len(posts), INGEST_CHUNK):
            chunk = [p.payload for p in posts[start : start + INGEST_CHUNK]]
            outcomes = feedback_ingest(payloads=chunk, default_source=sources[API_KEY_SOURCE])
            for outcome in outcomes:
                counts[outcome.status] += 1
                if outcome.status == "created":
                    created.append(outcome.item_id)
                if outcome.errors:
                    self.stderr.write(
                        f"  {chunk[outcome.index]['external_id']} rejected: {outcome.errors}"
                    )
        # Each post arrived shortly after it was written (ingest stamps the present).
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE feedback_feedbackitem SET received_at = posted_at"
                " + make_interval(secs => 4 + id %% 50) WHERE id = ANY(%s)",
                [created],
            )
            cursor.execute(
                "UPDATE feedback_author a SET created_at = f.first FROM (SELECT author_id,"
                " min(received_at) AS first FROM feedback_feedbackitem WHERE id = ANY(%s)"
                " GROUP BY author_id) f WHERE a.id = f.author_id",
                [created],
            )
        line = (
            f"Posts: {counts['created']} created, {counts['duplicate']} already present "
            f"(over {len(sources)} sources, {days} days)"
        )
        if counts["rejected"]:
            line += f", {counts['rejected']} rejected (see above)"
        self.stdout.write(self.style.MIGRATE_HEADING(line))
        return created

    # --- history -------------------------------------------------------------------------

    def _history(self, item_ids: list[int], *, now) -> None:
        """Replay the days in order: route each day's posts as the workers did when each
        arrived (in batches, the workers' path), then let the demo staff work them. Their
        decisions are labels, so the correction memory routes the next days' look-alikes
        and the triage inbox shrinks over the months, as it does for a real team."""
        started = time.perf_counter()
        User = get_user_model()
        staff = {u.username: u for u in User.objects.filter(username__contains="-")}
        worker = HistoryWorker(now=now, staff=staff)
        routed_in = 0.0
        windows: dict = {}
        for pk, received in (
            FeedbackItem.objects.filter(pk__in=item_ids)
            .order_by("received_at", "pk")
            .values_list("pk", "received_at")
        ):
            windows.setdefault((now - received).days // WINDOW_DAYS, []).append(pk)
        try:
            classifier_active()
        except (FileNotFoundError, ValueError) as exc:
            # No usable classifier (none installed, or an artifact that does not load): the
            # rest of the demo is still worth having, and a worker routes the posts once a
            # model loads.
            self.stderr.write(
                self.style.WARNING(
                    f"Routing: not possible now ({exc}); {len(item_ids)} post(s) stay "
                    "'received' for the worker."
                )
            )
            return
        size = settings.ROUTING_BATCH_SIZE
        with connection.cursor() as cursor:
            # This session only: a demo's commits need not wait for the disk (a crash loses
            # the last moments of a demo, which a fresh database replays).
            cursor.execute("SET synchronous_commit TO off")
        for window in windows.values():
            memory_refit()  # days pass between windows: the last window's labels count
            with transaction.atomic():
                tick = time.perf_counter()
                for start in range(0, len(window), size):
                    items_route(
                        item_ids=window[start : start + size],
                        now=lambda item: item.received_at + timedelta(seconds=2 + item.pk % 7),
                    )
                routed_in += time.perf_counter() - tick
            day = FeedbackItem.objects.filter(pk__in=window).select_related("triage_department")
            worker.items_work(list(day))
        states = dict(
            FeedbackItem.objects.filter(pk__in=item_ids)
            .values_list("state")
            .annotate(n=Count("pk"))
        )
        self.stdout.write(
            self.style.MIGRATE_HEADING(
                f"History ({time.perf_counter() - started:.1f} s, routing {routed_in:.1f} s): "
            )
            + ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
        )
        self.stdout.write(
            "  staff work: " + ", ".join(f"{n} {what}" for what, n in sorted(worker.done.items()))
        )
        cases = (
            Case.objects.filter(item_id__in=item_ids)
            .values_list("department__name", "status")
            .annotate(n=Count("pk"))
            .order_by("department__name", "status")
        )
        by_dept: dict[str, list[str]] = {}
        for name, status, n in cases:
            by_dept.setdefault(name, []).append(f"{n} {status}")
        for name, parts in by_dept.items():
            self.stdout.write(f"  {name}: " + ", ".join(parts))
        events = CaseEvent.objects.filter(item_id__in=item_ids).count()
        self.stdout.write(f"  {events} events")

    def _dashboards(self, *, now, days: int) -> None:
        """The dashboards' rollups over the history, this week's rising terms, and the
        history's spikes (recorded, mailed to no one)."""
        started = time.perf_counter()
        rows = rollups_refresh(start=(now - timedelta(days=days)).date(), end=now.date())
        # The overview's "open now" reads the backlog cache the rollup task refreshes: one
        # filled while the demo was being routed would show until the next refresh.
        backlog_refresh()
        themes_refresh(now=now)
        spikes = spikes_history(start=now - timedelta(days=days), end=now)
        found = ", ".join(sorted({f"{s.dimension} {s.key}" for s in spikes})) or "none"
        self.stdout.write(
            self.style.MIGRATE_HEADING(f"Dashboards ({time.perf_counter() - started:.1f} s): ")
            + f"{rows} rollup rows; spikes in the history: {found}"
        )

    # --- API key -------------------------------------------------------------------------

    def _api_key(self, source: Source) -> str:
        revoked = 0
        for key in ApiKey.objects.filter(name=API_KEY_NAME, revoked_at=None):
            apikey_revoke(key=key)
            revoked += 1
        key, raw = apikey_create(name=API_KEY_NAME, source=source, scopes=["ingest", "read"])
        note = f"; {revoked} previous demo key(s) revoked" if revoked else ""
        self.stdout.write(
            self.style.MIGRATE_HEADING(f'API key "{API_KEY_NAME}"')
            + f" (source {source.slug}, scopes "
            f"{', '.join(key.scopes)}{note}):"
        )
        self.stdout.write(f"  {raw}")
        return raw


def _name(user, names: dict) -> None:
    """The demo person's display name (departments/demo/company.yaml), if it has one."""
    name = names.get(user.username)
    if name:
        user.first_name, user.last_name = name["first"], name["last"]


def _curl(raw_key: str) -> str:
    return (
        f"curl -X POST {API_URL} \\\n"
        f'  -H "Authorization: Bearer {raw_key}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        '  -d \'{"external_id": "curl-1", "author": {"handle": "curl-tester"}, '
        '"body": "The app crashes when I open my order history."}\''
    )


def _credentials_save(path: Path, logins, password: str, raw_key: str, source: str) -> None:
    """The first screen's facts, in a file (git-ignored under .run/): `make run` prints it
    after the servers' start-up lines, so nothing buries it."""
    width = max(len(u) for u, _, _ in logins) + 2
    lines = [
        "Switchboard demo is up: http://127.0.0.1:8000/",
        "",
        f"Log in with password {password!r} as:",
        *(f"  {u:<{width}}{d} {r}" for u, d, r in logins),
        "",
        f"API key (source {source}, scopes ingest, read):",
        f"  {raw_key}",
        "",
        "Post a piece of feedback:",
        _curl(raw_key),
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    path.chmod(0o600)
