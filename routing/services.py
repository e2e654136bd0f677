"""Routing: turning `received` items into cases in the departments that own them."""

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from config import metrics
from departments.models import Case, CaseEvent, Department
from departments.services import cases_auto_assign_on_commit
from departments.sla import sla_clock_start, sla_clocks_load
from feedback.models import FeedbackItem
from routing.classification import ActiveClassifier, classifier_active
from routing.classifier.evaluation import companion_of
from routing.classifier.model import ScoredBatch
from routing.dispatch import routing_enqueue
from routing.enrichment import Signals, signals_compute
from routing.memory import CorrectionMemory, MemoryEffect, keys_of, memory_for
from routing.models import Rule
from routing.rules import CompiledRule, RuleContext, RuleError, rule_compile, rules_apply

logger = logging.getLogger(__name__)

NOISE = "noise"
EXPLAIN_TERMS = 5
# Score a correction-memory vote must reach to open a case in a department the model
# has no label for (one an admin added).
MEMORY_ONLY_THRESHOLD = 0.6


@dataclass
class RoutingSummary:
    routed: int = 0
    triage: int = 0
    noise: int = 0
    failed: int = 0
    skipped: int = 0
    cases: int = 0
    item_ids: list[int] = field(default_factory=list)


@dataclass
class Decision:
    """What routing decided for one item, before it is written."""

    state: str
    scores: dict[str, float]
    signals: Signals
    priority: str
    tags: list[str]
    # department slug -> (routed_by, rule or None, confidence, explanation dict)
    targets: dict[str, tuple[str, CompiledRule | None, float | None, dict]]
    blocked: dict[str, CompiledRule]
    # Priority and tags that rules about a sealed department set for its case only.
    sealed_priority: dict[str, str] = field(default_factory=dict)
    sealed_tags: dict[str, list[str]] = field(default_factory=dict)
    # A triage item leaning towards a sealed department waits in that department's triage.
    triage_department: Department | None = None


def rules_load(departments: Sequence[str]) -> list[CompiledRule]:
    """Enabled rules in order, compiled. A rule that no longer validates (a department was
    removed) is skipped with a warning rather than stopping all routing."""
    compiled = []
    for rule in Rule.objects.filter(enabled=True).order_by("position", "id"):
        try:
            compiled.append(
                rule_compile(
                    pk=rule.pk,
                    name=rule.name,
                    match=rule.match,
                    conditions=rule.conditions,
                    actions=rule.actions,
                    departments=departments,
                )
            )
        except RuleError as exc:
            logger.warning("rule %s (%s) skipped: %s", rule.pk, rule.name, exc)
    return compiled


def thresholds_for(
    classifier: ActiveClassifier,
    departments: dict[str, Department],
    memory: CorrectionMemory | None = None,
) -> dict:
    """What routing compares scores with: the model's thresholds, lowered where this
    organisation's labels support it (memory.organisation_thresholds), unless an admin
    set a department's threshold by hand."""
    thresholds = {k: float(v) for k, v in classifier.model.thresholds.items()}
    memory = memory if memory is not None else memory_for(classifier)
    for slug, lowered in memory.thresholds.items():
        thresholds[slug] = min(thresholds.get(slug, 1.0), lowered)
    for slug, dept in departments.items():
        if dept.routing_threshold is not None:
            thresholds[slug] = dept.routing_threshold
        elif slug not in thresholds:
            # A department the model does not know is reached through staff corrections
            # only (the correction memory scores it).
            thresholds[slug] = MEMORY_ONLY_THRESHOLD
    return thresholds


def companions_for(
    classifier: ActiveClassifier,
    thresholds: dict[str, float],
    departments: dict[str, Department],
) -> dict[str, float]:
    """The model's companion thresholds (a second department for a post it routes to
    another: classifier.evaluation.companion_of) for the departments routing knows, where
    they are below what routing compares with; a department whose threshold was lowered
    past its companion's needs none, and one whose threshold an admin set by hand gets
    none (the admin decided when it gets cases, as over the organisation thresholds)."""
    return {
        slug: limit
        for slug, limit in classifier.model.companion_thresholds.items()
        if slug in departments
        and departments[slug].routing_threshold is None
        and limit < thresholds.get(slug, 1.0)
    }


