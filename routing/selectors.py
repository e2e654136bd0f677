"""Read-side routing queries: the rule editor's dry run."""

from dataclasses import dataclass

from departments.access import item_scores
from departments.models import Department
from feedback.models import FeedbackItem
from routing.classification import classifier_active
from routing.enrichment import Signals, priority_decide
from routing.models import Rule
from routing.rules import CompiledRule, RuleContext, RuleError, rule_compile
from routing.services import Decision, companions_for, decision_make, thresholds_for

DRY_RUN_DEFAULT = 1000
DONE_STATES = (FeedbackItem.State.ROUTED, FeedbackItem.State.TRIAGE, FeedbackItem.State.NOISE)


@dataclass
class DryRunChange:
    item: FeedbackItem
    before: Decision
    after: Decision

    @property
    def added(self) -> list[str]:
        return sorted(set(self.after.targets) - set(self.before.targets))

    @property
    def removed(self) -> list[str]:
        return sorted(set(self.before.targets) - set(self.after.targets))


@dataclass
class DryRunReport:
    examined: int
    matched: int
    changes: list[DryRunChange]


def _ordered_rules(candidate: CompiledRule, position: int, replacing: int | None, departments):
    """The enabled rules as they are, and as they would be with `candidate` saved (in place
    of the rule it edits, if any)."""
    keyed = []
    for row in Rule.objects.filter(enabled=True).order_by("position", "id"):
        try:
            compiled = rule_compile(
                pk=row.pk,
                name=row.name,
                match=row.match,
                conditions=row.conditions,
                actions=row.actions,
                departments=departments,
            )
        except RuleError:
            continue  # routing skips it too
        keyed.append(((row.position, row.pk), compiled))
    current = [rule for _, rule in keyed]
    # An edited rule keeps its id in the ordering; a new one goes after rules of its position.
    key = (position, replacing if replacing is not None else float("inf"))
    others = [(k, rule) for k, rule in keyed if rule.pk != replacing or replacing is None]
    proposed = [rule for _, rule in sorted([*others, (key, candidate)], key=lambda kv: kv[0])]
    return current, proposed


def rule_dry_run(
    *,
    viewer,
    candidate: CompiledRule,
    position: int,
    replacing: int | None = None,
    limit: int = 1000,
) -> DryRunReport:
    """What `candidate` would change among the last `limit` routed items `viewer` may see,
    without writing.

    Uses each item's stored department scores, so it shows the rule's effect alone, not
    differences between model versions. The scores of departments hidden from the viewer
    (a sealed one they are not in) are left out, so a rule on HR's score cannot be used to
    count the posts HR's model score is high for."""
    departments = {d.slug: d for d in Department.objects.all()}
    current, proposed = _ordered_rules(candidate, position, replacing, list(departments))
    classifier = classifier_active()
    thresholds = thresholds_for(classifier, departments)
    companions = companions_for(classifier, thresholds, departments)
    items = list(
        FeedbackItem.objects.visible_to(viewer)
        .filter(state__in=DONE_STATES)
        .exclude(scores={})
        .select_related("source", "author")
        .order_by("-received_at", "-pk")[:limit]
    )
    changes, matched = [], 0
    for item in items:
        item.scores = item_scores(viewer, item)
        followers = item.author.followers if item.author_id else None
        sentiment = item.sentiment or 0.0
        priority, _ = priority_decide(text=item.body, sentiment=sentiment, followers=followers)
        signals = Signals(
            sentiment=sentiment,
            sentiment_label=item.sentiment_label,
            sentiment_confidence=0.0,
            language=item.language,
            priority=priority,
            intents=list(item.intents),
        )
        common = {
            "scores": item.scores,
            "signals": signals,
            "thresholds": thresholds,
            "departments": departments,
            "companions": companions,
        }
        before = decision_make(item, rules=current, **common)
        after = decision_make(item, rules=proposed, **common)
        ctx = RuleContext(
            text=item.body,
            source=item.source.slug,
            language=item.language,
            sentiment=sentiment,
            scores=item.scores,
            followers=followers,
            tags=set(item.intents) | set(item.tags),
        )
        matched += candidate.matches(ctx)
        if (
            set(before.targets) != set(after.targets)
            or before.state != after.state
            or before.priority != after.priority
            or before.tags != after.tags
        ):
            changes.append(DryRunChange(item, before, after))
    return DryRunReport(examined=len(items), matched=matched, changes=changes)
