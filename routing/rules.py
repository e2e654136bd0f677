"""The rules engine: validating rule definitions and evaluating them against items.

A rule is data (JSON conditions and actions on routing.Rule) so admins can edit it in the
browser; this module is the one place that knows what the data means.

Rules run in the routing workers on every incoming post, which is untrusted text, so a
rule's cost must not depend on what a post says beyond its length. Regex conditions run on
RE2, whose matching time is linear in the text (Python's `re` backtracks: `(a+)+$` against
a few dozen hostile characters takes minutes); word lists are escaped literals; and the
number of conditions, words and pattern characters a rule may hold is capped.
"""

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import re2

PRIORITIES = ("low", "normal", "high", "urgent")
TEXT_OPS = ("contains_any", "contains_all", "regex")
NUMBER_OPS = ("above", "below")
CONDITION_FIELDS = ("body", "source", "language", "sentiment", "score", "followers", "tag")
# The operators each field takes (the rule builder offers exactly these).
FIELD_OPS = {
    "body": TEXT_OPS,
    "source": ("in",),
    "language": ("in",),
    "sentiment": NUMBER_OPS,
    "score": NUMBER_OPS,
    "followers": NUMBER_OPS,
    "tag": ("has",),
}
ACTION_TYPES = ("route_to", "never_route_to", "set_priority", "add_tag", "stop")

# What one rule may hold. A rule is evaluated per post, several times per item in the dry
# run; these keep one evaluation of the largest rule over a hostile 10,000-character post
# to about 0.1-0.2 s (measured; each word or RE2 search there costs at most a few
# milliseconds, usually microseconds).
CONDITIONS_MAX = 20
WORDS_MAX = 200
REGEX_MAX_CHARS = 1000
# RE2 is linear in the post, but counted repetitions set the constant: it tracks each
# position of `.{1000}` separately, and past a few hundred its DFA gives up and a search
# over a long post takes the best part of a second (measured). RE2 itself allows 1,000.
REGEX_MAX_REPEAT = 500


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False  # as re.IGNORECASE: Unicode simple case folding
    options.never_capture = True  # rules only ask "does it match", groups are never read
    options.log_errors = False  # a refused pattern is the admin's error, not a log line
    return options


_RE2_OPTIONS = _re2_options()
_COUNT = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_BACKREFERENCE = re.compile(r"\\[1-9]|\(\?P=")
_LOOKAROUND = re.compile(r"\(\?<?[=!]")


class RuleError(ValueError):
    """A rule definition that cannot be used; the message says what is wrong and `field`
    names the part of the rule it is about ("conditions", "actions", "match"), if one."""

    def __init__(self, message: str, field: str | None = None, index: int | None = None):
        super().__init__(message)
        self.field = field
        # Which condition or action (0-based) it is about, so an editor can show it there.
        self.index = index


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
    # What rules about a sealed department set: kept on that department's case only, never
    # on the item every department sees (an "hr-grievance" tag says what an HR case would).
    sealed_priority: dict[str, str] = field(default_factory=dict)
    sealed_tags: dict[str, list[str]] = field(default_factory=dict)


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
        number = float(value)
    except OverflowError as exc:  # an integer beyond float range, e.g. 10**400
        raise RuleError(f"{where}: the number is too large.") from exc
    # json.loads reads NaN and Infinity, which jsonb cannot store and no comparison wants.
    if not math.isfinite(number):
        raise RuleError(f"{where}: expected a finite number.")
    return number


def _string_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v.strip() for v in value)
    ):
        raise RuleError(f"{where}: expected a non-empty list of words.")
    if len(value) > WORDS_MAX:
        raise RuleError(f"{where}: at most {WORDS_MAX} words; split the list over conditions.")
    return [v.strip() for v in value]


