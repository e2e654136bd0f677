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
import scipy.sparse as sp

from .embeddings import WordVectors
from .features import (
    FeatureConfig,
    HashedCounts,
    lexicon_hits,
    tfidf,
    vector_word_weights,
    with_embedding,
    word_bucket_index,
)
from .normalize import normalize_text, split_halves, split_segments, word_tokens

LABELS: tuple[str, ...] = ("product", "support", "hr", "marketing", "noise")

ARTIFACT_FORMAT = "switchboard-department-model/2"
# Artifacts of the first format (no word vectors) still load.
READABLE_FORMATS = ("switchboard-department-model/1", ARTIFACT_FORMAT)
# A post without sentence breaks whose second department scores this much or more is also
# scored in parts (with_segments): a second topic is plausible, so it is worth looking.
SPLIT_MIN_SECOND = 0.3


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
        word_vectors: WordVectors | None = None,
        sentiment: tuple[np.ndarray, np.ndarray] | None = None,
        multilingual: dict | None = None,
        companion_thresholds: dict[str, float] | None = None,
    ) -> None:
        n_labels = len(labels)
        if (word_vectors.dim if word_vectors else 0) != feature_config.embedding_dim:
            raise ValueError("the word-vector table does not match the feature config")
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
        # A second department for a post already routed elsewhere (fan-out; see
        # evaluation.companion_of and training.choose_companion_thresholds). Empty in
        # artifacts trained before it: no companion then.
        self.companion_thresholds = {
            label: float(value) for label, value in (companion_thresholds or {}).items()
        }
        self.metrics = metrics or {}
        self.training_summary = training_summary or {}
        self._counts = HashedCounts(feature_config)
        self.word_vectors = word_vectors
        # Optional sentiment head (sentiment.py): weights over the same features, and
        # (intercept, Platt slope, Platt offset).
        self.sentiment = None
        if sentiment is not None:
            self.set_sentiment(*sentiment)
        # Optional head for posts in other languages (multilingual.py): coef (labels x
        # 384), intercept, calibration, and its own thresholds.
        self.multilingual = None
        if multilingual is not None:
            self.set_multilingual(multilingual)
        # Each table word's weight in a text's mean vector: the idf of its unigram bucket.
        self._word_weights = (
            vector_word_weights(self.idf, word_bucket_index(word_vectors.words, feature_config))
            if word_vectors
            else None
        )

    # -- scoring -------------------------------------------------------------------

    def featurize(self, normalized: list[str]):
        """(model input, word-vector counts, text-vector norms, text vectors); the last
        three are None without a word-vector table."""
        sparse_input = tfidf(self._counts.transform(normalized), self.idf, self.feature_config)
        if self.word_vectors is None:
            return sparse_input, None, None, None
        counts = self.word_vectors.counts(normalized)
        embedded, norms = self.word_vectors.embed(counts, self._word_weights)
        model_input = with_embedding(sparse_input, embedded, self.feature_config)
        return model_input, counts, norms, embedded

    def embed(self, texts: list[str]) -> np.ndarray | None:
        """L2-normalised mean word vectors of raw texts (None without a table): what the
        correction memory compares posts by."""
        if self.word_vectors is None:
            return None
        normalized = [normalize_text(text) for text in texts]
        counts = self.word_vectors.counts(normalized)
        return self.word_vectors.embed(counts, self._word_weights)[0]

    def set_sentiment(self, coef: np.ndarray, bias: np.ndarray) -> None:
        coef = np.ascontiguousarray(coef, dtype=np.float32).ravel()
        if coef.shape != (self.feature_config.n_features,):
            raise ValueError("sentiment weights do not match the feature config")
        self.sentiment = (coef, np.asarray(bias, dtype=np.float32).ravel()[:3])

    def set_multilingual(self, head: dict) -> None:
        coef = np.ascontiguousarray(head["coef"], dtype=np.float32)
        if coef.shape[0] != len(self.labels):
            raise ValueError("multilingual head does not match the labels")
        self.multilingual = {
            "coef": coef,
            "intercept": np.asarray(head["intercept"], dtype=np.float32),
            "calibration": np.asarray(head["calibration"], dtype=np.float32),
            "thresholds": {k: float(head["thresholds"][k]) for k in self.labels},
        }

    def foreign_rows(self, texts: list[str], normalized: list[str]) -> list[int]:
        """Rows whose text is not English (see multilingual.is_foreign)."""
        if self.multilingual is None:
            return []
        from .multilingual import is_foreign

        known = self.word_vectors.index if self.word_vectors else {}
        return [
            row
            for row, (text, norm) in enumerate(zip(texts, normalized, strict=True))
            if is_foreign(text, norm.split(), known)
        ]

    def with_multilingual(
        self, texts: list[str], normalized: list[str], proba: np.ndarray
    ) -> tuple[np.ndarray, list[int]]:
        """Replace the scores of non-English rows by the multilingual head's, mapped onto
        this model's thresholds. Returns (probabilities, the rows replaced)."""
        rows = self.foreign_rows(texts, normalized)
        if not rows:
            return proba, rows
        proba = proba.copy()
        proba[rows] = self._head_proba([texts[r] for r in rows])
        return proba, rows

    def _head_proba(self, texts: list[str]) -> np.ndarray:
        """The multilingual head's probabilities, mapped onto this model's thresholds."""
        from .multilingual import encode, onto_thresholds

        head = self.multilingual
        raw = encode(texts) @ head["coef"].T + head["intercept"]
        own = _sigmoid(raw * head["calibration"][:, 0] + head["calibration"][:, 1])
        main = np.array([self.thresholds[k] for k in self.labels])
        limits = np.array([head["thresholds"][k] for k in self.labels])
        return onto_thresholds(own, limits, main)

    def with_cascade(self, texts: list[str], proba: np.ndarray, skip=()) -> np.ndarray:
        """The optional cascade (ROUTING_CASCADE): posts no label is sure about (none over
        its threshold) are also read by the sentence encoder, and the two opinions are
        averaged. ~15-36 posts/s per thread for that share, so off by default."""
        if self.multilingual is None or not len(proba):
            return proba
        limits = np.array([self.thresholds[k] for k in self.labels])
        skip = set(skip)
        rows = [r for r in np.flatnonzero(~(proba >= limits).any(axis=1)).tolist() if r not in skip]
        if not rows:
            return proba
        proba = proba.copy()
        proba[rows] = (proba[rows] + self._head_proba([texts[r] for r in rows])) / 2.0
        return proba

    def sentiment_of(self, features) -> np.ndarray | None:
        """Probability that each text is positive (praise) rather than negative (a
        complaint), or None without a sentiment head."""
        if self.sentiment is None:
            return None
        coef, (intercept, slope, offset) = self.sentiment
        raw = np.asarray(features @ coef).ravel() + intercept
        return _sigmoid(raw.astype(np.float64) * slope + offset)

    def _features(self, texts: list[str]):
        return self.featurize([normalize_text(text) for text in texts])[0]

    def decision_function(self, texts: list[str]) -> np.ndarray:
        """Raw linear scores, shape (n, n_labels); larger means more likely."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self._linear(self._features(list(texts)))

    def _linear(self, features) -> np.ndarray:
        return np.asarray(features @ self._coef_t) + self.intercept

    def predict_proba(self, texts: list[str], *, cascade: bool = False) -> np.ndarray:
        """Calibrated one-vs-rest probabilities, shape (n, n_labels); rows need not sum to 1.

        A post of several sentences also gets each sentence's scores, and a department
        takes the highest: a post that reports a bug in one sentence and a billing
        problem in the next reaches both thresholds instead of splitting its evidence
        (fan-out)."""
        return ScoredBatch(self, list(texts), cascade=cascade).proba

    def with_segments(self, texts: list[str], proba: np.ndarray) -> np.ndarray:
        """Each department takes the highest of the post's score and its parts' scores.

        The parts are its sentences (`split_segments`); a post without sentence breaks
        that leans two ways (a second department at SPLIT_MIN_SECOND or more: two topics
        run together, as chat and pasted text often are) is also cut at a third, a half
        and two thirds of its words, each side scored. Only that ambiguous share pays for
        the extra scoring."""
        owners, segments = [], []
        second = np.sort(proba, axis=1)[:, -2] if proba.shape[1] > 1 else np.zeros(len(texts))
        for row, text in enumerate(texts):
            parts = split_segments(text)
            if not parts and second[row] >= SPLIT_MIN_SECOND:
                parts = split_halves(text)
            for segment in parts:
                owners.append(row)
                segments.append(segment)
        if not segments:
            return proba
        proba = proba.copy()
        segment_proba = self._calibrated(self.decision_function(segments))
        np.maximum.at(proba, np.asarray(owners), segment_proba)
        return proba

    def _calibrated(self, scores: np.ndarray) -> np.ndarray:
        slope, offset = self.calibration[:, 0], self.calibration[:, 1]
        return _sigmoid(scores.astype(np.float64) * slope + offset)

    def score_batch(self, texts: list[str], *, cascade: bool = False) -> ScoredBatch:
        """`predict_proba` for a batch, keeping its features so that the same batch can be
        explained without computing them again (routing scores, then explains its cases)."""
        return ScoredBatch(self, list(texts), cascade=cascade)

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
        meta = {
            "format": ARTIFACT_FORMAT,
            "labels": list(self.labels),
            "feature_config": self.feature_config.to_json(),
            "thresholds": self.thresholds,
            "metrics": self.metrics,
            "training_summary": self.training_summary,
        }
        if self.multilingual is not None:
            meta["multilingual_thresholds"] = self.multilingual["thresholds"]
        if self.companion_thresholds:  # absent before: older artifacts keep their version
            meta["companion_thresholds"] = self.companion_thresholds
        return meta

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "idf": self.idf,
            "coef": self.coef,
            "intercept": self.intercept,
            "calibration": self.calibration,
        }
        if self.word_vectors is not None:
            # Words of a general vocabulary and their vectors: no sentence of any data.
            arrays["emb_words"] = np.array(self.word_vectors.words)
            arrays["emb_vectors"] = self.word_vectors.vectors16
        if self.sentiment is not None:
            arrays["sentiment_coef"], arrays["sentiment_bias"] = self.sentiment
        if self.multilingual is not None:
            arrays["ml_coef"] = self.multilingual["coef"]
            arrays["ml_intercept"] = self.multilingual["intercept"]
            arrays["ml_calibration"] = self.multilingual["calibration"]
        return arrays

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
            if meta.get("format") not in READABLE_FORMATS:
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
                companion_thresholds=meta.get("companion_thresholds"),
                metrics=meta["metrics"],
                training_summary=meta["training_summary"],
                word_vectors=(
                    WordVectors(archive["emb_words"], archive["emb_vectors"])
                    if "emb_vectors" in archive.files
                    else None
                ),
                sentiment=(
                    (archive["sentiment_coef"], archive["sentiment_bias"])
                    if "sentiment_coef" in archive.files
                    else None
                ),
                multilingual=(
                    {
                        "coef": archive["ml_coef"],
                        "intercept": archive["ml_intercept"],
                        "calibration": archive["ml_calibration"],
                        "thresholds": meta["multilingual_thresholds"],
                    }
                    if "ml_coef" in archive.files
                    else None
                ),
            )


class ScoredBatch:
    """One batch's probabilities (`proba`, as predict_proba gives them), and explanations
    drawn from the same features."""

    def __init__(self, model: DepartmentModel, texts: list[str], *, cascade: bool = False) -> None:
        self._model = model
        self.labels = model.labels
        self.normalized = [normalize_text(text) for text in texts]
        if not texts:
            self._features = self._emb_counts = self._emb_norms = self.embedded = None
            self.sentiment = None
            self.foreign = []
            self.proba = np.zeros((0, len(model.labels)))
            return
        self._features, self._emb_counts, self._emb_norms, self.embedded = model.featurize(
            self.normalized
        )
        proba = model.with_segments(list(texts), model._calibrated(model._linear(self._features)))
        self.proba, self.foreign = model.with_multilingual(list(texts), self.normalized, proba)
        if cascade:
            self.proba = model.with_cascade(list(texts), self.proba, skip=self.foreign)
        self.sentiment = model.sentiment_of(self._features)

    @property
    def word_block(self):
        """Each text's word tf-idf vector (the hashed word block, unit length), for the
        correction memory's lexical similarity."""
        if self._features is None:
            return None
        block = self._features[:, : self._model.feature_config.n_word]
        norms = np.sqrt(np.asarray(block.multiply(block).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return (sp.diags(1.0 / norms) @ block).tocsr()

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
            for term, share in self._embedding_shares(row, label_row).items():
                scores[term] = scores.get(term, 0.0) + share
            ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
            ranked = [(term, round(float(value), 4)) for term, value in ranked if value != 0.0]
            explanations.append(ranked[:top])
        return explanations

    def _embedding_shares(self, row: int, label_row: int) -> dict[str, float]:
        """Split the text vector's contribution to a label among the words it averages:
        the vector is sum(w_i * v_i) / norm, so word i's share is w_i * (v_i . c) / norm."""
        model = self._model
        if self._emb_counts is None:
            return {}
        start, end = self._emb_counts.indptr[row], self._emb_counts.indptr[row + 1]
        columns = self._emb_counts.indices[start:end]
        if len(columns) == 0:
            return {}
        first = model.feature_config.n_sparse
        coef = model.coef[label_row, first:] * model.feature_config.embedding_weight
        weights = self._emb_counts.data[start:end] * model._word_weights[columns]
        values = weights * (model.word_vectors.vectors[columns] @ coef) / self._emb_norms[row]
        words = model.word_vectors.words
        return {words[c]: float(v) for c, v in zip(columns.tolist(), values.tolist(), strict=True)}
