"""Learning from staff: their decisions are labels; retraining adds an organisation layer.

Labels are RoutingLabel rows, written by the case services when a person routes from
triage, reroutes, shares, dismisses (wrong department, spam), marks noise or resolves
(routing/labels.py). They act twice:
- at once, through the correction memory (routing/memory.py): the next similar post
  follows what people decided;
- nightly, through `classifier_retrain`: the shipped base model stays frozen and a layer
  of weight corrections is fitted on the organisation's own labels (classifier/layer.py).
  Nothing of the base model's public training text is needed, so this runs wherever the
  product runs.

Activation is guarded: the newest labels, which neither the candidate nor the active
version was trained on, score both; the candidate is activated only if it is not worse.
Every candidate is stored with its figures, activated or not, so an admin can compare and
roll back.
"""

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from routing.classification import (
    classifier_activate,
    classifier_active,
    classifier_version_create,
    model_from_bytes,
)
from routing.classifier import evaluate_model
from routing.classifier.layer import LayerExample, fit_layer
from routing.memory import CORRECTION_WEIGHT, label_weight
from routing.models import ClassifierVersion, RoutingLabel

logger = logging.getLogger(__name__)

NOISE = "noise"
# Candidate penalties for the layer's weight corrections; the best on an inner split of
# the training labels (oldest three quarters vs newest quarter) is used.
L2_CHOICES = (0.3, 1.0, 3.0, 10.0)
# The newest labels are the test set; at least this many are needed to compare versions.
MIN_TEST_LABELS = 10


@dataclass(frozen=True)
class StaffLabel:
    item_id: int
    text: str
    department: str
    positive: bool = True
    weight: float = CORRECTION_WEIGHT
    label_id: int = 0


def labels_from_staff() -> list[StaffLabel]:
    """Every staff label, oldest decision first (negative ones included)."""
    rows = (
        RoutingLabel.objects.order_by("updated_at", "pk")
        .values_list("pk", "item_id", "item__body", "department", "positive", "kind")
        .iterator(chunk_size=5000)
    )
    return [
        StaffLabel(
            item_id,
            body,
            department,
            positive,
            label_weight(kind),
            pk,
        )
        for pk, item_id, body, department, positive, kind in rows
    ]


def examples_from(labels: list[StaffLabel], known: tuple[str, ...]) -> list[LayerExample]:
    """One example per item, in the order its first label appears; departments the model
    has no label for are left to the correction memory."""
    by_item: dict[int, LayerExample] = {}
    for label in labels:
        if label.department not in known:
            continue
        example = by_item.get(label.item_id)
        if example is None:
            example = by_item[label.item_id] = LayerExample(label.text, {}, label.weight)
        example.verdicts[label.department] = label.positive
    return list(by_item.values())


def _truth(examples: list[LayerExample]) -> tuple[list[str], list[str]]:
    """Texts and single true departments of the examples that name one."""
    texts, labels = [], []
    for example in examples:
        positive = [d for d, right in example.verdicts.items() if right]
        if positive:
            texts.append(example.text)
            labels.append(NOISE if NOISE in positive else sorted(positive)[0])
    return texts, labels


@dataclass
class RetrainResult:
    activated: bool
    version: str
    candidate_f1: float
    active_f1: float
    active_version: str
    staff_labels: int
    test_labels: int
    reason: str
    metrics: dict = field(default_factory=dict)


def _base_of(active) -> tuple[str, object]:
    """The frozen base model of the active version's lineage (the active one if it is a
    base itself)."""
    row = ClassifierVersion.objects.filter(version=active.version).first()
    base_version = (row.training_summary or {}).get("base_version") if row else None
    if base_version:
        base = ClassifierVersion.objects.filter(version=base_version).first()
        if base is not None:
            return base_version, model_from_bytes(base.artifact)
    return active.version, active.model


def _choose_l2(base, examples: list[LayerExample]) -> float:
    cut = max(1, round(len(examples) * 0.75))
    inner_train, inner_test = examples[:cut], examples[cut:]
    texts, truth = _truth(inner_test)
    if len(texts) < MIN_TEST_LABELS:
        return 1.0
    scores = {
        l2: evaluate_model(fit_layer(base, inner_train, l2=l2), texts, truth)["macro_f1"]
        for l2 in L2_CHOICES
    }
    return max(scores, key=lambda l2: (scores[l2], l2))


def _empty(active, labels: int, reason: str) -> RetrainResult:
    return RetrainResult(False, "", 0.0, 0.0, active.version, labels, 0, reason)


def classifier_retrain(*, holdout: float = 0.2, min_staff_labels: int = 0) -> RetrainResult:
    """Fit a new organisation layer on the staff labels; activate it only if not worse.

    The test set is the newest `holdout` share of the labels given since the active
    version was trained (so the active version never saw them either); the candidate is
    trained on all older labels.
    """
    active = classifier_active()
    labels = labels_from_staff()
    if len(labels) < max(min_staff_labels, 1):
        return _empty(active, len(labels), f"only {len(labels)} staff labels; skipped")
    row = ClassifierVersion.objects.filter(version=active.version).first()
    seen_through = (row.training_summary or {}).get("staff_label_max_id", 0) if row else 0
    unseen = [label for label in labels if label.label_id > seen_through]
    n_test = max(MIN_TEST_LABELS, round(len(unseen) * holdout))
    if len(unseen) < n_test:
        return _empty(
            active,
            len(labels),
            f"{len(unseen)} labels since version {active.version} was trained; "
            f"{n_test} are needed to compare: skipped",
        )
    test_ids = {label.item_id for label in unseen[-n_test:]}
    base_version, base = _base_of(active)
    known = base.labels
    train_examples = examples_from([la for la in labels if la.item_id not in test_ids], known)
    test_examples = examples_from([la for la in labels if la.item_id in test_ids], known)
    test_texts, test_truth = _truth(test_examples)
    if not train_examples or not test_texts:
        return _empty(active, len(labels), "no labels with a known department; skipped")
    l2 = _choose_l2(base, train_examples)
    candidate = fit_layer(base, train_examples, l2=l2)
    candidate_report = evaluate_model(candidate, test_texts, test_truth)
    active_report = evaluate_model(active.model, test_texts, test_truth)
    candidate.training_summary = {
        "base_version": base_version,
        "staff_examples": len(train_examples),
        "staff_label_max_id": max(la.label_id for la in labels if la.item_id not in test_ids),
        "l2": l2,
        "test_examples": len(test_texts),
    }
    metrics = {
        "retrain_holdout": candidate_report,
        "active_on_holdout": {"version": active.version, **active_report},
    }
    candidate.metrics = metrics
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "model.npz"
        candidate.save(file)
        artifact = file.read_bytes()
    version = classifier_version_create(
        model=candidate,
        artifact=artifact,
        metrics=metrics,
        notes=f"organisation layer on {base_version}: {len(train_examples)} labelled posts",
    )
    better = candidate_report["macro_f1"] >= active_report["macro_f1"]
    if better and version.version != active.version:
        classifier_activate(version=version)
    reason = (
        f"candidate macro-F1 {candidate_report['macro_f1']:.3f} vs active "
        f"{active_report['macro_f1']:.3f} on the {len(test_texts)} newest labelled posts: "
        + ("activated" if better else "kept the active version")
    )
    logger.info("retrain: %s", reason)
    return RetrainResult(
        better,
        version.version,
        candidate_report["macro_f1"],
        active_report["macro_f1"],
        active.version,
        len(train_examples),
        len(test_texts),
        reason,
        metrics,
    )