def leads_for(memory: CorrectionMemory, departments: dict[str, Department]) -> dict[str, float]:
    """The organisation leads (memory.organisation_leads) of the departments routing
    knows, and of noise; none for a department whose threshold an admin set by hand (the
    admin decided when it gets cases)."""
    return {
        slug: lead
        for slug, lead in memory.leads.items()
        if slug == NOISE or (slug in departments and departments[slug].routing_threshold is None)
    }


def batch_score(
    classifier: ActiveClassifier,
    texts: list[str],
    thresholds: dict[str, float],
    memory: CorrectionMemory | None = None,
    leads: dict[str, float] | None = None,
) -> tuple[ScoredBatch, list[MemoryEffect]]:
    """Score a batch as routing does: the model (with the cascade when ROUTING_CASCADE is
    on), then the correction memory, which moves the scores of posts like ones staff
    labelled before thresholds are applied (`leads`: leads_for; by default all of the
    memory's). Writes nothing."""
    model = classifier.model
    scored = model.score_batch(texts, cascade=settings.ROUTING_CASCADE)
    model_scores = [
        {label: round(float(p), 4) for label, p in zip(model.labels, row, strict=True)}
        for row in scored.proba
    ]
    memory = memory if memory is not None else memory_for(classifier)
    effects = memory.apply(keys_of(model, scored), model_scores, thresholds, leads=leads)
    return scored, effects


def decision_make(
    item: FeedbackItem,
    *,
    scores: dict[str, float],
    signals: Signals,
    thresholds: dict[str, float],
    departments: dict[str, Department],
    rules: Sequence[CompiledRule],
    companions: dict[str, float] | None = None,
) -> Decision:
    """One item's routing decision from its scores and signals: model thresholds first,
    then rules in order (route to, never route to, priority, tags, stop). Cases the model
    opens get their explanation afterwards, for the whole batch at once (items_decide)."""
    followers = item.author.followers if item.author_id else None
    targets: dict[str, tuple] = {}
    for slug, score in scores.items():
        if slug in departments and score >= thresholds.get(slug, 1.0):
            targets[slug] = ("model", None, score, {})
    sealed = frozenset(slug for slug, d in departments.items() if d.sealed)
    if targets and companions:
        # One more department next to the model's own (fan-out for a post about two things);
        # `companions` names only departments routing knows (companions_for).
        extra = companion_of(scores, targets, companions, sealed)
        if extra is not None:
            targets[extra] = ("model", None, scores[extra], {})
    ctx = RuleContext(
        text=item.body,
        source=item.source.slug,
        language=signals.language,
        sentiment=signals.sentiment,
        scores=scores,
        followers=followers,
        tags=set(signals.intents) | set(item.tags),
    )
    outcome, decided_by = rules_apply(rules, ctx, sealed)
    for slug in outcome.route_to:
        rule = decided_by[slug]
        targets[slug] = ("rule", rule, scores.get(slug), {"rule": rule.name})
    blocked = {slug: decided_by[slug] for slug in outcome.never_route_to}
    for slug in blocked:
        targets.pop(slug, None)
    triage_department = None
    if targets:
        state = FeedbackItem.State.ROUTED
    elif scores.get(NOISE, 0.0) >= thresholds.get(NOISE, 1.0):
        state = FeedbackItem.State.NOISE
    else:
        state = FeedbackItem.State.TRIAGE
        triage_department = _sealed_triage(scores, departments, blocked)
    return Decision(
        state=state,
        scores=scores,
        signals=signals,
        priority=outcome.priority or signals.priority,
        tags=sorted(set(item.tags) | set(signals.intents) | set(outcome.tags)),
        targets=targets,
        blocked=blocked,
        sealed_priority=outcome.sealed_priority,
        sealed_tags=outcome.sealed_tags,
        triage_department=triage_department,
    )


