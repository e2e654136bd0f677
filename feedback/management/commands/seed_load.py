"""Seed a large, realistic data set fast (PostgreSQL COPY) for benchmarks.

    python manage.py seed_load --items 1000000 [--days 90] [--seed 7]

Adds items, authors, cases (statuses, SLA clocks, response and resolution times that
depend on age), routing events and some reroutes/shares to whatever is there. Bodies are
generated from small word lists, so full-text search has realistic work to do. Never run it
against a production database: it is for measuring.
"""

import json
import random
import time
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from departments.models import Department
from feedback.models import Source

PHRASES = {
    "support": [
        "my order never arrived",
        "I was charged twice",
        "please refund my payment",
        "cannot log in to my account",
        "the delivery is three days late",
        "tracking number does not work",
        "wrong item in the box",
        "cancel my order",
    ],
    "product": [
        "the app crashes when I open recipes",
        "please add a dark mode",
        "search is broken since the update",
        "would love an export to calendar",
        "the checkout button does nothing",
        "notifications arrive twice",
    ],
    "marketing": [
        "love the new autumn menu",
        "is there a promo code this week",
        "your advert made me smile",
        "we would like to partner with you",
        "best meal kit ever",
        "influencer collaboration request",
    ],
    "hr": [
        "are you hiring drivers",
        "my manager ignores the rota",
        "how do I apply for the warehouse job",
        "great team but low pay",
        "interview feedback never came",
    ],
    "noise": [
        "good morning everyone",
        "win a free phone click here",
        "what a game last night",
        "happy friday",
    ],
}
FILLER = [
    "honestly",
    "again",
    "today",
    "please help",
    "thanks",
    "seriously",
    "asap",
    "😡",
    "🙏",
    "#fail",
    "@brand",
    "lol",
    "!!",
    "why",
    "every week",
]
STATE_WEIGHTS = [
    ("support", 40),
    ("product", 24),
    ("marketing", 14),
    ("hr", 8),
    ("triage", 8),
    ("noise", 6),
]


def _pick(rng, weights):
    total = sum(w for _, w in weights)
    roll = rng.uniform(0, total)
    for value, weight in weights:
        roll -= weight
        if roll <= 0:
            return value
    return weights[-1][0]


