"""Rule validation, conditions, actions, order and stop; the dry run and the editor page;
regex conditions that no post can make run long (RE2)."""

import json
import re
import signal
import time
from contextlib import contextmanager
from html import unescape

import pytest
from django.conf import settings

from departments.access import Viewer
from departments.models import Case, Department
from feedback.models import FeedbackItem
from routing.api.views import RuleSerializer
from routing.models import Rule
from routing.rules import (
    CONDITIONS_MAX,
    REGEX_MAX_CHARS,
    REGEX_MAX_REPEAT,
    WORDS_MAX,
    RuleContext,
    RuleError,
    rule_compile,
    rules_apply,
)
from routing.selectors import rule_dry_run
from routing.services import items_route
from tests.factories import FeedbackItemFactory, UserFactory

SUPERUSER = Viewer(kind="superuser")

DEPTS = ["product", "support", "hr", "marketing"]


def compile_rule(conditions, actions, match="all", name="r"):
    return rule_compile(
        pk=None, name=name, match=match, conditions=conditions, actions=actions, departments=DEPTS
    )


def ctx(**overrides):
    base = {
        "text": "My order #123 was charged twice",
        "source": "trustpilot",
        "language": "en",
        "sentiment": -0.6,
        "scores": {"support": 0.7, "product": 0.1},
        "followers": 50_000,
        "tags": {"complaint"},
    }
    base.update(overrides)
    return RuleContext(**base)


ROUTE = [{"type": "route_to", "department": "support"}]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "body", "op": "contains_any", "value": ["refund", "charged twice"]}, True),
        ({"field": "body", "op": "contains_any", "value": ["charge"]}, False),  # whole words
        ({"field": "body", "op": "contains_all", "value": ["order", "twice"]}, True),
        ({"field": "body", "op": "contains_all", "value": ["order", "refund"]}, False),
        ({"field": "body", "op": "regex", "value": r"order\s*#\d+"}, True),
        ({"field": "source", "op": "in", "value": ["Trustpilot"]}, True),
        ({"field": "language", "op": "in", "value": ["de"]}, False),
        ({"field": "sentiment", "op": "below", "value": -0.5}, True),
        ({"field": "sentiment", "op": "above", "value": 0}, False),
        ({"field": "score", "department": "support", "op": "above", "value": 0.5}, True),
        ({"field": "score", "department": "product", "op": "above", "value": 0.5}, False),
        ({"field": "followers", "op": "above", "value": 10_000}, True),
        ({"field": "tag", "op": "has", "value": ["complaint"]}, True),
        ({"field": "tag", "op": "has", "value": ["praise"]}, False),
    ],
)
def test_conditions(condition, expected):
    assert compile_rule([condition], ROUTE).matches(ctx()) is expected


def test_match_any_versus_all():
    conditions = [
        {"field": "language", "op": "in", "value": ["de"]},
        {"field": "source", "op": "in", "value": ["trustpilot"]},
    ]
    assert compile_rule(conditions, ROUTE, match="any").matches(ctx())
    assert not compile_rule(conditions, ROUTE, match="all").matches(ctx())


def test_followers_condition_is_false_when_unknown():
    rule = compile_rule([{"field": "followers", "op": "below", "value": 10}], ROUTE)
    assert not rule.matches(ctx(followers=None))


