"""Hashed TF-IDF features: word 1-2-grams and char_wb n-grams.

Hashing instead of a fitted vocabulary keeps the artifact free of training text (it
stores only weight and idf arrays indexed by hash bucket) and makes it small and safe to
load without pickle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import pairwise

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import HashingVectorizer

from .lexicon import lexicon_terms
from .normalize import normalize_text

_LEXICON = lexicon_terms()
LEXICON_DEPARTMENTS: tuple[str, ...] = ("product", "support", "hr", "marketing", "noise")


@dataclass(frozen=True)
class FeatureConfig:
    word_bits: int = 18
    char_bits: int = 18
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    # Buckets seen in fewer documents than this get idf 0: one-off strings (ids, names,
    # typos) only memorise the training rows.
    min_df: int = 2
    word_weight: float = 1.0
    # Character n-grams mostly encode a source's spelling habits; at full weight they cost
    # ~0.06 pooled leave-one-source-out macro-F1. 0.3 keeps some robustness to typos.
    char_weight: float = 0.3
    # Scale of the department-vocabulary columns (see lexicon.py); 0 switches them off.
    lexicon_weight: float = 2.0
    # Dense columns: the text's mean word vector (embeddings.py), scaled by embedding_weight.
    # embedding_dim is the table's width, 0 when the model has no word-vector table.
    embedding_dim: int = 0
    embedding_weight: float = 1.0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> FeatureConfig:
        data = dict(data)
        data["word_ngrams"] = tuple(data["word_ngrams"])
        data["char_ngrams"] = tuple(data["char_ngrams"])
        return cls(**data)

    @property
    def n_word(self) -> int:
        return 2**self.word_bits

    @property
    def n_char(self) -> int:
        return 2**self.char_bits

    @property
    def n_lexicon(self) -> int:
        return len(LEXICON_DEPARTMENTS)

    @property
    def n_sparse(self) -> int:
        return self.n_word + self.n_char + self.n_lexicon

    @property
    def n_features(self) -> int:
        return self.n_sparse + self.embedding_dim


def _word_vectorizer(config: FeatureConfig) -> HashingVectorizer:
    # normalize_text already lower-cases and space-separates tokens.
    return HashingVectorizer(
        analyzer="word",
        token_pattern=r"\S+",  # noqa: S106 - a regex, not a password
        lowercase=False,
        ngram_range=config.word_ngrams,
        n_features=config.n_word,
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    )


def _char_vectorizer(config: FeatureConfig) -> HashingVectorizer:
    return HashingVectorizer(
        analyzer="char_wb",
        lowercase=False,
        ngram_range=config.char_ngrams,
        n_features=config.n_char,
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    )


def word_grams(normalized: str) -> list[str]:
    """Word unigrams and bigrams of a normalized text, as the lexicon matches them."""
    tokens = normalized.split()
    return tokens + [f"{a} {b}" for a, b in pairwise(tokens)]


def lexicon_hits(normalized: str) -> dict[str, list[str]]:
    """The grams of `normalized` found in each department's vocabulary."""
    grams = word_grams(normalized)
    return {label: [g for g in grams if g in _LEXICON[label]] for label in LEXICON_DEPARTMENTS}


def _lexicon_counts(normalized: list[str]) -> np.ndarray:
    counts = np.zeros((len(normalized), len(LEXICON_DEPARTMENTS)), dtype=np.float32)
    for row, text in enumerate(normalized):
        for column, hits in enumerate(lexicon_hits(text).values()):
            counts[row, column] = len(hits)
    return counts


class HashedCounts:
    """Raw counts for already-normalized texts: hashed word and char n-grams, then one
    column per department counting vocabulary hits. Stateless, so computed once."""

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        self._word = _word_vectorizer(config)
        self._char = _char_vectorizer(config)
        self._char_grams = _CharGramCache(self._char.build_analyzer(), config.n_char)

    def transform(self, normalized: list[str]) -> sp.csr_matrix:
        word = self._word.transform(normalized)
        char = self._char_grams.transform(normalized)
        lexicon = sp.csr_matrix(_lexicon_counts(normalized))
        return sp.hstack([word, char, lexicon], format="csr", dtype=np.float32)

    def word_analyzer(self):
        return self._word.build_analyzer()

    def char_analyzer(self):
        return self._char.build_analyzer()

    def word_index(self, terms: list[str]) -> np.ndarray:
        return _hash_indices(terms, self.config.n_word)

    def char_index(self, grams: list[str]) -> np.ndarray:
        return self.config.n_word + _hash_indices(grams, self.config.n_char)


