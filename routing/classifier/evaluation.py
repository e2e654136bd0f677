"""Metrics for the department model, computed from a probability matrix."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .model import DepartmentModel


def passes_threshold(
    proba: np.ndarray, labels: tuple[str, ...], thresholds: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Top label per row and whether that label's probability reaches its threshold."""
    top = proba.argmax(axis=1)
    limits = np.array([thresholds[label] for label in labels])
    top_proba = proba[np.arange(len(top)), top]
    return top, top_proba >= limits[top]


NOISE = "noise"


def companion_of(
    scores: Mapping[str, float],
    routed: Iterable[str],
    companions: Mapping[str, float],
    sealed: frozenset[str] = frozenset(),
) -> str | None:
    """The one department that joins a post the model already routes elsewhere: of those
    not routed, the highest-scoring whose score reaches its companion threshold (None if
    none does, or if nothing was routed). A post about two things rarely scores both over
    the full thresholds, since each part carries only half of the text; the second one
    reaching a lower bar next to a sure first is the evidence instead.

    Next to `sealed` departments' cases alone only another sealed department may join: a
    case that exists because another department's does would tell a non-member that a
    sealed case is there."""
    routed = set(routed)
    if not routed:
        return None
    only_sealed = routed <= sealed
    best, best_score = None, -1.0
    for label, limit in companions.items():
        if label in routed or label == NOISE or (only_sealed and label not in sealed):
            continue
        score = scores.get(label, 0.0)
        if score >= limit and score > best_score:
            best, best_score = label, score
    return best


def routed_sets(
    proba: np.ndarray,
    labels: tuple[str, ...],
    thresholds: dict[str, float],
    companions: Mapping[str, float] | None = None,
    sealed: frozenset[str] = frozenset(),
) -> list[frozenset[str]]:
    """What the product does with each row without a person, as routing decides it: every
    department whose probability reaches its threshold gets a case (fan-out), and one more
    may join it by `companions` (`companion_of`); with none, the row is marked noise if
    noise reaches its threshold; else it goes to triage (empty)."""
    limits = np.array([thresholds[label] for label in labels])
    passed = proba >= limits[None, :]
    noise = labels.index(NOISE) if NOISE in labels else None
    out = []
    for row, row_passed in zip(proba, passed, strict=True):
        departments = frozenset(labels[i] for i in np.flatnonzero(row_passed) if i != noise)
        if departments and companions:
            extra = companion_of(
                dict(zip(labels, row.tolist(), strict=True)), departments, companions, sealed
            )
            if extra is not None:
                departments = departments | {extra}
        if not departments and noise is not None and row_passed[noise]:
            departments = frozenset({NOISE})
        out.append(departments)
    return out


def _per_label(truth: np.ndarray, predicted: np.ndarray, index: int) -> dict[str, float]:
    true_positive = int(np.sum((predicted == index) & (truth == index)))
    predicted_count = int(np.sum(predicted == index))
    support = int(np.sum(truth == index))
    precision = true_positive / predicted_count if predicted_count else 0.0
    recall = true_positive / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def evaluate_proba(
    proba: np.ndarray,
    truth_labels: list[str],
    labels: tuple[str, ...],
    thresholds: dict[str, float],
    companions: Mapping[str, float] | None = None,
    sealed: frozenset[str] = frozenset(),
) -> dict:
    """Evaluation dict from probabilities; see `evaluate_model` for the keys (`companions`
    and `sealed` as routing applies them: `routed_sets`)."""
    index_of = {label: i for i, label in enumerate(labels)}
    unknown = sorted(set(truth_labels) - set(index_of))
    if unknown:
        raise ValueError(f"unknown department(s): {', '.join(unknown)}")
    truth = np.array([index_of[label] for label in truth_labels], dtype=np.int64)
    predicted = proba.argmax(axis=1) if len(proba) else np.zeros(0, dtype=np.int64)
    decided = routed_sets(proba, labels, thresholds, companions, sealed)
    routed = np.array([bool(d) for d in decided], dtype=bool)
    # Right only if every department it was sent to (or noise) is right.
    right = np.array(
        [d == {label} for d, label in zip(decided, truth_labels, strict=True)], dtype=bool
    )

    per_department = {label: _per_label(truth, predicted, i) for i, label in enumerate(labels)}
    # Macro-F1 averages over departments that occur in the data or in the predictions,
    # so a file without, say, HR rows is not punished with an F1 of 0 for HR.
    present = [
        label
        for i, label in enumerate(labels)
        if per_department[label]["support"] or np.any(predicted == i)
    ]
    macro_f1 = (
        float(np.mean([per_department[label]["f1"] for label in present])) if present else 0.0
    )

    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)

    n_routed = int(routed.sum())
    correct_routed = int(np.sum(routed & right))
    return {
        "macro_f1": macro_f1,
        "per_department": per_department,
        "confusion": {"labels": list(labels), "matrix": matrix.tolist()},
        "auto_route_precision": correct_routed / n_routed if n_routed else 0.0,
        "coverage": n_routed / len(truth) if len(truth) else 0.0,
        "n": len(truth),
    }


def evaluate_model(
    model: DepartmentModel, texts: list[str], labels: list[str], *, cascade: bool = False
) -> dict:
    """Score `model` on labelled texts.

    Precision, recall, F1 and the confusion matrix (rows = true, columns = predicted) use
    the top-1 department. Auto-routing uses the per-department thresholds as routing does
    (`routed_sets`): an item is auto-routed when some department (or, alone, noise)
    reaches its threshold; `auto_route_precision` is the share of those whose every
    routed department is right, and `coverage` the share of all items auto-routed (the
    rest go to the triage inbox).
    """
    if len(texts) != len(labels):
        raise ValueError("texts and labels differ in length")
    proba = (
        model.predict_proba(list(texts), cascade=True)
        if cascade
        else model.predict_proba(list(texts))
    )
    return evaluate_proba(
        proba, list(labels), model.labels, model.thresholds, model.companion_thresholds
    )
