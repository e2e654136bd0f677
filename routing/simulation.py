"""What N staff corrections do to routing: the measurement behind `simulate_corrections`.

The simulation plays one organisation's staff: it ingests N labelled posts through the
ingest service, routes them with the routing service, and then makes, for each, the
decision a person would through the case services the browser and the API use (route from
triage, reroute, dismiss as wrong department or spam, resolve, mark as noise). It then
scores the remaining posts before and after, with the correction memory as workers use it.

Everything runs inside one transaction that is rolled back at the end, so no real case,
label, event or delivery survives, and nothing is sent: webhooks are only enqueued after a
commit, and the posts are ingested as historical (`backfill`) so they notify no one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from django.contrib.auth import get_user_model
from django.db import transaction

from departments import services as case_services
from departments.models import Case, Department, Membership
from feedback.models import FeedbackItem, Source
from feedback.services import feedback_ingest
from routing.classification import classifier_active
from routing.classifier.evaluation import evaluate_proba
from routing.memory import memory_for, memory_refit, memory_reset
from routing.services import (
    batch_score,
    companions_for,
    items_route,
    leads_for,
    thresholds_for,
)

NOISE = "noise"
SIM_SOURCE = "simulation"
SIM_USER = "simulated-staff"
BATCH = 500


class _Rollback(Exception):
    pass


@dataclass
class SimulationResult:
    before: dict
    after: dict
    corrections: int
    evaluated: int
    actions: dict


def score_with_memory(texts: list[str], truth: list[str]) -> dict:
    """Evaluate the active model plus the current correction memory on labelled texts."""
    classifier = classifier_active()
    model = classifier.model
    departments = {d.slug: d for d in Department.objects.all()}
    memory = memory_for(classifier)
    thresholds = thresholds_for(classifier, departments, memory)
    leads = leads_for(memory, departments)
    rows = []
    for start in range(0, len(texts), BATCH):
        _, effects = batch_score(
            classifier, texts[start : start + BATCH], thresholds, memory, leads
        )
        for effect in effects:
            rows.append([effect.scores.get(label, 0.0) for label in model.labels])
    proba = np.array(rows, dtype=np.float64).reshape(len(texts), len(model.labels))
    report = evaluate_proba(
        proba,
        truth,
        model.labels,
        {label: thresholds[label] for label in model.labels},
        companions_for(classifier, thresholds, departments),
        frozenset(slug for slug, d in departments.items() if d.sealed),
    )
    return {
        "macro_f1": report["macro_f1"],
        "auto_route_precision": report["auto_route_precision"],
        "coverage": report["coverage"],
        "n": report["n"],
        # What routing compared with: the model's thresholds, or the organisation's where
        # its labels brought them down (memory.organisation_thresholds).
        "thresholds": {label: round(thresholds[label], 4) for label in model.labels},
        # The leads that route a post no threshold takes (memory.organisation_leads).
        "leads": dict(sorted(leads.items())),
    }


def _staff(departments: list[Department]):
    user, _ = get_user_model().objects.get_or_create(username=SIM_USER)
    for department in departments:
        Membership.objects.get_or_create(user=user, department=department)
    return user


def decide_as_staff(item: FeedbackItem, truth: str, user, departments: dict) -> str:
    """Make the decision a person who knows the right department makes, through the case
    services. Returns the name of the action taken."""
    item.refresh_from_db()
    cases = list(Case.objects.filter(item=item).select_related("department"))
    open_cases = [c for c in cases if c.status in Case.OPEN_STATUSES]
    if item.state in (FeedbackItem.State.TRIAGE, FeedbackItem.State.FAILED):
        if truth == NOISE:
            case_services.triage_mark_noise(item=item, actor=user)
            return "mark_noise"
        case_services.triage_route(item=item, departments=[departments[truth]], actor=user)
        return "triage_route"
    if item.state == FeedbackItem.State.NOISE:
        if truth == NOISE:
            return "none"  # right already; nobody looks at noise again
        case_services.triage_route(item=item, departments=[departments[truth]], actor=user)
        return "triage_route"
    # Routed: keep the right case, correct the others.
    right = [c for c in open_cases if c.department.slug == truth]
    wrong = [c for c in open_cases if c.department.slug != truth]
    if truth == NOISE:
        for case in wrong:
            case_services.case_set_status(
                case=case, status=Case.Status.DISMISSED, actor=user, reason="spam"
            )
        return "dismiss_spam"
    if right:
        for case in wrong:
            case_services.case_set_status(
                case=case, status=Case.Status.DISMISSED, actor=user, reason="wrong_department"
            )
        case_services.case_set_status(case=right[0], status=Case.Status.RESOLVED, actor=user)
        return "resolve" if not wrong else "dismiss_wrong"
    first, *others = wrong
    case_services.case_reroute(case=first, to_department=departments[truth], actor=user)
    for case in others:
        case_services.case_set_status(
            case=case, status=Case.Status.DISMISSED, actor=user, reason="wrong_department"
        )
    return "reroute"


def simulate_corrections(
    texts: list[str], labels: list[str], *, corrections: int, seed: int = 42
) -> SimulationResult:
    """Take `corrections` random rows as staff decisions, evaluate on the rest."""
    if corrections < 1 or corrections >= len(texts):
        raise ValueError(f"--corrections must be between 1 and {len(texts) - 1}")
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    taken, rest = order[:corrections], order[corrections:]
    eval_texts = [texts[i] for i in rest]
    eval_truth = [labels[i] for i in rest]
    result: SimulationResult | None = None
    memory_reset()
    try:
        with transaction.atomic():
            wanted = sorted({label for label in labels if label != NOISE})
            departments = {d.slug: d for d in Department.objects.filter(slug__in=wanted)}
            missing = set(wanted) - set(departments)
            for slug in missing:
                departments[slug] = Department.objects.create(slug=slug, name=slug.title())
            # The simulated person works in every department (to correct any wrong route).
            user = _staff(list(Department.objects.all()))
            before = score_with_memory(eval_texts, eval_truth)
            source, _ = Source.objects.get_or_create(
                slug=SIM_SOURCE, defaults={"name": "Simulated corrections"}
            )
            payloads = [
                {"external_id": f"sim-{seed}-{n}-{i}", "body": texts[i]}
                for n, i in enumerate(taken)
            ]
            outcomes = feedback_ingest(payloads=payloads, default_source=source, backfill=True)
            ids = [o.item_id for o in outcomes if o.item_id]
            for start in range(0, len(ids), BATCH):
                items_route(item_ids=ids[start : start + BATCH])
            actions: dict[str, int] = {}
            items = FeedbackItem.objects.in_bulk(ids)
            for outcome, i in zip(outcomes, taken, strict=True):
                if not outcome.item_id:
                    continue
                action = decide_as_staff(items[outcome.item_id], labels[i], user, departments)
                actions[action] = actions.get(action, 0) + 1
            memory_refit()  # what the labels support, not the fit of a moment ago
            after = score_with_memory(eval_texts, eval_truth)
            result = SimulationResult(before, after, len(ids), len(rest), actions)
            raise _Rollback
    except _Rollback:
        pass
    finally:
        memory_reset()
    return result
