"""The rule builder: a rule's conditions and actions as rows of form fields, and back.

The editor posts both the rows (`c<i>-field`, `c<i>-op`, `c<i>-value`, `c<i>-department`;
`a<i>-type`, `a<i>-value`) and the JSON of the "advanced" view (`conditions`, `actions`).
Each render also posts back a digest of what it showed of each (`rows_seen`,
`json_seen`), so the server can tell which one the person changed, with or without
JavaScript: the JSON wins only when it changed and the rows did not. The rows are then
turned into the same JSON the form validates, so `routing.rules` stays the only judge of
what a rule may say; this module only translates.
"""

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from django.http import QueryDict

from routing.rules import FIELD_OPS, PRIORITIES

# Bounds the work a hostile post can cause; a rule itself holds at most CONDITIONS_MAX.
ROWS_MAX = 100
NUMBER_FIELDS = ("sentiment", "score", "followers")
LIST_OPS = ("contains_any", "contains_all", "in", "has")
FIELD_LABELS = {
    "body": "Post text",
    "source": "Source",
    "language": "Language",
    "tag": "Tag",
    "sentiment": "Sentiment",
    "score": "Model score",
    "followers": "Author followers",
}
OP_LABELS = {
    "contains_any": "contains any of",
    "contains_all": "contains all of",
    "regex": "matches regex",
    "in": "is one of",
    "has": "has any of",
    "above": "is above",
    "below": "is below",
}
ACTION_LABELS = {
    "route_to": "Route to",
    "never_route_to": "Never route to",
    "set_priority": "Set priority",
    "add_tag": "Add tag",
    "stop": "Stop (skip later rules)",
}
PLACEHOLDERS = {
    "contains_any": "refund, charged twice",
    "contains_all": "order, missing",
    "regex": r"order\s*#\d+",
    "source": "trustpilot, twitter",
    "language": "de, fr",
    "has": "complaint",
    "sentiment": "-0.5 (from -1 to 1)",
    "score": "0.4 (from 0 to 1)",
    "followers": "10000",
}
NEW_CONDITION = {"field": "body", "op": "contains_any", "value": []}
NEW_ACTION = {"type": "route_to", "department": ""}
# A rule error about one row ("condition 2: ..."), which the builder shows by the row.
ROW_ERROR = re.compile(r"^(condition|action) \d+: ")
_ROW_KEY = re.compile(r"^([ca])(\d{1,4})-(?:field|type)$")


def _words(text: str) -> list[str]:
    return [word.strip() for word in text.split(",") if word.strip()]


