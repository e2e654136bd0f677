"""Learning from staff: turning their decisions into labels, and retraining safely.

Labels (newest decision wins per item and department):
- a reroute or share to a department, or routing an item from triage: that department is right;
- resolving a case: its department was right;
- dismissing a case as "wrong department" or rerouting it away: its department was wrong;
- dismissing as "spam": the item is noise.

A new model is trained on the base data plus these labels (weighted), both sides scored on
the same held-out slice, and the new version is activated only if it is not worse.
"""

import logging
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from departments.models import CaseEvent
from routing.classification import (
    classifier_activate,
    classifier_active,
    classifier_version_create,
)
from routing.classifier import LABELS, evaluate_model, read_labelled_csv, train_model

logger = logging.getLogger(__name__)

NOISE = "noise"


@dataclass(frozen=True)
class StaffLabel:
    item_id: int
    text: str
    department: str


def labels_from_staff() -> list[StaffLabel]:
    """One label per (item, department) that people confirmed, for the model's labels."""
    verdicts: dict[tuple[int, str], bool] = {}
    texts: dict[int, str] = {}
    events = (
        CaseEvent.objects.filter(
            kind__in=[
                CaseEvent.Kind.REROUTED,
                CaseEvent.Kind.SHARED,
                CaseEvent.Kind.STATUS_CHANGED,
                CaseEvent.Kind.ROUTED,
            ]
        )
        .exclude(actor=None)  # people only: the model's own decisions are not labels
        .select_related("item", "case__department", "from_department", "to_department")
        .order_by("created_at", "pk")
    )
    for event in events.iterator(chunk_size=2000):
        item_id = event.item_id
        texts[item_id] = event.item.body
        if event.kind in (CaseEvent.Kind.REROUTED, CaseEvent.Kind.SHARED):
            if event.case and event.case.department_id != event.to_department_id:
                continue  # the same handoff is logged on both cases; read it once
            verdicts[(item_id, event.to_department.slug)] = True
            if event.kind == CaseEvent.Kind.REROUTED:
                verdicts[(item_id, event.from_department.slug)] = False
        elif event.kind == CaseEvent.Kind.ROUTED and event.to_department:
            verdicts[(item_id, event.to_department.slug)] = True
        elif event.kind == CaseEvent.Kind.STATUS_CHANGED and event.case:
            slug = event.case.department.slug
            to, reason = event.data.get("to"), event.data.get("reason")
            if to == "resolved":
                verdicts[(item_id, slug)] = True
            elif to == "dismissed" and reason == "wrong_department":
                verdicts[(item_id, slug)] = False
            elif to == "dismissed" and reason == "spam":
                verdicts[(item_id, NOISE)] = True
    return [
        StaffLabel(item_id, texts[item_id], slug)
        for (item_id, slug), right in sorted(verdicts.items())
        if right and slug in LABELS
    ]


@dataclass
class RetrainResult:
    activated: bool
    version: str
    candidate_f1: float
    active_f1: float
    active_version: str
    staff_labels: int
    base_rows: int
    reason: str
    metrics: dict = field(default_factory=dict)


def _split(rows: list, holdout: float, seed: int) -> tuple[list, list]:
    rng = random.Random(seed)
    shuffled = rows[:]
    rng.shuffle(shuffled)
    cut = round(len(shuffled) * holdout)
    return shuffled[cut:], shuffled[:cut]


def classifier_retrain(
    *,
    base_data: Path | None = None,
    staff_weight: float = 3.0,
    holdout: float = 0.2,
    seed: int = 42,
    min_staff_labels: int = 0,
    holdout_data: Path | None = None,
) -> RetrainResult:
    """Train on base data plus staff labels; activate only if not worse on held-out data.

    The held-out slice is drawn from both sources (base rows and staff labels, split by
    item with a fixed seed), plus `holdout_data` when given (a curated evaluation file that
    is never trained on). Both the candidate and the active model are scored on it.
    Every candidate is stored with its metrics, activated or not, so an admin can compare
    versions and roll back.
    """
    path = Path(base_data or settings.CLASSIFIER_BASE_DATA)
    texts, labels, _ = read_labelled_csv(path)
    base_rows = list(zip(texts, labels, strict=True))
    staff = [(label.text, label.department) for label in labels_from_staff()]
    if len(staff) < min_staff_labels:
        active = classifier_active()
        return RetrainResult(
            False,
            "",
            0.0,
            0.0,
            active.version,
            len(staff),
            len(base_rows),
            f"only {len(staff)} staff labels (< {min_staff_labels}); skipped",
        )
    base_train, base_test = _split(base_rows, holdout, seed)
    staff_train, staff_test = _split(staff, holdout, seed)
    train_rows = base_train + staff_train
    weights = [1.0] * len(base_train) + [staff_weight] * len(staff_train)
    candidate = train_model(
        [t for t, _ in train_rows], [d for _, d in train_rows], sample_weight=weights, seed=seed
    )
    test_rows = base_test + staff_test
    if holdout_data is not None:
        extra_texts, extra_labels, _ = read_labelled_csv(holdout_data)
        test_rows += list(zip(extra_texts, extra_labels, strict=True))
    test_texts, test_labels = [t for t, _ in test_rows], [d for _, d in test_rows]
    candidate_report = evaluate_model(candidate, test_texts, test_labels)
    active = classifier_active()
    active_report = evaluate_model(active.model, test_texts, test_labels)
    staff_scores = {}
    if staff_test:
        staff_scores = {
            "candidate": evaluate_model(candidate, *map(list, zip(*staff_test, strict=True))),
            "active": evaluate_model(active.model, *map(list, zip(*staff_test, strict=True))),
        }
    metrics = {
        **candidate.metrics,
        "retrain_holdout": candidate_report,
        "active_on_holdout": {"version": active.version, **active_report},
        "staff_holdout": {k: v["macro_f1"] for k, v in staff_scores.items()},
    }
    candidate.training_summary = {
        **candidate.training_summary,
        "base_data": path.name,
        "base_rows": len(base_train),
        "staff_labels": len(staff_train),
        "staff_weight": staff_weight,
        "holdout_rows": len(test_rows),
    }
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "model.npz"
        candidate.save(file)
        artifact = file.read_bytes()
    version = classifier_version_create(
        model=candidate,
        artifact=artifact,
        metrics=metrics,
        notes=f"retrained with {len(staff_train)} staff labels",
    )
    better = candidate_report["macro_f1"] >= active_report["macro_f1"]
    if better and version.version != active.version:
        classifier_activate(version=version)
    reason = (
        f"candidate macro-F1 {candidate_report['macro_f1']:.3f} vs active "
        f"{active_report['macro_f1']:.3f} on {len(test_rows)} held-out rows: "
        + ("activated" if better else "kept the active version")
    )
    logger.info("retrain: %s", reason)
    return RetrainResult(
        better,
        version.version,
        candidate_report["macro_f1"],
        active_report["macro_f1"],
        active.version,
        len(staff_train),
        len(base_train),
        reason,
        metrics,
    )