def _regex_size(pattern: str) -> int:
    """How many single-character steps the pattern is once counted repetitions are written
    out (`(ab){3}` is 6, `.{0,100}x` is 101). A conservative estimate: the parse is RE2's
    only where it matters for counting (escapes, `\\p{...}`, classes, groups)."""
    frames = [[0, 0]]  # per open group: [steps so far, steps of the last atom]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            closing = pattern.find("}", i) if pattern[i + 1 : i + 3] in ("p{", "P{") else -1
            i = closing + 1 if closing > 0 else i + 2
            atom = 1
        elif char == "[":
            j = i + 1 + (pattern[i + 1 : i + 2] == "^")
            j += pattern[j : j + 1] == "]"  # a leading ] is a literal
            while j < len(pattern) and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i, atom = j + 1, 1
        elif char == "(":
            i += 1
            if pattern[i : i + 1] == "?":  # (?:, (?P<name>, (?i: open a group; (?i) does not
                while i < len(pattern) and pattern[i] not in ":>)":
                    i += 1
                i += 1
                if pattern[i - 1 : i] == ")":
                    continue
            frames.append([0, 0])
            continue
        elif char == ")":
            i, atom = i + 1, frames.pop()[0] if len(frames) > 1 else 0
        elif char == "{" and (count := _COUNT.match(pattern, i)):
            times = int(count.group(2) or count.group(1))
            frames[-1][0] += frames[-1][1] * (times - 1)
            frames[-1][1] *= times
            i = count.end()
            continue
        else:
            i, atom = i + 1, 0 if char in "|*+?^$" else 1
        frames[-1][0] += atom
        frames[-1][1] = atom
    return sum(steps for steps, _ in frames)