class Command(BaseCommand):
    help = "Seed N items with cases and events using COPY (for benchmarks)."

    def add_arguments(self, parser):
        parser.add_argument("--items", type=int, required=True)
        parser.add_argument("--days", type=int, default=90)
        parser.add_argument("--authors", type=int, default=50_000)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, items, days, authors, seed, **options):
        if items <= 0 or days <= 0:
            raise CommandError("--items and --days must be positive.")
        rng = random.Random(seed)
        started = time.perf_counter()
        departments = {d.slug: d for d in Department.objects.all()}
        missing = {"support", "product", "marketing", "hr"} - set(departments)
        if missing:
            raise CommandError(f"Missing departments: {', '.join(sorted(missing))}.")
        sources = [
            Source.objects.get_or_create(
                slug=f"load-{kind}", defaults={"name": f"Load {kind}", "kind": kind}
            )[0]
            for kind in ("x", "reddit", "app_store", "trustpilot", "web_form", "forum")
        ]
        now = timezone.now()
        run = f"{seed}-{int(now.timestamp())}"
        with transaction.atomic(), connection.cursor() as cursor:
            pg = cursor.connection
            author_ids = self._authors(pg, rng, sources, authors, run, now)
            item_start = self._next_id(cursor, "feedback_feedbackitem")
            case_start = self._next_id(cursor, "departments_case")
            n_cases, n_events = self._items(
                pg,
                rng,
                items,
                days,
                now,
                run,
                sources,
                author_ids,
                departments,
                item_start,
                case_start,
            )
            for table in ("feedback_feedbackitem", "departments_case"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM {table}))"
                )
        # VACUUM as well as ANALYZE: autovacuum does both to a table after a bulk load, and
        # until then no page is marked all-visible, so the queue's capped counts (an
        # index-only scan in steady state) read the heap too. Measuring right after the
        # COPY would time a state a real store leaves within minutes.
        with connection.cursor() as cursor:
            for table in (
                "feedback_author",
                "feedback_feedbackitem",
                "departments_case",
                "departments_caseevent",
            ):
                cursor.execute(f"VACUUM ANALYZE {table}")
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"seeded {items} items, {n_cases} cases, {n_events} events in "
            f"{seconds:.1f} s ({items / seconds:,.0f} items/s)"
        )

    def _next_id(self, cursor, table: str) -> int:
        cursor.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}")  # noqa: S608
        return cursor.fetchone()[0]

    def _authors(self, pg, rng, sources, count, run, now):
        with pg.cursor().copy(
            "COPY feedback_author (source_id, handle, name, url, followers, created_at) FROM STDIN"
        ) as copy:
            for i in range(count):
                followers = int(rng.paretovariate(1.2) * 50)
                copy.write_row(
                    (
                        sources[i % len(sources)].pk,
                        f"load{run}-{i}",
                        f"Customer {i}",
                        "",
                        followers,
                        now,
                    )
                )
        with pg.cursor() as cur:
            cur.execute(
                "SELECT id, source_id FROM feedback_author WHERE handle LIKE %s", [f"load{run}-%"]
            )
            by_source: dict[int, list[int]] = {}
            for pk, source_id in cur.fetchall():
                by_source.setdefault(source_id, []).append(pk)
        return by_source

    def _items(
        self,
        pg,
        rng,
        count,
        days,
        now,
        run,
        sources,
        author_ids,
        departments,
        item_start,
        case_start,
    ):
        item_cols = (
            "id, source_id, external_id, url, author_id, body, posted_at, received_at, "
            "language, raw, in_reply_to, backfill, state, error, routed_at, "
            "routing_attempts, scores, sentiment, sentiment_label, priority, intents, "
            "tags, model_version"
        )
        case_cols = (
            "id, item_id, department_id, status, assignee_id, priority, tags, "
            "routed_by, rule_id, model_version, reason, confidence, explanation, "
            "created_at, updated_at, due_at, resolution_due_at, first_response_at, "
            "resolved_at, sla_due_at, sla_paused_at"
        )
        event_cols = (
            "item_id, case_id, kind, actor_id, from_department_id, to_department_id, "
            "note, data, created_at"
        )
        cases: list[tuple] = []
        events: list[tuple] = []
        case_id = case_start
        span = days * 86400
        chunk = 25_000
        # One COPY at a time per connection: items of a chunk first, then its cases and
        # events (PostgreSQL cannot interleave two COPY streams on one connection).
        for first in range(0, count, chunk):
            with pg.cursor().copy(f"COPY feedback_feedbackitem ({item_cols}) FROM STDIN") as copy:
                for n in range(first, min(count, first + chunk)):
                    case_id = self._item(
                        rng,
                        copy,
                        n,
                        item_start,
                        sources,
                        author_ids,
                        now,
                        span,
                        run,
                        departments,
                        case_id,
                        cases,
                        events,
                    )
            self._flush(pg, case_cols, event_cols, cases, events)
        self._flush(pg, case_cols, event_cols, cases, events)
        return case_id - case_start, self._event_count

    _event_count = 0

    def _item(
        self,
        rng,
        copy,
        n,
        item_start,
        sources,
        author_ids,
        now,
        span,
        run,
        departments,
        case_id,
        cases,
        events,
    ) -> int:
        item_id = item_start + n
        source = sources[rng.randrange(len(sources))]
        received = now - timedelta(seconds=span * (rng.random() ** 1.15))
        primary = _pick(rng, STATE_WEIGHTS)
        topic = primary if primary in PHRASES else rng.choice(list(PHRASES))
        body = f"{rng.choice(PHRASES[topic])} {rng.choice(FILLER)} {rng.choice(FILLER)}"
        sentiment = round(
            rng.uniform(-1, 1) * (0.9 if topic != "marketing" else 0.5)
            + (0.4 if topic == "marketing" else -0.1),
            3,
        )
        label = (
            "negative" if sentiment <= -0.05 else ("positive" if sentiment >= 0.05 else "neutral")
        )
        priority = _pick(rng, [("low", 10), ("normal", 70), ("high", 15), ("urgent", 5)])
        state = {"triage": "triage", "noise": "noise"}.get(primary, "routed")
        depts = []
        if state == "routed":
            depts = [primary]
            if rng.random() < 0.1:
                depts.append(
                    rng.choice([d for d in ("support", "product", "marketing") if d != primary])
                )
        scores = {d: round(rng.random() * 0.4, 3) for d in PHRASES}
        for d in depts:
            scores[d] = round(0.6 + rng.random() * 0.4, 3)
        copy.write_row(
            (
                item_id,
                source.pk,
                f"load{run}-{n}",
                "",
                rng.choice(author_ids[source.pk]),
                body,
                received,
                received,
                "en",
                "{}",
                "",
                False,
                state,
                "",
                received + timedelta(seconds=2),
                1,
                json.dumps(scores),
                sentiment,
                label,
                priority,
                "{}",
                "{}",
                "seed",
            )
        )
        for position, slug in enumerate(depts):
            case_id = self._cases(
                rng,
                case_id,
                item_id,
                departments,
                slug,
                received,
                now,
                priority,
                position,
                cases,
                events,
                taken=set(depts),
            )
        return case_id

    def _cases(
        self,
        rng,
        case_id,
        item_id,
        departments,
        slug,
        received,
        now,
        priority,
        position,
        cases,
        events,
        taken,
    ):
        dept = departments[slug]
        created = received + timedelta(seconds=2)
        age_hours = (now - created).total_seconds() / 3600
        others = [d for d in ("support", "product", "marketing") if d not in taken]
        rerouted = position == 0 and bool(others) and rng.random() < 0.04
        if rerouted:  # first routed to a wrong department, then handed over by a person
            wrong = departments[rng.choice(others)]
            moved = created + timedelta(hours=rng.uniform(0.2, 30))
            moved = min(moved, now)
            cases.append(
                (
                    case_id,
                    item_id,
                    wrong.pk,
                    "dismissed",
                    None,
                    priority,
                    "{}",
                    "model",
                    None,
                    "seed",
                    "seed",
                    0.7,
                    "{}",
                    created,
                    moved,
                    created + wrong.first_response_sla,
                    created + wrong.resolution_sla,
                    moved,
                    moved,
                    None,
                    None,
                )
            )
            events.append((item_id, case_id, "routed", None, None, wrong.pk, "", "{}", created))
            events.append(
                (
                    item_id,
                    case_id,
                    "rerouted",
                    None,
                    wrong.pk,
                    dept.pk,
                    "not ours",
                    json.dumps({"from_case": case_id, "to_case": case_id + 1}),
                    moved,
                )
            )
            case_id += 1
            created = moved
        response_hours = rng.lognormvariate(0.5, 1.2)
        resolve_hours = response_hours + rng.lognormvariate(2.0, 1.0)
        status = "new"
        first_response = resolved = None
        if age_hours > resolve_hours and rng.random() < 0.9:
            status = rng.choice(["resolved"] * 9 + ["dismissed"])
            first_response = created + timedelta(hours=response_hours)
            resolved = created + timedelta(hours=resolve_hours)
        elif age_hours > response_hours and rng.random() < 0.7:
            status = rng.choice(["open", "waiting"])
            first_response = (
                created + timedelta(hours=response_hours) if status == "waiting" else None
            )
        routed_by = "person" if rerouted else rng.choice(["model"] * 9 + ["rule"])
        cases.append(
            (
                case_id,
                item_id,
                dept.pk,
                status,
                None,
                priority,
                "{}",
                routed_by,
                None,
                "seed",
                "seed",
                round(rng.uniform(0.5, 1), 3),
                "{}",
                created,
                resolved or created,
                created + dept.first_response_sla,
                created + dept.resolution_sla,
                first_response,
                resolved,
                # The next SLA due time (departments.sla.sla_next_due); waiting is paused.
                None
                if status not in ("new", "open")
                else created
                + (dept.first_response_sla if first_response is None else dept.resolution_sla),
                created + timedelta(hours=response_hours) if status == "waiting" else None,
            )
        )
        events.append((item_id, case_id, "routed", None, None, dept.pk, "", "{}", created))
        return case_id + 1

    def _flush(self, pg, case_cols, event_cols, cases, events):
        if cases:
            with pg.cursor().copy(f"COPY departments_case ({case_cols}) FROM STDIN") as copy:
                for row in cases:
                    copy.write_row(row)
        if events:
            with pg.cursor().copy(f"COPY departments_caseevent ({event_cols}) FROM STDIN") as copy:
                for row in events:
                    copy.write_row(row)
        self._event_count += len(events)
        cases.clear()
        events.clear()