@pytest.mark.parametrize(
    ("conditions", "actions", "message"),
    [
        (
            [{"field": "body", "op": "regex", "value": "(unclosed"}],
            ROUTE,
            "invalid regular expression",
        ),
        ([{"field": "mood", "op": "in", "value": ["x"]}], ROUTE, "unknown field"),
        ([{"field": "body", "op": "in", "value": ["x"]}], ROUTE, "body takes op"),
        (
            [{"field": "score", "department": "legal", "op": "above", "value": 0.5}],
            ROUTE,
            "unknown department",
        ),
        (
            [{"field": "score", "department": "support", "op": "above", "value": 5}],
            ROUTE,
            "between 0 and 1",
        ),
        ([{"field": "body", "op": "contains_any", "value": []}], ROUTE, "non-empty list"),
        ([], ROUTE, "at least one condition"),
        ([{"field": "tag", "op": "has", "value": "x"}], [], "at least one action"),
        (
            [{"field": "tag", "op": "has", "value": "x"}],
            [
                {"type": "route_to", "department": "hr"},
                {"type": "never_route_to", "department": "hr"},
            ],
            "Conflicting actions: route to and never route to hr",
        ),
        (
            [{"field": "tag", "op": "has", "value": "x"}],
            [
                {"type": "set_priority", "priority": "low"},
                {"type": "set_priority", "priority": "high"},
            ],
            "more than one priority",
        ),
        ([{"field": "tag", "op": "has", "value": "x"}], [{"type": "explode"}], "type must be"),
        (
            [{"field": "body", "op": "regex", "value": "x" * (REGEX_MAX_CHARS + 1)}],
            ROUTE,
            f"at most {REGEX_MAX_CHARS} characters",
        ),
        (
            [{"field": "body", "op": "regex", "value": "(?:.{0,10}){100}x"}],
            ROUTE,
            f"add up to at most {REGEX_MAX_REPEAT} characters",
        ),
        (
            [{"field": "body", "op": "contains_any", "value": ["w"] * (WORDS_MAX + 1)}],
            ROUTE,
            f"at most {WORDS_MAX} words",
        ),
        (
            [{"field": "tag", "op": "has", "value": "x"}] * (CONDITIONS_MAX + 1),
            ROUTE,
            f"at most {CONDITIONS_MAX} conditions",
        ),
        (
            [{"field": "tag", "op": "has", "value": "x"}],
            [{"type": "add_tag", "tag": "a b"}],
            "a tag is",
        ),
    ],
)
def test_invalid_rules_are_refused_with_a_clear_message(conditions, actions, message):
    with pytest.raises(RuleError, match=message):
        compile_rule(conditions, actions)


def test_actions_in_order_and_stop():
    first = compile_rule(
        [{"field": "tag", "op": "has", "value": ["complaint"]}],
        [{"type": "add_tag", "tag": "angry"}, {"type": "stop"}],
        name="first",
    )
    second = compile_rule(
        [{"field": "tag", "op": "has", "value": ["complaint"]}], ROUTE, name="second"
    )
    outcome, _ = rules_apply([first, second], ctx())
    assert outcome.tags == ["angry"] and outcome.route_to == [] and outcome.stop


def test_a_tag_added_by_one_rule_is_seen_by_the_next():
    tagger = compile_rule(
        [{"field": "source", "op": "in", "value": ["trustpilot"]}],
        [{"type": "add_tag", "tag": "review"}],
    )
    router = compile_rule(
        [{"field": "tag", "op": "has", "value": ["review"]}],
        [{"type": "route_to", "department": "marketing"}],
    )
    outcome, decided_by = rules_apply([tagger, router], ctx(tags=set()))
    assert outcome.route_to == ["marketing"] and decided_by["marketing"] is router


BODY_CHARS = settings.INGEST_MAX_BODY_CHARS
HOSTILE = "a" * (BODY_CHARS - 1) + "!"
# Patterns that make a backtracking engine (Python's re) take exponential or high-degree
# polynomial time in the length of a post like HOSTILE: measured with re, "(a+)+$" doubles
# with every extra "a" (1.3 s at 24 of them), so a full-length post would never finish.
CATASTROPHIC = [
    "(a+)+$",
    r"(\w+\s?)*$",
    "^(a|aa)+$",
    "(a|a)*b",
    r"^(\w+\s?)+$",
    "(.*a){12}x",
]


@contextmanager
def hang_guard(seconds: int):
    """Fail instead of hanging the suite if matching backtracks after all (re checks for
    signals while it matches)."""

    def stop(signum, frame):
        raise TimeoutError(f"still matching after {seconds} s: the regex engine backtracks")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_a_catastrophic_regex_over_a_hostile_post_finishes_at_once(pattern):
    rule = compile_rule([{"field": "body", "op": "regex", "value": pattern}], ROUTE)
    with hang_guard(10):
        started = time.perf_counter()
        rule.matches(ctx(text=HOSTILE))
        elapsed = time.perf_counter() - started
    assert elapsed < 2, f"{pattern}: {elapsed:.2f} s"


