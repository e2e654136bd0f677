"""The organisation's layer: the shipped model adjusted to one organisation's own labels.

The base model (trained on public data by `make model`) stays frozen; retraining learns a
correction of its weights from what the organisation's staff decided, so nothing of the
base training text is needed at run time. For each department the corrected weights are
`base + delta`, with delta fitted by L-BFGS on the staff labels (logistic loss on the base
model's calibrated probability) and an L2 penalty that keeps delta small where the labels
say little. Only the feature columns that occur in labelled posts can move (elsewhere the
gradient is zero and the penalty keeps them at zero), so the fit is small even with 2^19
columns. Thresholds and calibration stay the base model's: they were chosen on sources the
base never saw, which is what new traffic is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from .model import DepartmentModel
from .normalize import normalize_text


@dataclass(frozen=True)
class LayerExample:
    text: str
    # department -> True (belongs there) / False (does not)
    verdicts: dict[str, bool]
    weight: float = 1.0


def _targets(examples: Sequence[LayerExample], label: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows that say something about `label`, and 1/0 for them. A post a person put in
    another department (and not in this one) is a "no" for this one too."""
    rows, targets = [], []
    for row, example in enumerate(examples):
        verdict = example.verdicts.get(label)
        if verdict is None and any(example.verdicts.values()):
            verdict = False
        if verdict is not None:
            rows.append(row)
            targets.append(1.0 if verdict else 0.0)
    return np.array(rows, dtype=np.int64), np.array(targets)


def fit_layer(
    base: DepartmentModel, examples: Sequence[LayerExample], *, l2: float = 1.0
) -> DepartmentModel:
    """A new model: `base` with every department's weights corrected by `examples`."""
    if not examples:
        raise ValueError("no labelled posts to learn from")
    features = base.featurize([normalize_text(e.text) for e in examples])[0].tocsr()
    weights = np.array([e.weight for e in examples], dtype=np.float64)
    coef = base.coef.astype(np.float64).copy()
    intercept = base.intercept.astype(np.float64).copy()
    for index, label in enumerate(base.labels):
        rows, y = _targets(examples, label)
        if len(rows) == 0:
            continue
        x = features[rows]
        columns = np.unique(x.indices)
        x = x[:, columns].tocsr()
        w = weights[rows]
        slope, offset = (float(v) for v in base.calibration[index])
        base_scores = np.asarray(x @ coef[index, columns]).ravel() + intercept[index]

        def loss(delta, x=x, y=y, w=w, slope=slope, offset=offset, base_scores=base_scores):
            # delta[:-1] per column, delta[-1] the intercept's correction.
            z = slope * (base_scores + x @ delta[:-1] + delta[-1]) + offset
            p = 1.0 / (1.0 + np.exp(-z))
            eps = 1e-12
            value = -np.sum(w * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)))
            value += 0.5 * l2 * float(delta @ delta)
            residual = w * (p - y) * slope
            grad = np.concatenate([x.T @ residual, [residual.sum()]]) + l2 * delta
            return value, grad

        result = minimize(
            loss, np.zeros(len(columns) + 1), jac=True, method="L-BFGS-B", options={"maxiter": 200}
        )
        coef[index, columns] += result.x[:-1]
        intercept[index] += result.x[-1]
    return DepartmentModel(
        labels=base.labels,
        feature_config=base.feature_config,
        idf=base.idf,
        coef=coef.astype(np.float32),
        intercept=intercept.astype(np.float32),
        calibration=base.calibration,
        thresholds=base.thresholds,
        companion_thresholds=base.companion_thresholds,
        metrics={},
        training_summary={},
        word_vectors=base.word_vectors,
    )