def _sealed_triage(
    scores: dict[str, float], departments: dict[str, Department], blocked: dict
) -> Department | None:
    """The sealed department whose own triage an unsure post goes to: the highest-scoring
    sealed department at or above SEALED_TRIAGE_FLOOR (a rule that blocks it excepted).
    The shared inbox is read by every department, so a post that is probably an HR
    matter must not wait there."""
    floor = settings.SEALED_TRIAGE_FLOOR
    leaning = [
        (scores.get(slug, 0.0), slug)
        for slug, d in departments.items()
        if d.sealed and slug not in blocked and scores.get(slug, 0.0) >= floor
    ]
    return departments[max(leaning)[1]] if leaning else None


def items_decide(
    items: Sequence[FeedbackItem],
    *,
    classifier: ActiveClassifier,
    departments: dict[str, Department],
    rules: Sequence[CompiledRule],
) -> list[Decision]:
    """Classify a batch in one model call, then decide item by item. Writes nothing."""
    # Scored and explained from the same features: building them is a fixed ~7 ms a batch.
    memory = memory_for(classifier)  # one query: have the labels changed?
    thresholds = thresholds_for(classifier, departments, memory)
    companions = companions_for(classifier, thresholds, departments)
    scored, effects = batch_score(
        classifier,
        [item.body for item in items],
        thresholds,
        memory,
        leads_for(memory, departments),
    )
    decisions = []
    sentiment = scored.sentiment
    for row, (item, effect) in enumerate(zip(items, effects, strict=True)):
        scores = effect.scores
        followers = item.author.followers if item.author_id else None
        signals = signals_compute(
            text=item.body,
            followers=followers,
            language=item.language,
            positive=None if sentiment is None else float(sentiment[row]),
        )
        decisions.append(
            decision_make(
                item,
                scores=scores,
                signals=signals,
                thresholds=thresholds,
                departments=departments,
                rules=rules,
                companions=companions,
            )
        )
    _explain(
        decisions, scored=scored, thresholds=thresholds, effects=effects, companions=companions
    )
    return decisions


def _explain(
    decisions: Sequence[Decision],
    *,
    scored: ScoredBatch,
    thresholds: dict[str, float],
    effects: Sequence[MemoryEffect],
    companions: dict[str, float] | None = None,
) -> None:
    """Attach "the words that pushed it" to every case the model opens, in one model call,
    and the staff-labelled posts it resembled when the correction memory had a say."""
    labels = set(scored.labels)
    wanted = [
        (row, decision, slug)
        for row, decision in enumerate(decisions)
        for slug, (routed_by, *_) in decision.targets.items()
        if routed_by == "model"
    ]
    explanations = scored.explain(
        [(row, slug) for row, _, slug in wanted if slug in labels], top=EXPLAIN_TERMS
    )
    terms_of = iter(explanations)
    for row, decision, slug in wanted:
        terms = next(terms_of) if slug in labels else []
        routed_by, rule, score, _ = decision.targets[slug]
        explanation = {
            "score": score,
            "threshold": thresholds.get(slug),
            "terms": [[term, round(float(w), 4)] for term, w in terms],
        }
        if score is not None and score < thresholds.get(slug, 1.0) and companions:
            # Below its own threshold: it joined another department's case as a companion.
            explanation["companion_threshold"] = companions.get(slug)
        similar = [
            {"item": n.item_id, "similarity": n.similarity, "label": n.labels.get(slug)}
            for n in effects[row].neighbours
            if slug in n.labels
        ][:3]
        if similar:
            explanation["similar"] = similar
        if slug in effects[row].head:
            # The organisation head (memory.OrganisationHead): what this team's labels
            # taught about posts like it, blended into the score.
            explanation["organisation_head"] = effects[row].head[slug]
        lead = effects[row].lead
        if lead is not None and lead[0] == slug:
            # Below every threshold, but far enough ahead of the second label for what
            # this team's decisions showed (memory.organisation_leads).
            explanation["lead"] = lead[1]
        decision.targets[slug] = (routed_by, rule, score, explanation)


def _reason(routed_by: str, rule: CompiledRule | None, score: float | None, version: str) -> str:
    if routed_by == "rule" and rule is not None:
        return f"rule '{rule.name}'"
    return f"model {version}: score {score:.2f}"


# When a batch is routed: one time for all (None: the present), or each item's own, which
# the demo seed uses to replay history (each post routed just after it arrived).
RoutedAt = datetime | Callable[[FeedbackItem], datetime] | None