def test_the_costliest_rule_allowed_over_a_hostile_post_finishes_at_once():
    words = [f"{'a' * 50}{i}" for i in range(WORDS_MAX)]
    conditions = [
        {"field": "body", "op": "regex", "value": "(a+)+$"},
        # As many counted repetitions as a regex may hold, each tracked by RE2.
        {
            "field": "body",
            "op": "regex",
            "value": f"(?:[^x]{{0,10}}){{{REGEX_MAX_REPEAT // 10 - 1}}}x",
        },
        {"field": "body", "op": "contains_any", "value": words},
        {"field": "body", "op": "contains_all", "value": [*words[:-1], "b"]},
    ] * (CONDITIONS_MAX // 4)
    # match any and none of them matches: every condition is evaluated.
    rule = compile_rule(conditions, ROUTE, match="any")
    with hang_guard(10):
        started = time.perf_counter()
        assert not rule.matches(ctx(text=HOSTILE))
        elapsed = time.perf_counter() - started
    assert elapsed < 2, f"{elapsed:.2f} s"


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(\w+) \1", "backreferences"),
        (r"(?P<word>\w+) (?P=word)", "backreferences"),
        ("refund(?= now)", "lookahead and lookbehind"),
        ("(?<!no )refund", "lookahead and lookbehind"),
        ("refund(?!ed)", "lookahead and lookbehind"),
        ("a++", "bad repetition operator"),  # possessive: Python 3.11+ only
    ],
)
def test_regexes_re2_cannot_run_are_refused_with_the_reason(pattern, reason):
    with pytest.raises(RuleError, match="invalid regular expression") as refused:
        compile_rule([{"field": "body", "op": "regex", "value": pattern}], ROUTE)
    assert reason in str(refused.value) and "RE2 syntax" in str(refused.value)
    assert refused.value.field == "conditions"


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("REFUND", "please refund me", True),
        ("refund", "PLEASE REFUND ME", True),
        ("café", "CAFÉ CRÈME", True),
        ("σ", "ΟΔΥΣΣΕΥΣ", True),
        ("ß", "STRAẞE", True),
        ("k", "\u212a", True),  # the Kelvin sign folds to k in both engines
        ("(?-i:REFUND)", "refund", False),
        ("(?-i:REFUND)", "REFUND", True),
        (r"order\s*#\d+", "ORDER #12", True),
    ],
)
def test_regex_ignores_case_as_before(pattern, text, expected):
    assert (
        compile_rule([{"field": "body", "op": "regex", "value": pattern}], ROUTE).matches(
            ctx(text=text)
        )
        is expected
    )
    assert bool(re.search(pattern, text, re.IGNORECASE)) is expected  # what re said


@pytest.mark.django_db
def test_the_rule_serializer_refuses_what_re2_cannot_run_under_the_field():
    data = {
        "name": "repeated words",
        "position": 10,
        "enabled": True,
        "match": "all",
        "conditions": [{"field": "body", "op": "regex", "value": r"(\w+) \1"}],
        "actions": ROUTE,
    }
    serializer = RuleSerializer(data=data)
    assert not serializer.is_valid()
    assert "backreferences" in serializer.errors["conditions"][0]
    data["conditions"] = [{"field": "body", "op": "regex", "value": r"(\w+) (\w+)"}]
    assert RuleSerializer(data=data).is_valid()


@pytest.mark.django_db
class TestDryRun:
    def routed_items(self):
        Department.objects.update(routing_threshold=1.01)
        items = [
            FeedbackItemFactory(body="Do you sponsor podcasts? partnership enquiry"),
            FeedbackItemFactory(body="The checkout page is broken"),
        ]
        items_route(item_ids=[i.pk for i in items])
        return items

    def test_dry_run_lists_what_would_change_and_writes_nothing(self):
        sponsor, _ = self.routed_items()
        candidate = compile_rule(
            [{"field": "body", "op": "contains_any", "value": ["sponsor", "partnership"]}],
            [
                {"type": "route_to", "department": "marketing"},
                {"type": "set_priority", "priority": "high"},
            ],
        )
        cases_before = Case.objects.count()
        report = rule_dry_run(viewer=SUPERUSER, candidate=candidate, position=10)
        assert report.examined == 2 and report.matched == 1
        [change] = report.changes
        assert change.item == sponsor and change.added == ["marketing"]
        assert change.after.priority == "high"
        assert Case.objects.count() == cases_before and not Rule.objects.exists()

    def test_editing_a_rule_replaces_it_in_the_dry_run(self):
        self.routed_items()
        existing = Rule.objects.create(
            name="checkout to product",
            position=5,
            conditions=[{"field": "body", "op": "contains_any", "value": ["checkout"]}],
            actions=[{"type": "route_to", "department": "product"}],
        )
        # Same rule, now routing to support instead: product disappears, support appears.
        candidate = compile_rule(
            existing.conditions, [{"type": "route_to", "department": "support"}]
        )
        report = rule_dry_run(
            viewer=SUPERUSER, candidate=candidate, position=5, replacing=existing.pk
        )
        [change] = report.changes
        assert change.added == ["support"] and change.removed == ["product"]


