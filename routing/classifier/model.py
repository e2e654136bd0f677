"""The trained department model: a linear scorer over hashed TF-IDF features.

The artifact is one compressed .npz holding numpy arrays and a JSON string. It never
contains training sentences (only per-bucket weights and idf values) and loads with
``allow_pickle=False``, so a tampered file cannot execute code.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from .features import FeatureConfig, HashedCounts, lexicon_hits, tfidf
from .normalize import normalize_text, word_tokens

LABELS: tuple[str, ...] = ("product", "support", "hr", "marketing", "noise")

ARTIFACT_FORMAT = "switchboard-department-model/1"


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def _split(values: np.ndarray, lengths: list[int]) -> list[np.ndarray]:
    """Cut a flat array back into consecutive pieces of the given lengths."""
    return np.split(values, np.cumsum(lengths)[:-1]) if lengths else []


class DepartmentModel:
    """Scores text against every department; one independent probability per label."""

    def __init__(
        self,
        *,
        labels: tuple[str, ...],
        feature_config: FeatureConfig,
        idf: np.ndarray,
        coef: np.ndarray,
        intercept: np.ndarray,
        calibration: np.ndarray,
        thresholds: dict[str, float],
        metrics: dict | None = None,
        training_summary: dict | None = None,
    ) -> None:
        n_labels = len(labels)
        if coef.shape != (n_labels, feature_config.n_features):
            raise ValueError(f"coef shape {coef.shape} does not match the feature config")
        if calibration.shape != (n_labels, 2):
            raise ValueError("calibration must hold (slope, offset) per label")
        self.labels = tuple(labels)
        self.feature_config = feature_config
        # float32 everywhere: halves memory and makes save/load round-trips exact.
        self.idf = np.ascontiguousarray(idf, dtype=np.float32)
        self.coef = np.ascontiguousarray(coef, dtype=np.float32)
        # Scoring multiplies sparse rows by coef.T; scipy copies a transposed (Fortran-order)
        # operand on every call, ~5 ms for 2**19 x 5. A C-order copy (10 MB) once instead.
        self._coef_t = np.ascontiguousarray(self.coef.T)
        self.intercept = np.ascontiguousarray(intercept, dtype=np.float32)
        self.calibration = np.ascontiguousarray(calibration, dtype=np.float32)
        self.thresholds = {label: float(thresholds[label]) for label in self.labels}
        self.metrics = metrics or {}
        self.training_summary = training_summary or {}
        self._counts = HashedCounts(feature_config)

    # -- scoring -------------------------------------------------------------------

    def _features(self, texts: list[str]):
        normalized = [normalize_text(text) for text in texts]
        return tfidf(self._counts.transform(normalized), self.idf, self.feature_config)

    def decision_function(self, texts: list[str]) -> np.ndarray:
        """Raw linear scores, shape (n, n_labels); larger means more likely."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self._linear(self._features(list(texts)))

    def _linear(self, features) -> np.ndarray:
        return np.asarray(features @ self._coef_t) + self.intercept

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Calibrated one-vs-rest probabilities, shape (n, n_labels); rows need not sum to 1."""
        return self._calibrated(self.decision_function(texts))

    def _calibrated(self, scores: np.ndarray) -> np.ndarray:
        slope, offset = self.calibration[:, 0], self.calibration[:, 1]
        return _sigmoid(scores.astype(np.float64) * slope + offset)

    def score_batch(self, texts: list[str]) -> ScoredBatch:
        """`predict_proba` for a batch, keeping its features so that the same batch can be
        explained without computing them again (routing scores, then explains its cases)."""
        return ScoredBatch(self, list(texts))

    def predict(self, texts: list[str]) -> list[str]:
        proba = self.predict_proba(texts)
        return [self.labels[i] for i in proba.argmax(axis=1)]

    # -- explanations ----------------------------------------------------------------

    def explain(self, text: str, label: str, top: int = 5) -> list[tuple[str, float]]:
        """Words and word pairs that pushed `label`'s score most, strongest positive first.

        A term's contribution is its tf-idf weight times the label's coefficient for the
        term's hash bucket. Character n-grams are folded into the word they came from, so
        the reader sees words ("refund"), never hash buckets.
        """
        return self.explain_many([(text, label)], top=top)[0]

    def explain_many(
        self, requests: Sequence[tuple[str, str]], top: int = 5
    ) -> list[list[tuple[str, float]]]:
        """`explain` for many (text, label) pairs at once, in the same order (see
        ScoredBatch.explain); a text asked about for several labels is featurized once."""
        texts = list(dict.fromkeys(text for text, _ in requests))
        position = {text: i for i, text in enumerate(texts)}
        batch = self.score_batch(texts)
        return batch.explain([(position[text], label) for text, label in requests], top=top)

    def _char_grams_by_word(self, tokens_by_text: list[list[str]]) -> dict[str, Counter]:
        """Each distinct word's char n-gram buckets with their counts, hashed in one call."""
        char_analyzer = self._counts.char_analyzer()
        words = list(dict.fromkeys(word for tokens in tokens_by_text for word in tokens))
        grams = [char_analyzer(word) for word in words]
        indices = _split(
            self._counts.char_index([g for word_grams in grams for g in word_grams]),
            [len(word_grams) for word_grams in grams],
        )
        return {word: Counter(idx.tolist()) for word, idx in zip(words, indices, strict=True)}

    def _lexicon_shares(self, normalized: str, contribution: dict[int, float]) -> dict[str, float]:
        """Split each department-vocabulary column's contribution among the terms that hit it."""
        first = self.feature_config.n_word + self.feature_config.n_char
        shares: defaultdict[str, float] = defaultdict(float)
        for column, hits in enumerate(lexicon_hits(normalized).values()):
            for term in hits:
                shares[term] += contribution.get(first + column, 0.0) / len(hits)
        return dict(shares)

    @staticmethod
    def _char_shares(
        tokens: list[str], grams_by_word: dict[str, Counter], contribution: dict[int, float]
    ) -> dict[str, float]:
        """Split each char n-gram's contribution among the distinct words that contain it."""
        occurrences: defaultdict[int, int] = defaultdict(int)
        for word in tokens:
            for index, count in grams_by_word[word].items():
                occurrences[index] += count
        shares: dict[str, float] = {}
        for word in dict.fromkeys(tokens):
            per_word = tokens.count(word)
            shares[word] = sum(
                contribution.get(index, 0.0) * count * per_word / occurrences[index]
                for index, count in grams_by_word[word].items()
            )
        return shares

    # -- persistence -----------------------------------------------------------------

    def _meta(self) -> dict:
        return {
            "format": ARTIFACT_FORMAT,
            "labels": list(self.labels),
            "feature_config": self.feature_config.to_json(),
            "thresholds": self.thresholds,
            "metrics": self.metrics,
            "training_summary": self.training_summary,
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            "idf": self.idf,
            "coef": self.coef,
            "intercept": self.intercept,
            "calibration": self.calibration,
        }

    @property
    def version(self) -> str:
        """Content hash of everything that affects predictions or is stored with them."""
        digest = hashlib.sha256()
        digest.update(json.dumps(self._meta(), sort_keys=True).encode())
        for name, array in sorted(self._arrays().items()):
            digest.update(name.encode())
            digest.update(str(array.shape).encode())
            digest.update(array.tobytes())
        return digest.hexdigest()[:12]

    def save(self, path: pathlib.Path) -> None:
        meta = json.dumps(self._meta(), sort_keys=True)
        with open(path, "wb") as handle:  # a handle stops numpy from appending ".npz"
            np.savez_compressed(handle, meta=np.array(meta), **self._arrays())

    @classmethod
    def load(cls, path: pathlib.Path) -> DepartmentModel:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            if meta.get("format") != ARTIFACT_FORMAT:
                raise ValueError(
                    f"{path}: not a department model artifact ({meta.get('format')!r})"
                )
            return cls(
                labels=tuple(meta["labels"]),
                feature_config=FeatureConfig.from_json(meta["feature_config"]),
                idf=archive["idf"],
                coef=archive["coef"],
                intercept=archive["intercept"],
                calibration=archive["calibration"],
                thresholds=meta["thresholds"],
                metrics=meta["metrics"],
                training_summary=meta["training_summary"],
            )