def _clock(now: RoutedAt) -> Callable[[FeedbackItem], datetime]:
    if callable(now):
        return now
    at = now or timezone.now()
    return lambda item: at


def _write(
    items: Sequence[FeedbackItem],
    decisions: Sequence[Decision],
    *,
    classifier: ActiveClassifier,
    departments: dict[str, Department],
    summary: RoutingSummary,
    now: RoutedAt = None,
) -> None:
    clock = _clock(now)
    existing = set(
        Case.objects.unscoped().filter(item__in=items).values_list("item_id", "department__slug")
    )
    clocks = sla_clocks_load(departments=departments.values())
    cases: list[Case] = []
    # (item id, case or None, kind, to department id, note, data), inserted in this order.
    events: list[tuple] = []
    for item, decision in zip(items, decisions, strict=True):
        now = clock(item)
        for slug, (routed_by, rule, score, explanation) in decision.targets.items():
            if (item.pk, slug) in existing:
                continue
            dept = departments[slug]
            case = Case(
                item=item,
                department=dept,
                priority=decision.sealed_priority.get(slug, decision.priority),
                routed_by=routed_by,
                rule_id=rule.pk if rule else None,
                model_version=classifier.version,
                reason=_reason(routed_by, rule, score, classifier.version),
                confidence=score,
                explanation=explanation,
                created_at=now,
                updated_at=now,
                tags=decision.tags
                + [t for t in decision.sealed_tags.get(slug, []) if t not in decision.tags],
            )
            # Historical imports are not owed a response: no SLA clock for them.
            sla_clock_start(case, clock=clocks[dept.pk], backfill=item.backfill)
            cases.append(case)
        item.state = decision.state
        item.scores = decision.scores
        item.sentiment = decision.signals.sentiment
        item.sentiment_label = decision.signals.sentiment_label
        item.language = decision.signals.language
        item.priority = decision.priority
        item.intents = decision.signals.intents
        item.tags = decision.tags
        item.model_version = classifier.version
        item.triage_department = decision.triage_department
        item.routed_at = now
        item.routing_attempts += 1
        item.error = ""
        if decision.state != FeedbackItem.State.ROUTED:
            kind = CaseEvent.Kind.NOISE if decision.state == "noise" else CaseEvent.Kind.TRIAGED
            data = {
                "model_version": classifier.version,
                "scores": decision.scores,
                "blocked": {s: r.name for s, r in decision.blocked.items()},
            }
            # A sealed department's triage event is its own (to_department hides it from
            # everyone else, like a handoff to it).
            to = decision.triage_department.pk if decision.triage_department else None
            events.append((item.pk, None, kind, to, "", data, now))
        setattr(summary, decision.state, getattr(summary, decision.state) + 1)
    _cases_insert(cases)
    _emit_routed(items, cases)
    cases_auto_assign_on_commit(
        department_ids=[c.department_id for c in cases if c.department.auto_assign]
    )
    for case in cases:
        data = {
            "routed_by": case.routed_by,
            "rule_id": case.rule_id,
            "model_version": case.model_version,
            "confidence": case.confidence,
        }
        events.append(
            (
                case.item_id,
                case,
                CaseEvent.Kind.ROUTED,
                case.department_id,
                case.reason,
                data,
                case.created_at,
            )
        )
    _events_insert(events)
    _items_update(items)
    summary.cases += len(cases)


# Cases and events are written with one INSERT each, from column arrays, like the item
# UPDATE below: Django's bulk_create spent ~25 ms per call compiling a statement with a
# placeholder per value (plus ~15 ms in the driver converting it), for 200 items twice.
_INSERT_CASES = """
INSERT INTO departments_case (
    item_id, department_id, status, priority, tags, routed_by, rule_id, model_version, reason,
    confidence, explanation, created_at, updated_at, due_at, resolution_due_at, sla_due_at
)
SELECT i, d, st, p, ARRAY(SELECT jsonb_array_elements_text(t::jsonb)), rb, r, mv, re, c,
       e::jsonb, ca, ua, du, rd, nd
FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[],
            %s::bigint[], %s::text[], %s::text[], %s::float8[], %s::text[],
            %s::timestamptz[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[],
            %s::timestamptz[])
     AS v(i, d, st, p, t, rb, r, mv, re, c, e, ca, ua, du, rd, nd)
RETURNING id, item_id, department_id
"""