def _number(text: str) -> int | float | None:
    """The number typed, or None (which the rule check refuses as "expected a number")."""
    text = text.strip()
    if re.fullmatch(r"[+-]?\d{1,18}", text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def condition_from_row(field: str, op: str, value: str, department: str) -> dict:
    condition: dict[str, Any] = {"field": field, "op": op}
    if field == "score":
        condition["department"] = department
    if field in NUMBER_FIELDS:
        condition["value"] = _number(value)
    elif op in LIST_OPS:
        condition["value"] = _words(value)
    else:  # a regex: spaces in it are part of the pattern
        condition["value"] = value
    return condition


def action_from_row(kind: str, value: str) -> dict:
    key = {"route_to": "department", "never_route_to": "department"}.get(kind)
    key = key or {"set_priority": "priority", "add_tag": "tag"}.get(kind)
    return {"type": kind, key: value.strip()} if key else {"type": kind}


def rows_posted(data: QueryDict) -> tuple[list, list] | None:
    """The conditions and actions the rows say, in row order; None if no rows came."""
    found: dict[str, list[int]] = {"c": [], "a": []}
    for key in data:
        if (match := _ROW_KEY.match(key)) and len(found[match[1]]) < ROWS_MAX:
            found[match[1]].append(int(match[2]))
    if not found["c"] and not found["a"]:
        return None
    conditions = [
        condition_from_row(
            data.get(f"c{i}-field", ""),
            data.get(f"c{i}-op", ""),
            data.get(f"c{i}-value", ""),
            data.get(f"c{i}-department", ""),
        )
        for i in sorted(found["c"])
    ]
    actions = [
        action_from_row(data.get(f"a{i}-type", ""), data.get(f"a{i}-value", ""))
        for i in sorted(found["a"])
    ]
    return conditions, actions


def digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def json_lists(data: QueryDict) -> tuple[list, list] | None:
    try:
        lists = json.loads(data.get("conditions", "")), json.loads(data.get("actions", ""))
    except (RecursionError, ValueError):
        return None
    return lists if all(isinstance(v, list) for v in lists) else None


def _rows_round_trip(conditions: list, actions: list) -> tuple[list, list]:
    """What the rows shown for these lists post back untouched."""
    rows = [condition_row(spec, i) for i, spec in enumerate(conditions)]
    return (
        [condition_from_row(r.field, r.op, r.value, r.department) for r in rows],
        [
            action_from_row(r.kind, r.value)
            for r in (action_row(a, i) for i, a in enumerate(actions))
        ],
    )


@dataclass
class Resolved:
    data: QueryDict
    from_json: bool = False  # the JSON was edited: the rows must be drawn again from it
    rearranged: bool = False  # a row was added or removed: show the form, do not save
    fresh: tuple[str, int] | None = None  # the row just added (no error shown for it yet)


def post_resolve(data: QueryDict) -> Resolved:
    """Decide whether the rows or the JSON say what the rule is now, apply the add/remove
    row buttons, and return the data with `conditions` and `actions` set accordingly."""
    rows = rows_posted(data)
    if rows is None:  # a post with only the JSON (older pages, scripts)
        return Resolved(data)
    posted_json = json_lists(data)
    rows_changed = digest(rows) != data.get("rows_seen")
    json_changed = digest(posted_json or data.get("conditions", "")) != data.get("json_seen")
    from_json = json_changed and not rows_changed
    if from_json and posted_json is None:  # the JSON's own error shows under it
        return Resolved(data, from_json=True)
    conditions, actions = posted_json if from_json else rows
    resolved = Resolved(data.copy(), from_json=from_json)
    add, remove = data.get("add"), data.get("remove", "")
    if add in ("condition", "action"):
        group = conditions if add == "condition" else actions
        group.append(dict(NEW_CONDITION if add == "condition" else NEW_ACTION))
        resolved.rearranged = True
        resolved.fresh = (f"{add}s", len(group) - 1)
    elif match := re.fullmatch(r"([ca])(\d{1,4})", remove):
        group = conditions if match[1] == "c" else actions
        if int(match[2]) < len(group):
            del group[int(match[2])]
        resolved.rearranged = True
    resolved.data["conditions"] = json.dumps(conditions, ensure_ascii=True)
    resolved.data["actions"] = json.dumps(actions, ensure_ascii=True)
    return resolved


@dataclass
class ConditionRow:
    index: int
    field: str
    op: str
    value: str
    department: str
    error: str = ""

    @property
    def ops(self) -> tuple[str, ...]:
        return FIELD_OPS.get(self.field, ())

    @property
    def number(self) -> bool:
        return self.field in NUMBER_FIELDS

    @property
    def placeholder(self) -> str:
        return PLACEHOLDERS.get(self.op if self.field in ("body", "tag") else self.field, "")


@dataclass
class ActionRow:
    index: int
    kind: str
    value: str
    error: str = ""

    @property
    def control(self) -> str:
        """Which input the value needs: a department, a priority, a tag, or none."""
        return {
            "route_to": "department",
            "never_route_to": "department",
            "set_priority": "priority",
            "add_tag": "tag",
        }.get(self.kind, "")


def _shown(text: str) -> str:
    # JSON can spell a lone surrogate ("\ud800"), which a page cannot encode; the rule's
    # check refuses it, the row shows it as U+FFFD.
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return _shown(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return _shown(", ".join(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(value) if isinstance(value, float) else str(value)
    return _shown(json.dumps(value, ensure_ascii=False))


def condition_row(spec: Any, index: int) -> ConditionRow:
    spec = spec if isinstance(spec, dict) else {}
    return ConditionRow(
        index=index,
        field=_text(spec.get("field")),
        op=_text(spec.get("op")),
        value=_text(spec.get("value")),
        department=_text(spec.get("department")),
    )


def action_row(action: Any, index: int) -> ActionRow:
    action = action if isinstance(action, dict) else {}
    row = ActionRow(index=index, kind=_text(action.get("type")), value="")
    if row.control:
        row.value = _text(action.get(row.control))
    return row


def builder_rows(
    conditions: list, actions: list, errors: dict[str, dict[int, str]] | None = None
) -> dict[str, Any]:
    """What the template draws: the rows, with each one's error, and the digests."""
    errors = errors or {"conditions": {}, "actions": {}}
    condition_rows = [condition_row(spec, i) for i, spec in enumerate(conditions)]
    action_rows = [action_row(action, i) for i, action in enumerate(actions)]
    for row in condition_rows:
        row.error = _shown(errors["conditions"].get(row.index, ""))
    for row in action_rows:
        row.error = _shown(errors["actions"].get(row.index, ""))
    return {
        "conditions": condition_rows,
        "actions": action_rows,
        "rows_seen": digest(_rows_round_trip(conditions, actions)),
        "json_seen": digest([conditions, actions]),
        # Which inputs the rows have: when a post's shape differs, the rows are redrawn.
        "shape": digest([[r.field for r in condition_rows], [r.kind for r in action_rows]]),
        "fields": FIELD_LABELS,
        "op_labels": OP_LABELS,
        "action_labels": ACTION_LABELS,
        "priorities": PRIORITIES,
    }