class ScoredBatch:
    """One batch's probabilities (`proba`, as predict_proba gives them), and explanations
    drawn from the same features."""

    def __init__(self, model: DepartmentModel, texts: list[str]) -> None:
        self._model = model
        self.normalized = [normalize_text(text) for text in texts]
        if not texts:
            self._features = None
            self.proba = np.zeros((0, len(model.labels)))
            return
        counts = model._counts.transform(self.normalized)
        self._features = tfidf(counts, model.idf, model.feature_config)
        self.proba = model._calibrated(model._linear(self._features))

    def explain(
        self, requests: Sequence[tuple[int, str]], top: int = 5
    ) -> list[list[tuple[str, float]]]:
        """For each (row in the batch, label), the terms that pushed the label's score most,
        as `DepartmentModel.explain` gives them.

        One pair at a time cost ~9 ms, nearly all of it fixed overhead (sparse matrices and
        a hasher built for a single row); here the features are the batch's own and all
        terms are hashed in one call. The arithmetic per pair is the one `explain` always
        did, so the terms are identical.
        """
        model = self._model
        label_rows = [model.labels.index(label) for _, label in requests]
        rows = [row for row in dict.fromkeys(row for row, _ in requests) if self.normalized[row]]
        word_analyzer = model._counts.word_analyzer()
        terms_by_row = {
            row: list(dict.fromkeys(word_analyzer(self.normalized[row]))) for row in rows
        }
        flat = [term for row in rows for term in terms_by_row[row]]
        indices = _split(model._counts.word_index(flat), [len(terms_by_row[r]) for r in rows])
        term_indices = dict(zip(rows, indices, strict=True))
        tokens_by_row = {row: word_tokens(self.normalized[row]) for row in rows}
        grams_by_word = model._char_grams_by_word(list(tokens_by_row.values()))

        explanations = []
        features = self._features
        for (row, _), label_row in zip(requests, label_rows, strict=True):
            if row not in term_indices:
                explanations.append([])
                continue
            start, end = features.indptr[row], features.indptr[row + 1]
            columns = features.indices[start:end]
            # float32 product widened to float64, exactly as a dense row would hold it.
            values = (features.data[start:end] * model.coef[label_row, columns]).astype(np.float64)
            contribution = dict(zip(columns.tolist(), values.tolist(), strict=True))
            scores = {
                term: contribution.get(idx, 0.0)
                for term, idx in zip(terms_by_row[row], term_indices[row].tolist(), strict=True)
            }
            shares = model._char_shares(tokens_by_row[row], grams_by_word, contribution)
            for word, share in shares.items():
                scores[word] = scores.get(word, 0.0) + share
            lexicon = model._lexicon_shares(self.normalized[row], contribution)
            for term, share in lexicon.items():
                scores[term] = scores.get(term, 0.0) + share
            ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
            ranked = [(term, round(float(value), 4)) for term, value in ranked if value != 0.0]
            explanations.append(ranked[:top])
        return explanations
