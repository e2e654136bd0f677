"""The triage inbox's read side: what the model suggests for each post, as the viewer may
see it, and posts that say the same thing grouped into one row.

Everything here starts from items the caller already scoped (`visible_to(viewer)`), and a
suggestion is read through `departments.access.item_scores`, so a sealed department the
viewer is not in never appears as a suggestion, a score or a count.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Case as CaseWhen
from django.db.models import IntegerField, QuerySet, Value, When
from django.db.models.functions import Substr
from django.utils import timezone

from departments.access import item_scores
from departments.models import Department
from feedback.models import FeedbackItem

# The inbox is worked from the top: the first WINDOW posts by priority and age are read,
# grouped and counted; past that, a filter or a search narrows it. Reading a few hundred
# bodies' heads and grouping them takes milliseconds; every post of a large backlog would
# not.
WINDOW = 500
HEAD_CHARS = 600  # enough to show one line and to tell whether two posts say the same
GROUP_WITHIN = timedelta(hours=48)  # a "wave": posts about one outage, one campaign
# Two posts say the same thing when their word sets overlap this much (Jaccard): "the app
# crashes on login" and "App crashes on login again!!" do, "the app crashes on upload"
# does not.
SAME_POST = 0.7
# Eight hash permutations (odd multipliers, so each is a bijection of the 61-bit space),
# read as four bands of two.
_MASK = (1 << 61) - 1
_PERMUTATIONS = [
    (0x9E3779B97F4A7C15 + 2 * n * 0x632BE59BD9B4E019 | 1, n * 0x85EBCA6B) for n in range(8)
]
# A second department is suggested beside the first when the model is nearly as sure of it.
SECOND_WITHIN = 0.75
NO_SUGGESTION = "none"

# Most pressing first. (The queue sorts cases, which carry their own priority, the same way.)
PRIORITY_ORDER = ("urgent", "high", "normal", "low")
PRIORITY_RANK = CaseWhen(
    *(When(priority=p, then=Value(len(PRIORITY_ORDER) - i)) for i, p in enumerate(PRIORITY_ORDER)),
    default=Value(0),
    output_field=IntegerField(),
)

_WORD = re.compile(r"[^\W\d_]{2,}")
_NOISE_TOKENS = re.compile(r"https?://\S+|[@#]\w+")
# A word list reads better as words than as 60 quoted strings.
STOPWORDS = frozenset(
    "the a an and or but is are was were be been am i me my we our you your it its this that"  # noqa: SIM905
    " to of in on at for with as by from so do does did not no just again still have has had"
    " can could would will im please hi hello hey".split()
)


@dataclass(frozen=True)
class Suggestion:
    slug: str
    name: str
    colour: str
    score: float


@dataclass
class TriageRow:
    """One line of the inbox: a post, or a group of posts that say the same thing (the
    first, by priority and age, stands for the group)."""

    item: FeedbackItem
    suggestions: list[Suggestion]
    tokens: frozenset[str]
    members: list[FeedbackItem] = field(default_factory=list)

    @property
    def items(self) -> list[FeedbackItem]:
        return [self.item, *self.members]

    @property
    def size(self) -> int:
        return 1 + len(self.members)

    @property
    def ids(self) -> str:
        """What the row's forms send: the representative first."""
        return ",".join(str(item.pk) for item in self.items)

    @property
    def suggestion(self) -> Suggestion | None:
        return self.suggestions[0] if self.suggestions else None

    @property
    def suggestion_key(self) -> str:
        return self.suggestion.slug if self.suggestion else NO_SUGGESTION


@dataclass
class TriageList:
    rows: list[TriageRow]  # after the suggestion filter
    counts: list[tuple[Suggestion | None, int]]  # posts per suggestion, most first
    total: int  # posts in the window, before the suggestion filter
    truncated: bool  # more posts wait than the window holds


def triage_departments() -> dict[str, Department]:
    return {d.slug: d for d in Department.objects.order_by("name")}


def item_suggestions(viewer, item, departments: dict[str, Department]) -> list[Suggestion]:
    """The departments the model leans to for `item`, best first, among those the viewer
    may see (item_scores drops the others): the first, and a second one nearly as likely."""
    ranked = sorted(
        (
            (score, slug)
            for slug, score in item_scores(viewer, item).items()
            if slug in departments and score and score > 0
        ),
        reverse=True,
    )
    out = []
    for score, slug in ranked[:2]:
        if out and score < out[0].score * SECOND_WITHIN:
            break
        d = departments[slug]
        out.append(Suggestion(slug=slug, name=d.name, colour=d.colour, score=float(score)))
    return out


