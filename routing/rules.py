"""The rules engine: validating rule definitions and evaluating them against items.

A rule is data (JSON conditions and actions on routing.Rule) so admins can edit it in the
browser; this module is the one place that knows what the data means.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

PRIORITIES = ("low", "normal", "high", "urgent")
TEXT_OPS = ("contains_any", "contains_all", "regex")
NUMBER_OPS = ("above", "below")
CONDITION_FIELDS = ("body", "source", "language", "sentiment", "score", "followers", "tag")
ACTION_TYPES = ("route_to", "never_route_to", "set_priority", "add_tag", "stop")


class RuleError(ValueError):
    """A rule definition that cannot be used; the message says what is wrong."""


@dataclass
class RuleContext:
    """What a rule can look at for one item."""

    text: str
    source: str
    language: str
    sentiment: float
    scores: dict[str, float]
    followers: int | None
    tags: set[str]


@dataclass
class RuleOutcome:
    route_to: list[str] = field(default_factory=list)
    never_route_to: list[str] = field(default_factory=list)
    priority: str | None = None
    tags: list[str] = field(default_factory=list)
    stop: bool = False


def _words_pattern(words: Sequence[str]) -> list[re.Pattern]:
    # Word boundaries only where the word starts/ends with a word character, so "c++" and
    # "#promo" still match.
    patterns = []
    for word in words:
        left = r"\b" if re.match(r"\w", word) else ""
        right = r"\b" if re.search(r"\w$", word) else ""
        patterns.append(re.compile(left + re.escape(word) + right, re.IGNORECASE))
    return patterns


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleError(f"{where}: expected a number.")
    try:
        return float(value)
    except OverflowError as exc:  # an integer beyond float range, e.g. 10**400
        raise RuleError(f"{where}: the number is too large.") from exc


def _string_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        raise RuleError(f"{where}: expected a non-empty list of words.")
    return [v.strip() for v in value]


class CompiledCondition:
    def __init__(self, spec: Any, index: int, departments: set[str]):
        where = f"condition {index + 1}"
        if not isinstance(spec, dict):
            raise RuleError(f"{where}: expected an object.")
        self.field = spec.get("field")
        self.op = spec.get("op")
        value = spec.get("value")
        self.department = spec.get("department")
        if self.field not in CONDITION_FIELDS:
            raise RuleError(
                f"{where}: unknown field {self.field!r}; use one of {', '.join(CONDITION_FIELDS)}."
            )
        if self.field == "body":
            if self.op not in TEXT_OPS:
                raise RuleError(f"{where}: body takes op {', '.join(TEXT_OPS)}.")
            if self.op == "regex":
                if not isinstance(value, str) or not value:
                    raise RuleError(f"{where}: regex must be a non-empty string.")
                try:
                    self.patterns = [re.compile(value, re.IGNORECASE)]
                # re.compile raises more than re.error: "a{4294967296}" overflows and
                # thousands of nested groups exhaust the recursion limit.
                except (re.error, OverflowError, RecursionError) as exc:
                    raise RuleError(f"{where}: invalid regular expression: {exc}.") from exc
            else:
                self.patterns = _words_pattern(_string_list(value, where))
        elif self.field in ("source", "language"):
            if self.op != "in":
                raise RuleError(f"{where}: {self.field} takes op 'in'.")
            self.values = {v.lower() for v in _string_list(value, where)}
        elif self.field == "tag":
            if self.op != "has":
                raise RuleError(f"{where}: tag takes op 'has'.")
            self.values = {v.lower() for v in _string_list(value, where)}
        else:
            if self.op not in NUMBER_OPS:
                raise RuleError(f"{where}: {self.field} takes op above or below.")
            self.number = _number(value, where)
            if self.field == "score":
                if not isinstance(self.department, str) or self.department not in (
                    departments | {"noise"}
                ):
                    raise RuleError(f"{where}: unknown department {self.department!r}.")
                if not 0 <= self.number <= 1:
                    raise RuleError(f"{where}: a score is between 0 and 1.")
            if self.field == "sentiment" and not -1 <= self.number <= 1:
                raise RuleError(f"{where}: sentiment is between -1 and 1.")

    def matches(self, ctx: RuleContext) -> bool:
        if self.field == "body":
            if self.op == "contains_all":
                return all(p.search(ctx.text) for p in self.patterns)
            return any(p.search(ctx.text) for p in self.patterns)
        if self.field == "source":
            return ctx.source.lower() in self.values
        if self.field == "language":
            return ctx.language.lower() in self.values
        if self.field == "tag":
            return bool(self.values & {t.lower() for t in ctx.tags})
        if self.field == "sentiment":
            actual: float | None = ctx.sentiment
        elif self.field == "score":
            actual = ctx.scores.get(self.department)
        else:
            actual = ctx.followers
        if actual is None:
            return False
        return actual > self.number if self.op == "above" else actual < self.number


@dataclass
class CompiledRule:
    pk: int | None
    name: str
    match_all: bool
    conditions: list[CompiledCondition]
    actions: list[dict]

    def matches(self, ctx: RuleContext) -> bool:
        results = (c.matches(ctx) for c in self.conditions)
        return all(results) if self.match_all else any(results)


def _check_actions(actions: Any, departments: set[str]) -> list[dict]:
    if not isinstance(actions, list) or not actions:
        raise RuleError("A rule needs at least one action.")
    routed, blocked, priorities = set(), set(), set()
    clean = []
    for index, action in enumerate(actions):
        where = f"action {index + 1}"
        if not isinstance(action, dict) or action.get("type") not in ACTION_TYPES:
            raise RuleError(f"{where}: type must be one of {', '.join(ACTION_TYPES)}.")
        kind = action["type"]
        if kind in ("route_to", "never_route_to"):
            dept = action.get("department")
            if not isinstance(dept, str) or dept not in departments:
                raise RuleError(f"{where}: unknown department {dept!r}.")
            (routed if kind == "route_to" else blocked).add(dept)
            clean.append({"type": kind, "department": dept})
        elif kind == "set_priority":
            if action.get("priority") not in PRIORITIES:
                raise RuleError(f"{where}: priority must be one of {', '.join(PRIORITIES)}.")
            priorities.add(action["priority"])
            clean.append({"type": kind, "priority": action["priority"]})
        elif kind == "add_tag":
            tag = action.get("tag")
            if not isinstance(tag, str) or not re.fullmatch(r"[\w.-]{1,64}", tag or ""):
                raise RuleError(f"{where}: a tag is 1-64 letters, digits, '-', '_' or '.'.")
            clean.append({"type": kind, "tag": tag.lower()})
        else:
            clean.append({"type": "stop"})
    conflict = routed & blocked
    if conflict:
        raise RuleError(
            f"Conflicting actions: route to and never route to {', '.join(sorted(conflict))}."
        )
    if len(priorities) > 1:
        raise RuleError("Conflicting actions: more than one priority.")
    return clean


def rule_compile(
    *,
    pk: int | None,
    name: str,
    match: str,
    conditions: Any,
    actions: Any,
    departments: Iterable[str],
) -> CompiledRule:
    """Validate a rule definition and compile it. Raises RuleError with a clear message."""
    departments = set(departments)
    if match not in ("all", "any"):
        raise RuleError("match must be 'all' or 'any'.")
    if not isinstance(conditions, list) or not conditions:
        raise RuleError("A rule needs at least one condition.")
    compiled = [CompiledCondition(spec, i, departments) for i, spec in enumerate(conditions)]
    return CompiledRule(pk, name, match == "all", compiled, _check_actions(actions, departments))


def rules_apply(rules: Sequence[CompiledRule], ctx: RuleContext) -> tuple[RuleOutcome, dict]:
    """Run rules in order. Returns the combined outcome and, per department routed to or
    blocked, the rule that decided it (for the decision's explanation)."""
    outcome = RuleOutcome()
    decided_by: dict[str, CompiledRule] = {}
    for rule in rules:
        if not rule.matches(ctx):
            continue
        for action in rule.actions:
            kind = action["type"]
            if kind == "route_to":
                outcome.route_to.append(action["department"])
                decided_by[action["department"]] = rule
            elif kind == "never_route_to":
                outcome.never_route_to.append(action["department"])
                decided_by[action["department"]] = rule
            elif kind == "set_priority":
                outcome.priority = action["priority"]
            elif kind == "add_tag" and action["tag"] not in outcome.tags:
                outcome.tags.append(action["tag"])
                ctx.tags.add(action["tag"])  # later rules can match on it
            elif kind == "stop":
                outcome.stop = True
        if outcome.stop:
            break
    return outcome, decided_by