_INSERT_EVENTS = """
INSERT INTO departments_caseevent (
    item_id, case_id, kind, to_department_id, note, data, created_at
)
SELECT i, c, k, d, n, x::jsonb, t
FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::text[],
            %s::timestamptz[])
     AS v(i, c, k, d, n, x, t)
"""


def _columns(objects: Sequence, fields: Sequence[str], *, as_json: set[str]) -> list[list]:
    """One list per field, for the unnest() statements; `as_json` fields travel as JSON text
    (arrays of arrays cannot be unnested row by row)."""
    return [
        [json.dumps(getattr(o, f)) if f in as_json else getattr(o, f) for o in objects]
        for f in fields
    ]


def _cases_insert(cases: Sequence[Case]) -> None:
    """INSERT the cases and set their primary keys (what bulk_create did)."""
    if not cases:
        return
    fields = (
        "item_id", "department_id", "status", "priority", "tags", "routed_by", "rule_id",
        "model_version", "reason", "confidence", "explanation", "created_at", "updated_at",
        "due_at", "resolution_due_at", "sla_due_at",
    )  # fmt: skip
    columns = _columns(cases, fields, as_json={"tags", "explanation"})
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_CASES, columns)
        ids = {(item, dept): pk for pk, item, dept in cursor.fetchall()}
    for case in cases:
        case.pk = ids[(case.item_id, case.department_id)]
        case._state.adding = False  # a saved instance now, as after bulk_create


def _events_insert(events: Sequence[tuple]) -> None:
    """Rows of (item id, case or None, kind, to department id, note, data, created_at)."""
    if not events:
        return
    columns = [
        [item_id for item_id, *_ in events],
        [case.pk if case is not None else None for _, case, *_ in events],
        [kind for _, _, kind, *_ in events],
        [dept for *_, dept, _, _, _ in events],
        [note for *_, note, _, _ in events],
        [json.dumps(data) for *_, data, _ in events],
        [created_at for *_, created_at in events],
    ]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_EVENTS, columns)


def _emit_routed(items: Sequence[FeedbackItem], cases: Sequence[Case]) -> None:
    """item.routed for every item that got cases (not for historical imports); the
    deliveries are written in this transaction and sent after commit."""
    from webhooks.payloads import payload_item_routed
    from webhooks.services import WebhookEvent, webhook_emit_many

    by_item: dict[int, list[Case]] = {}
    for case in cases:
        by_item.setdefault(case.item_id, []).append(case)
    events = []
    for item in items:
        if item.pk not in by_item or item.backfill:
            continue
        # A sealed department's cases travel in their own event, which only subscriptions
        # naming that department receive (webhooks.selectors.Target.wants).
        for sealed in (False, True):
            group = [c for c in by_item[item.pk] if c.department.sealed is sealed]
            if group:
                events.append(
                    WebhookEvent(
                        event="item.routed",
                        payload=payload_item_routed(item=item, cases=group),
                        departments=[c.department.slug for c in group],
                    )
                )
    if events:
        webhook_emit_many(events=events)


# One UPDATE for the whole batch. Django's bulk_update builds a CASE expression per column and
# took ~0.9 s for 200 items; joining against unnest() arrays takes a few milliseconds.
_UPDATE_ITEMS = """
UPDATE feedback_feedbackitem AS f SET
    state = v.state, scores = v.scores::jsonb, sentiment = v.sentiment,
    sentiment_label = v.sentiment_label, language = v.language, priority = v.priority,
    intents = ARRAY(SELECT jsonb_array_elements_text(v.intents::jsonb)),
    tags = ARRAY(SELECT jsonb_array_elements_text(v.tags::jsonb)),
    model_version = v.model_version, routed_at = v.routed_at,
    routing_attempts = v.routing_attempts, triage_department_id = v.triage_department_id,
    error = ''
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::float8[], %s::text[], %s::text[],
            %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::integer[],
            %s::bigint[])
     AS v(id, state, scores, sentiment, sentiment_label, language, priority, intents, tags,
          model_version, routed_at, routing_attempts, triage_department_id)
WHERE f.id = v.id
"""