def _regex_compile(value: Any, where: str) -> re2._Regexp:
    """Compile an admin's pattern for RE2, or raise RuleError saying why it cannot run."""
    if not isinstance(value, str) or not value:
        raise RuleError(f"{where}: regex must be a non-empty string.")
    if len(value) > REGEX_MAX_CHARS:
        raise RuleError(f"{where}: a regex is at most {REGEX_MAX_CHARS} characters.")
    if _regex_size(value) > REGEX_MAX_REPEAT:
        raise RuleError(
            f"{where}: a regex's counted repetitions ({{n}}, {{n,m}}) may add up to at most "
            f"{REGEX_MAX_REPEAT} characters; use * or + for longer runs."
        )
    try:
        return re2.compile(value, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else ""
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        # RE2 names the operator it stopped at; say why it is missing in product words.
        if _BACKREFERENCE.search(value) and ("escape" in reason or "perl operator" in reason):
            reason = "backreferences (\\1, (?P=name)) are not supported"
        elif _LOOKAROUND.search(value) and "perl operator" in reason:
            reason = "lookahead and lookbehind ((?=, (?!, (?<=, (?<!) are not supported"
        elif "too large" in reason:
            reason = "the pattern is too large (a repetition count may be too high)"
        raise RuleError(
            f"{where}: invalid regular expression: {reason}. Rules use RE2 syntax, which "
            "always runs in linear time."
        ) from exc
    except UnicodeEncodeError as exc:  # a lone surrogate ("\ud800") has no UTF-8 form
        raise RuleError(f"{where}: invalid regular expression: not valid Unicode.") from exc


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
        if self.op not in FIELD_OPS[self.field]:
            raise RuleError(f"{where}: {self.field} takes op {' or '.join(FIELD_OPS[self.field])}.")
        if self.field == "body":
            if self.op == "regex":
                self.regex = _regex_compile(value, where)
            else:
                self.patterns = _words_pattern(_string_list(value, where))
        elif self.field in ("source", "language", "tag"):
            self.values = {v.lower() for v in _string_list(value, where)}
        else:
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
            if self.op == "regex":
                # Bytes, so the wrapper need not map match offsets back to characters.
                return self.regex.search(ctx.text.encode("utf-8", "surrogatepass")) is not None
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

    def departments(self) -> set[str]:
        """Every department the rule names, in its conditions (scores) or its actions."""
        named = {a["department"] for a in self.actions if "department" in a}
        return named | {c.department for c in self.conditions if c.department}


def _check_action(action: Any, index: int, departments: set[str]) -> dict:
    where = f"action {index + 1}"
    if not isinstance(action, dict) or action.get("type") not in ACTION_TYPES:
        raise RuleError(f"{where}: type must be one of {', '.join(ACTION_TYPES)}.")
    kind = action["type"]
    if kind in ("route_to", "never_route_to"):
        dept = action.get("department")
        if not isinstance(dept, str) or dept not in departments:
            raise RuleError(f"{where}: unknown department {dept!r}.")
        return {"type": kind, "department": dept}
    if kind == "set_priority":
        if action.get("priority") not in PRIORITIES:
            raise RuleError(f"{where}: priority must be one of {', '.join(PRIORITIES)}.")
        return {"type": kind, "priority": action["priority"]}
    if kind == "add_tag":
        tag = action.get("tag")
        if not isinstance(tag, str) or not re.fullmatch(r"[\w.-]{1,64}", tag or ""):
            raise RuleError(f"{where}: a tag is 1-64 letters, digits, '-', '_' or '.'.")
        return {"type": kind, "tag": tag.lower()}
    return {"type": "stop"}


def _check_actions(actions: Any, departments: set[str]) -> list[dict]:
    if not isinstance(actions, list) or not actions:
        raise RuleError("A rule needs at least one action.")
    clean = []
    for index, action in enumerate(actions):
        try:
            clean.append(_check_action(action, index, departments))
        except RuleError as exc:
            exc.index = index
            raise
    routed = {a["department"] for a in clean if a["type"] == "route_to"}
    blocked = {a["department"] for a in clean if a["type"] == "never_route_to"}
    conflict = routed & blocked
    if conflict:
        raise RuleError(
            f"Conflicting actions: route to and never route to {', '.join(sorted(conflict))}."
        )
    if len({a["priority"] for a in clean if a["type"] == "set_priority"}) > 1:
        raise RuleError("Conflicting actions: more than one priority.")
    return clean


def rule_row_errors(
    *, conditions: list, actions: list, departments: Iterable[str]
) -> dict[str, dict[int, str]]:
    """Every condition's and action's own error, by position (rule_compile stops at the
    first), so an editor can show each next to its row. The same checks as rule_compile:
    a rule with no errors here can still fail there on what concerns the whole rule."""
    departments = set(departments)
    errors: dict[str, dict[int, str]] = {"conditions": {}, "actions": {}}
    for index, spec in enumerate(conditions):
        try:
            CompiledCondition(spec, index, departments)
        except RuleError as exc:
            errors["conditions"][index] = str(exc).removeprefix(f"condition {index + 1}: ")
    for index, action in enumerate(actions):
        try:
            _check_action(action, index, departments)
        except RuleError as exc:
            errors["actions"][index] = str(exc).removeprefix(f"action {index + 1}: ")
    return errors


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
        raise RuleError("match must be 'all' or 'any'.", field="match")
    if not isinstance(conditions, list) or not conditions:
        raise RuleError("A rule needs at least one condition.", field="conditions")
    if len(conditions) > CONDITIONS_MAX:
        raise RuleError(f"A rule has at most {CONDITIONS_MAX} conditions.", field="conditions")
    compiled = []
    for index, spec in enumerate(conditions):
        try:
            compiled.append(CompiledCondition(spec, index, departments))
        except RuleError as exc:
            exc.field, exc.index = "conditions", index
            raise
    try:
        clean_actions = _check_actions(actions, departments)
    except RuleError as exc:
        exc.field = "actions"
        raise
    return CompiledRule(pk, name, match == "all", compiled, clean_actions)


def rules_apply(
    rules: Sequence[CompiledRule], ctx: RuleContext, sealed: frozenset[str] = frozenset()
) -> tuple[RuleOutcome, dict]:
    """Run rules in order. Returns the combined outcome and, per department routed to or
    blocked, the rule that decided it (for the decision's explanation).

    A rule that names a sealed department (in `sealed`) sets priority and tags for that
    department's case only (`sealed_priority`, `sealed_tags`)."""
    outcome = RuleOutcome()
    decided_by: dict[str, CompiledRule] = {}
    for rule in rules:
        if not rule.matches(ctx):
            continue
        private = sorted(rule.departments() & sealed) if sealed else []
        for action in rule.actions:
            kind = action["type"]
            if kind == "route_to":
                outcome.route_to.append(action["department"])
                decided_by[action["department"]] = rule
            elif kind == "never_route_to":
                outcome.never_route_to.append(action["department"])
                decided_by[action["department"]] = rule
            elif kind == "set_priority" and private:
                for slug in private:
                    outcome.sealed_priority[slug] = action["priority"]
            elif kind == "set_priority":
                outcome.priority = action["priority"]
            elif kind == "add_tag" and private:
                for slug in private:
                    tags = outcome.sealed_tags.setdefault(slug, [])
                    if action["tag"] not in tags:
                        tags.append(action["tag"])
            elif kind == "add_tag" and action["tag"] not in outcome.tags:
                outcome.tags.append(action["tag"])
                ctx.tags.add(action["tag"])  # later rules can match on it
            elif kind == "stop":
                outcome.stop = True
        if outcome.stop:
            break
    return outcome, decided_by