class _CharGramCache:
    """The char_wb block, with each word's hashed n-grams computed once per process.

    `char_wb` n-grams never cross a space, so a text's counts are the sum of its words'
    counts: exactly what HashingVectorizer gives, without generating and hashing the
    n-grams of "the" or "flight" again in every post (about half of scoring time went
    there). The cache is emptied when it reaches `max_words`.
    """

    def __init__(self, analyzer, n_features: int, max_words: int = 200_000) -> None:
        self._analyzer = analyzer
        self._n = n_features
        self._max = max_words
        self._cache: dict[str, np.ndarray] = {}

    def transform(self, normalized: list[str]) -> sp.csr_matrix:
        tokens = [text.split() for text in normalized]
        missing = list({w for words in tokens for w in words if w not in self._cache})
        if len(self._cache) + len(missing) > self._max:
            self._cache.clear()
            missing = list({w for words in tokens for w in words})
        if missing:
            grams = [self._analyzer(w) for w in missing]
            flat = _hash_indices([g for word in grams for g in word], self._n)
            pieces = np.split(flat, np.cumsum([len(g) for g in grams])[:-1])
            self._cache.update(zip(missing, pieces, strict=True))
        cache = self._cache
        per_text = [[cache[w] for w in words] for words in tokens]
        columns = [np.concatenate(arrays) if arrays else _EMPTY for arrays in per_text]
        lengths = np.array([len(c) for c in columns], dtype=np.int64)
        rows = np.repeat(np.arange(len(normalized)), lengths)
        matrix = sp.csr_matrix(
            (
                np.ones(int(lengths.sum()), dtype=np.float32),
                (rows, np.concatenate(columns) if columns else _EMPTY),
            ),
            shape=(len(normalized), self._n),
        )
        matrix.sum_duplicates()
        return matrix


_EMPTY = np.zeros(0, dtype=np.int64)


def _hash_indices(terms: list[str], n_features: int) -> np.ndarray:
    # FeatureHasher is what HashingVectorizer uses internally, so indices agree exactly.
    if not terms:
        return np.zeros(0, dtype=np.int64)
    hasher = FeatureHasher(n_features=n_features, input_type="string", alternate_sign=False)
    matrix = hasher.transform([[term] for term in terms]).tocsr()
    return matrix.indices.astype(np.int64)


def fit_idf(counts: sp.csr_matrix, config: FeatureConfig) -> np.ndarray:
    """Smoothed idf per hashed bucket; buckets below min_df documents are switched off."""
    n_hashed = config.n_word + config.n_char
    n_docs = counts.shape[0]
    df = np.bincount(counts[:, :n_hashed].indices, minlength=n_hashed).astype(np.float64)
    idf = np.log((1.0 + n_docs) / (1.0 + df)) + 1.0
    idf[df < config.min_df] = 0.0
    return idf.astype(np.float32)


def _l2_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.diags((1.0 / norms).astype(np.float32)) @ matrix


def tfidf(counts: sp.csr_matrix, idf: np.ndarray, config: FeatureConfig) -> sp.csr_matrix:
    """Model input: sublinear tf x idf per block (word, char), each block L2-normalized
    and weighted, then log-scaled department-vocabulary hit counts."""
    n_hashed = config.n_word + config.n_char
    hashed = counts[:, :n_hashed].copy()
    # Sublinear tf: a word said five times is not five times the evidence.
    # Scaling the stored values by their column's idf in place is the product with
    # diag(idf) without building a 2^19-column diagonal matrix on every batch.
    hashed.data = (1.0 + np.log(hashed.data)) * idf[hashed.indices]
    hashed.eliminate_zeros()
    word = _l2_rows(hashed[:, : config.n_word]) * config.word_weight
    char = _l2_rows(hashed[:, config.n_word :]) * config.char_weight
    lexicon = counts[:, n_hashed:].copy()
    lexicon.data = np.log1p(lexicon.data) * config.lexicon_weight
    return sp.hstack([word, char, lexicon], format="csr", dtype=np.float32)


def with_embedding(
    sparse_input: sp.csr_matrix, embedded: np.ndarray | None, config: FeatureConfig
) -> sp.csr_matrix:
    """Append the dense text-vector columns (already L2-normalised) to the sparse input."""
    if not config.embedding_dim:
        return sparse_input
    dense = sp.csr_matrix(embedded * np.float32(config.embedding_weight))
    return sp.hstack([sparse_input, dense], format="csr", dtype=np.float32)


def word_bucket_index(words: list[str], config: FeatureConfig) -> np.ndarray:
    """Each word's unigram bucket in the hashed word block (where its idf is stored)."""
    return _hash_indices(list(words), config.n_word)


def vector_word_weights(idf: np.ndarray, buckets: np.ndarray) -> np.ndarray:
    """Each table word's weight in a text's mean vector: its idf, and for a word too rare
    in the training data to have one (idf switched off below min_df), the highest idf.
    Those are the words the vectors exist for: the training data never taught the model
    "reimbursement", but its vector sits next to "refund"."""
    weights = idf[buckets].astype(np.float32)
    weights[weights == 0] = float(idf.max()) if idf.size else 1.0
    return weights


def normalize_all(texts: list[str]) -> list[str]:
    return [normalize_text(text) for text in texts]