def _items_update(items: Sequence[FeedbackItem]) -> None:
    fields = (
        "pk", "state", "scores", "sentiment", "sentiment_label", "language", "priority",
        "intents", "tags", "model_version", "routed_at", "routing_attempts",
        "triage_department_id",
    )  # fmt: skip
    columns = _columns(items, fields, as_json={"scores", "intents", "tags"})
    with connection.cursor() as cursor:
        cursor.execute(_UPDATE_ITEMS, columns)


def items_route(
    *, item_ids: Sequence[int], fill_to: int = 0, now: RoutedAt = None
) -> RoutingSummary:
    """Route the still-`received` items among `item_ids`. Idempotent and safe to run
    concurrently with itself.

    With `fill_to`, a batch smaller than that also takes other waiting items, oldest first
    (the sweeper's index), up to `fill_to`. A batch has a fixed cost of ~20 ms (features,
    rules, a dozen queries) whatever its size, so when posts arrive one or ten per request
    and queue up, each task routes the backlog in full batches and the tasks behind it
    find their items done and return at once. Only items nobody holds are taken.

    Locks: takes row locks on the items (`SELECT … FOR UPDATE SKIP LOCKED`, in primary-key
    order) for the whole transaction. Items another worker holds are skipped (that worker
    routes them); items already routed are skipped. Cases are unique per (item,
    department), so even a second run cannot double a case.

    `now` is when the batch is routed (default: the present), or a function giving each
    item's time: the demo seed replays 90 days with it; workers pass nothing.
    """
    summary = RoutingSummary()
    departments = {d.slug: d for d in Department.objects.all()}
    rules = rules_load(list(departments))
    classifier = classifier_active()
    with transaction.atomic():
        items = list(
            FeedbackItem.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=list(item_ids), state=FeedbackItem.State.RECEIVED)
            .select_related("author", "source")
            .order_by("pk")
        )
        summary.skipped = len(set(item_ids)) - len(items)
        if len(items) < fill_to:
            items += list(
                FeedbackItem.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(state=FeedbackItem.State.RECEIVED)
                .exclude(pk__in=list(item_ids))
                .select_related("author", "source")
                .order_by("received_at")[: fill_to - len(items)]
            )
            items.sort(key=lambda item: item.pk)
        if not items:
            return summary
        try:
            with transaction.atomic():  # savepoint: a failure here leaves the locks held
                decisions = items_decide(
                    items, classifier=classifier, departments=departments, rules=rules
                )
                _write(
                    items,
                    decisions,
                    classifier=classifier,
                    departments=departments,
                    summary=summary,
                    now=now,
                )
        except DatabaseError:
            raise  # transient (connection, deadlock): the task retries the whole batch
        except Exception:
            # A bug or a poison item must not block the batch forever: route one by one and
            # mark only the items that still fail, with the error, for a person to look at.
            logger.exception("batch routing failed; retrying item by item")
            summary = _route_one_by_one(
                items, classifier=classifier, departments=departments, rules=rules, now=now
            )
        summary.item_ids = [item.pk for item in items]
    # Committed: count what was decided and how long it waited (received_at -> routed_at).
    metrics.routing_record(
        counts={"routed": summary.routed, "triage": summary.triage, "noise": summary.noise},
        latencies=[
            (item.routed_at - item.received_at).total_seconds()
            for item in items
            if item.routed_at is not None and item.state != FeedbackItem.State.FAILED
        ],
        failed=summary.failed,
    )
    return summary


def _route_one_by_one(items, *, classifier, departments, rules, now=None) -> RoutingSummary:
    summary = RoutingSummary()
    for item in items:
        try:
            with transaction.atomic():
                decisions = items_decide(
                    [item], classifier=classifier, departments=departments, rules=rules
                )
                _write(
                    [item],
                    decisions,
                    classifier=classifier,
                    departments=departments,
                    summary=summary,
                    now=now,
                )
        except DatabaseError:
            raise
        except Exception as exc:
            logger.exception("routing item %s failed", item.pk)
            FeedbackItem.objects.filter(pk=item.pk).update(
                state=FeedbackItem.State.FAILED,
                error=f"{type(exc).__name__}: {exc}"[:2000],
                routing_attempts=item.routing_attempts + 1,
            )
            summary.failed += 1
    return summary


