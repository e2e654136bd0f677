"""A learned sentiment head: is a post a complaint (negative) or praise (positive)?

VADER, a general-purpose lexicon, reads many complaints as neutral or positive ("I
cancelled but was still billed" has no negative word; "thanks for nothing" has a positive
one). The labelled public data has complaint and praise labels from several sources, so
the department model's own features (hashed words, character n-grams, word vectors) get
one more linear head trained on them, stored in the same artifact.

Labels come from the provenance files' `source_label` column (the original datasets'
labels), mapped by `SENTIMENT_LABELS` below. `sentiment_rows` reads them; `fit_sentiment`
fits the head with one source held out at a time for its calibration, and reports the
held-out figures next to VADER's on the same rows.
"""

from __future__ import annotations

import csv
from collections.abc import Callable

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from .training import balanced_weights

POSITIVE, NEGATIVE = 1, 0


def _airline(label: str) -> int | None:
    # Twitter US Airline Sentiment: "positive", or the negative reason of a negative tweet.
    return POSITIVE if label == "positive" else NEGATIVE


SENTIMENT_LABELS: dict[str, Callable[[str], int | None]] = {
    "airline_tweets": _airline,
    "k8_phone_reviews": lambda label: NEGATIVE if label.endswith("negative") else POSITIVE,
    "uci_sentiment_sentences": lambda label: NEGATIVE if label.endswith("negative") else POSITIVE,
    # Complaints are negative; the random tweets of that set are not praise, so left out.
    "complaints_tweets": lambda label: NEGATIVE if label.startswith("complaint:") else None,
    "coachella_tweets": lambda label: POSITIVE if label == "positive" else None,
}


def sentiment_rows(paths) -> tuple[list[str], list[int], list[str]]:
    """(texts, 1 positive / 0 negative, sources) from provenance CSVs (text, source,
    source_label); rows of other sources are skipped."""
    texts, labels, sources = [], [], []
    for path in paths:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                mapper = SENTIMENT_LABELS.get(row.get("source", ""))
                if mapper is None:
                    continue
                label = mapper(row.get("source_label", ""))
                if label is None:
                    continue
                texts.append(row["text"])
                labels.append(label)
                sources.append(row["source"])
    return texts, labels, sources


def _fit(x, y, weights, C: float, seed: int) -> tuple[np.ndarray, float]:
    model = LinearSVC(C=C, max_iter=2000, random_state=seed)
    model.fit(x, y, sample_weight=weights)
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def binary_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    scores = []
    for value in (0, 1):
        tp = np.sum((predicted == value) & (truth == value))
        p = tp / max(1, np.sum(predicted == value))
        r = tp / max(1, np.sum(truth == value))
        scores.append(2 * p * r / (p + r) if p + r else 0.0)
    return float(np.mean(scores))


def fit_sentiment(
    matrix: Callable,
    texts: list[str],
    labels: list[int],
    sources: list[str],
    *,
    C: float = 0.1,
    seed: int = 42,
) -> dict:
    """Fit the head. `matrix(texts)` returns the department model's input for texts.

    Returns {"coef", "intercept", "calibration" (slope, offset), "metrics"}; the metrics
    are macro-F1 over negative/positive with each source held out in turn, for the head
    and for VADER on the same rows."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    y = np.asarray(labels, dtype=np.int64)
    x = matrix(texts)
    # Every (source, label) cell weighs the same, then both labels weigh the same.
    weights = balanced_weights(list(y), sources, None, source_balance=1.0)
    held_out = np.zeros(len(y))
    names = sorted(set(sources))
    for name in names:
        test = np.array([s == name for s in sources])
        if len(set(y[~test])) < 2:
            continue
        coef, intercept = _fit(x[~test], y[~test], weights[~test], C, seed)
        held_out[test] = x[test] @ coef + intercept
    platt = LogisticRegression(C=1e4, max_iter=1000)
    platt.fit(held_out.reshape(-1, 1), y)
    slope, offset = float(platt.coef_[0, 0]), float(platt.intercept_[0])
    coef, intercept = _fit(x, y, weights, C, seed)
    vader = SentimentIntensityAnalyzer()
    vader_pred = np.array([1 if vader.polarity_scores(t)["compound"] >= 0 else 0 for t in texts])
    head_pred = (held_out >= 0).astype(np.int64)
    per_source = {
        name: {
            "rows": int(np.sum(mask)),
            "head_accuracy": float(np.mean(head_pred[mask] == y[mask])),
            "vader_accuracy": float(np.mean(vader_pred[mask] == y[mask])),
        }
        for name in names
        for mask in [np.array([s == name for s in sources])]
    }
    metrics = {
        "validation": f"leave-one-source-out ({len(names)} sources)",
        "rows": len(y),
        "head_macro_f1": binary_f1(y, head_pred),
        "vader_macro_f1": binary_f1(y, vader_pred),
        "per_source": per_source,
    }
    return {
        "coef": coef,
        "intercept": intercept,
        "calibration": (slope, offset),
        "metrics": metrics,
    }