@pytest.mark.django_db
class TestEditorPage:
    def admin(self, client):
        client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))

    def form(self, **overrides):
        data = {
            "name": "promo to marketing",
            "position": 10,
            "enabled": "on",
            "match": "all",
            "conditions": '[{"field": "body", "op": "contains_any", "value": ["promo code"]}]',
            "actions": '[{"type": "route_to", "department": "marketing"}]',
            "limit": 1000,
        }
        data.update(overrides)
        return data

    def test_agents_cannot_open_the_editor(self, client, alice):
        client.force_login(alice)
        assert client.get("/rules/").status_code == 302
        assert client.post("/rules/new/", self.form()).status_code == 302
        assert not Rule.objects.exists()

    def test_admin_saves_a_valid_rule(self, client):
        self.admin(client)
        response = client.post("/rules/new/", self.form())
        assert response.status_code == 302
        rule = Rule.objects.get()
        assert rule.actions == [{"type": "route_to", "department": "marketing"}]

    def test_invalid_regex_is_refused_with_the_reason(self, client):
        self.admin(client)
        response = client.post(
            "/rules/new/",
            self.form(conditions='[{"field": "body", "op": "regex", "value": "([a-z"}]'),
        )
        assert response.status_code == 200
        assert "invalid regular expression" in response.content.decode()
        assert not Rule.objects.exists()

    def test_unsupported_regex_is_refused_under_the_conditions_field(self, client):
        self.admin(client)
        data = self.form(conditions='[{"field": "body", "op": "regex", "value": "(?<!no )refund"}]')
        response = client.post("/rules/new/", data)
        assert response.status_code == 200
        [error] = response.context["form"].errors["conditions"]
        assert "lookahead and lookbehind" in error and "RE2 syntax" in error
        assert "lookahead and lookbehind" in response.content.decode()
        response = client.post("/rules/new/dry-run/", data, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        assert "lookahead and lookbehind" in response.content.decode()
        assert not Rule.objects.exists()

    def test_dry_run_of_a_catastrophic_regex_over_hostile_posts_finishes_at_once(self, client):
        self.admin(client)
        scores = {"product": 0.1, "support": 0.2, "hr": 0.0, "marketing": 0.1, "noise": 0.1}
        for _ in range(20):
            FeedbackItemFactory(body=HOSTILE, state=FeedbackItem.State.TRIAGE, scores=scores)
        data = self.form(conditions='[{"field": "body", "op": "regex", "value": "(a+)+$"}]')
        with hang_guard(20):
            started = time.perf_counter()
            response = client.post("/rules/new/dry-run/", data, HTTP_HX_REQUEST="true")
            elapsed = time.perf_counter() - started
        assert response.status_code == 200
        assert "Of the last 20 routed items, <strong>0</strong> match" in response.content.decode()
        assert elapsed < 2, f"{elapsed:.2f} s"

    def test_dry_run_fragment_via_htmx(self, client):
        self.admin(client)
        FeedbackItemFactory(
            body="my promo code failed",
            state=FeedbackItem.State.TRIAGE,
            scores={"product": 0.1, "support": 0.2, "hr": 0.0, "marketing": 0.1, "noise": 0.1},
        )
        response = client.post("/rules/new/dry-run/", self.form(), HTTP_HX_REQUEST="true")
        html = response.content.decode()
        assert response.status_code == 200 and "<html" not in html
        assert "<strong>1</strong> match" in html and "my promo code failed" in html
        assert not Rule.objects.exists()

    def test_editing_an_existing_rule_shows_its_json_and_saves_it_back_unchanged(self, client):
        """The page shows the stored lists as JSON once, and posting the page as shown
        saves (and dry-runs) the same rule."""
        self.admin(client)
        conditions = [{"field": "body", "op": "contains_any", "value": ["promo code"]}]
        actions = [{"type": "route_to", "department": "marketing"}]
        rule = Rule.objects.create(name="promo", position=7, conditions=conditions, actions=actions)
        html = client.get(f"/rules/{rule.pk}/").content.decode()
        shown = {
            name: unescape(text).strip()
            for name, text in re.findall(
                r'<textarea name="(conditions|actions)"[^>]*>(.*?)</textarea>', html, re.S
            )
        }
        assert json.loads(shown["conditions"]) == conditions
        assert json.loads(shown["actions"]) == actions
        # What the browser sends back: the text as shown.
        data = self.form(name="promo", position=7, **shown)
        response = client.post(f"/rules/{rule.pk}/dry-run/", data, HTTP_HX_REQUEST="true")
        assert "at least one condition" not in response.content.decode()
        assert client.post(f"/rules/{rule.pk}/", data).status_code == 302
        rule.refresh_from_db()
        assert rule.conditions == conditions and rule.actions == actions