def post_tokens(text: str) -> frozenset[str]:
    """The words that carry a post's meaning: case, accents, links, handles, numbers
    (order ids differ between posts about the same thing) and filler words dropped."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _NOISE_TOKENS.sub(" ", text)
    return frozenset(w for w in _WORD.findall(text) if w not in STOPWORDS)


def _signature(tokens: frozenset[str]) -> list[tuple[int, int, int]]:
    """MinHash bands: posts whose word sets overlap by J share a band with probability
    1 - (1 - J²)^BANDS (0.93 at 0.7, 0.99 at 0.8, 0.04 at 0.1), so near-duplicates are
    found without comparing every pair, and unrelated posts rarely need a comparison."""
    # crc32, not hash(): the same grouping in every process (str hashes are salted).
    hashes = [zlib.crc32(t.encode()) for t in tokens]
    mins = [min((a * h + b) & _MASK for h in hashes) for a, b in _PERMUTATIONS]
    return [(band, mins[2 * band], mins[2 * band + 1]) for band in range(len(mins) // 2)]


def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    return len(a & b) / len(a | b) >= SAME_POST


def rows_group(rows: list[TriageRow]) -> list[TriageRow]:
    """Fold each row into an earlier one that says the same thing within GROUP_WITHIN of
    it; the order of `rows` (priority, then age) is kept."""
    groups: list[TriageRow] = []
    buckets: dict[tuple[int, int, int], list[TriageRow]] = {}
    for row in rows:
        if not row.tokens:  # nothing to compare (emoji only): a row of its own
            groups.append(row)
            continue
        signature = _signature(row.tokens)
        seen: set[int] = set()
        home = None
        for key in signature:
            for group in buckets.get(key, ()):
                if id(group) in seen:
                    continue
                seen.add(id(group))
                near = abs(group.item.received_at - row.item.received_at) <= GROUP_WITHIN
                if near and _similar(group.tokens, row.tokens):
                    home = group
                    break
            if home:
                break
        if home is not None:
            home.members.append(row.item)
            continue
        groups.append(row)
        for key in signature:
            buckets.setdefault(key, []).append(row)
    return groups


def triage_ordered(queryset: QuerySet) -> QuerySet:
    """Urgent first, then oldest first: the post that has waited longest among the most
    pressing ones is the next to handle."""
    return queryset.annotate(priority_rank=PRIORITY_RANK).order_by(
        "-priority_rank", "received_at", "pk"
    )


def triage_list(
    viewer, queryset: QuerySet, *, departments: dict[str, Department], suggest: str = ""
) -> TriageList:
    """The inbox's rows from `queryset` (already scoped to the viewer and filtered): in
    order, grouped, counted per suggestion, narrowed to `suggest` (a slug or "none")."""
    items = list(
        triage_ordered(queryset)
        .select_related("source", "author")
        .defer("body", "raw", "search_vector")
        .annotate(head=Substr("body", 1, HEAD_CHARS))[: WINDOW + 1]
    )
    truncated = len(items) > WINDOW
    items = items[:WINDOW]
    rows = rows_group(
        [
            TriageRow(
                item=item,
                suggestions=item_suggestions(viewer, item, departments),
                tokens=post_tokens(item.head),
            )
            for item in items
        ]
    )
    counts: Counter[str] = Counter()
    first: dict[str, Suggestion | None] = {}
    for row in rows:
        counts[row.suggestion_key] += row.size
        first.setdefault(row.suggestion_key, row.suggestion)
    ordered = sorted(counts.items(), key=lambda kv: (kv[0] == NO_SUGGESTION, -kv[1], kv[0]))
    if suggest:
        rows = [row for row in rows if row.suggestion_key == suggest]
    return TriageList(
        rows=rows,
        counts=[(first[key], n) for key, n in ordered],
        total=len(items),
        truncated=truncated,
    )


def age_short(moment: datetime, now: datetime | None = None) -> str:
    """'4m', '3h', '2d': an age that fits a one-line row."""
    seconds = max(0, int(((now or timezone.now()) - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "now"


def items_for_rows(viewer, values: list[str], limit: int) -> list[list[FeedbackItem]]:
    """The items each posted row value names ("12,15,19": a group, its representative
    first), as the viewer may see them; ids they may not see are dropped like unknown ones.
    Raises ValueError on a malformed value or more than `limit` ids."""
    wanted: list[list[int]] = []
    for value in values:
        ids = [int(part) for part in value.split(",") if part.strip()]
        if not ids or any(not 0 < pk < 2**63 for pk in ids):  # a bigint, or no row
            raise ValueError(f"Not a row: {value[:40]!r}.")
        wanted.append(ids)
    if sum(len(ids) for ids in wanted) > limit:
        raise ValueError(f"At most {limit} posts at once.")
    found = {
        item.pk: item
        for item in FeedbackItem.objects.visible_to(viewer).filter(
            pk__in=[pk for ids in wanted for pk in ids]
        )
    }
    return [[found[pk] for pk in ids if pk in found] for ids in wanted]
