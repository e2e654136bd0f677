"""Static word vectors: a text's meaning as the weighted mean of its words' vectors.

The table (built by `scripts/build_word_vectors.py`, distilled from a sentence model) maps
each vocabulary word to a dense vector; words of similar meaning sit close together, so
the model can score "reimbursement" like "refund" although only one of them was in the
training data. Looking vectors up is a sparse-times-dense product per batch: no neural
network runs at routing time.

A word's weight in the mean is its sublinear term frequency times the model's idf for
that word (the word-unigram bucket of the hashed features), so "the" and "my" barely
move the vector. Because the text vector is linear in the words before its final L2
normalisation, its contribution to a department's score splits exactly into per-word
shares, which is how explanations name the words behind it.
"""

from __future__ import annotations

import json
import pathlib
from collections import Counter

import numpy as np
import scipy.sparse as sp

WORD_VECTORS_FORMAT = "switchboard-word-vectors/1"


class WordVectors:
    def __init__(
        self, words: np.ndarray | list[str], vectors: np.ndarray, meta: dict | None = None
    ):
        words = [str(w) for w in words]
        if len(words) != vectors.shape[0]:
            raise ValueError("word vectors: one vector per word expected")
        self.words = words
        self.index = {word: i for i, word in enumerate(words)}
        # Stored as float16; computed with as float32.
        self.vectors16 = np.ascontiguousarray(vectors, dtype=np.float16)
        self.vectors = self.vectors16.astype(np.float32)
        self.meta = meta or {}

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    @classmethod
    def load(cls, path: str | pathlib.Path) -> WordVectors:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            if meta.get("format") != WORD_VECTORS_FORMAT:
                raise ValueError(f"{path}: not a word-vector table ({meta.get('format')!r})")
            return cls(archive["words"], archive["vectors"], meta)

    def counts(self, normalized: list[str]) -> sp.csr_matrix:
        """Sublinear term frequencies of the table's words, shape (n texts, n words)."""
        indptr, indices, values = [0], [], []
        for text in normalized:
            found = Counter(self.index[t] for t in text.split() if t in self.index)
            indices.extend(found.keys())
            values.extend(1.0 + np.log(n) for n in found.values())
            indptr.append(len(indices))
        return sp.csr_matrix(
            (np.asarray(values, dtype=np.float32), np.asarray(indices, dtype=np.int64), indptr),
            shape=(len(normalized), len(self.words)),
        )

    def embed(
        self, counts: sp.csr_matrix, word_weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(L2-normalised text vectors, the norms divided by) for rows of `counts`.

        `word_weights` holds one weight per table word (its idf). A text with no known word
        gets the zero vector."""
        weighted = counts @ sp.diags(word_weights.astype(np.float32))
        dense = np.asarray(weighted @ self.vectors, dtype=np.float32)
        norms = np.linalg.norm(dense, axis=1)
        norms[norms == 0] = 1.0
        return dense / norms[:, None], norms