def items_sweep(*, older_than=None, limit: int = 20_000) -> int:
    """Re-enqueue items still `received` after `older_than` (default ROUTING_SWEEP_AFTER).

    This is what makes routing at-least-once: a lost message, a broker outage at enqueue
    time or a killed worker leaves items `received`, and this finds them. `swept_at` keeps
    one item from being re-enqueued more often than once per sweep interval while a long
    backlog drains.
    """
    if older_than is None:  # not `or`: an explicit zero (sweep everything) is falsy
        older_than = settings.ROUTING_SWEEP_AFTER
    cutoff = timezone.now() - older_than
    ids = list(
        FeedbackItem.objects.filter(state=FeedbackItem.State.RECEIVED, received_at__lt=cutoff)
        .filter(Q(swept_at__isnull=True) | Q(swept_at__lt=cutoff))
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    if ids and routing_enqueue(ids):
        FeedbackItem.objects.filter(pk__in=ids).update(swept_at=timezone.now())
    return len(ids)


def rule_save(
    *,
    rule: Rule | None,
    name: str,
    position: int,
    enabled: bool,
    match: str,
    conditions: list,
    actions: list,
    user=None,
) -> Rule:
    """Create or update a rule after validating it; raises RuleError with a clear message.
    The next routing batch uses it (rules are read per batch)."""
    departments = list(Department.objects.values_list("slug", flat=True))
    compiled = rule_compile(
        pk=rule.pk if rule else None,
        name=name,
        match=match,
        conditions=conditions,
        actions=actions,
        departments=departments,
    )
    rule = rule or Rule(created_by=user if getattr(user, "pk", None) else None)
    rule.name = name
    rule.position = position
    rule.enabled = enabled
    rule.match = match
    rule.conditions = conditions
    rule.actions = compiled.actions
    rule.updated_at = timezone.now()
    rule.save()
    return rule


def triage_rescore(*, batch_size: int = 500, limit: int = 100_000) -> RoutingSummary:
    """Re-score the open triage inbox with the active classifier (and the correction
    memory); items that now pass a threshold are routed or marked noise, the rest stay.

    Run after a new version is activated (`classifier_activate` enqueues it), so a better
    model clears the backlog it would not have created. Each routed item gets the usual
    `routed` events, whose data name the model version; a `rescored` flag says it came
    from the backlog. Items are locked with SKIP LOCKED, so a person routing one by hand at
    the same moment wins and nothing is routed twice.
    """
    total = RoutingSummary()
    classifier = classifier_active()
    departments = {d.slug: d for d in Department.objects.all()}
    rules = rules_load(list(departments))
    last = 0
    seen = 0
    while seen < limit:
        with transaction.atomic():
            items = list(
                FeedbackItem.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(state=FeedbackItem.State.TRIAGE, pk__gt=last)
                .select_related("author", "source")
                .order_by("pk")[:batch_size]
            )
            if not items:
                break
            last = items[-1].pk
            seen += len(items)
            decisions = items_decide(
                items, classifier=classifier, departments=departments, rules=rules
            )
            moved = [
                (item, decision)
                for item, decision in zip(items, decisions, strict=True)
                if decision.state != FeedbackItem.State.TRIAGE
            ]
            for _, decision in moved:
                for slug, (routed_by, rule, score, explanation) in decision.targets.items():
                    decision.targets[slug] = (
                        routed_by,
                        rule,
                        score,
                        {**explanation, "rescored": True},
                    )
            if moved:
                _write(
                    [item for item, _ in moved],
                    [decision for _, decision in moved],
                    classifier=classifier,
                    departments=departments,
                    summary=total,
                )
        total.triage += len(items) - len(moved)
    logger.info(
        "triage re-scored with %s: %s routed, %s noise, %s stay",
        classifier.version,
        total.routed,
        total.noise,
        total.triage,
    )
    return total
