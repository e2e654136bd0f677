"""The correction memory: staff decisions change the next similar post's route at once.

Every staff decision is a RoutingLabel row (see routing.models). Each routing batch asks
for labels changed since it last looked (one indexed query) and embeds new ones with the
active model's word vectors, so a correction made in the browser takes effect at the next
batch, seconds later, without waiting for a retrain.

For each post, the most similar labelled posts (cosine of mean word vectors, at least
`min_similarity`) vote: +weight for a department a person put the post in, -weight for one
they took it out of, and, since a person who routes a post to B had the chance to add A,
a weaker implicit -weight for the departments they did not pick. The votes move the
model's probabilities toward what people decided, by as much as the nearest neighbour is
close: a near-duplicate of a corrected post follows the correction; a vaguely similar one
is nudged. The settings were chosen on the training files, not on validation data
(bench/memory_params.py, docs/classifier.md).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

logger = logging.getLogger(__name__)

NOISE = "noise"


@dataclass(frozen=True)
class MemorySettings:
    neighbours: int = 5
    # Below this cosine a labelled post says nothing about the new one.
    min_similarity: float = 0.10
    # How far the votes may move a probability, reached at similarity 1.
    max_strength: float = 0.9
    # Weight of the departments a person did not pick, relative to an explicit label.
    implicit_negative: float = 0.5
    # A vote this strong (strength x agreement, -1..1) decides on its own: the department
    # is routed to even if the model's threshold is out of reach, or kept out if negative.
    decisive_vote: float = 0.5
    # Similarity = lexical_share x cosine of the word tf-idf vectors + the rest x cosine of
    # the mean word vectors: meaning alone makes short chat requests all look alike.
    lexical_share: float = 0.5
    # Most recent labels kept in memory per process (older ones live on in retraining).
    capacity: int = 20_000


CORRECTION_WEIGHT = 1.0
CONFIRMATION_WEIGHT = 0.5


def label_weight(kind: str) -> float:
    """A correction weighs more than a confirmation (RoutingLabel.kind)."""
    return CORRECTION_WEIGHT if kind == "correction" else CONFIRMATION_WEIGHT


@dataclass
class Neighbour:
    item_id: int
    similarity: float
    labels: dict[str, float]


@dataclass
class MemoryEffect:
    """What the memory did to one post: the probabilities after, the neighbours used."""

    scores: dict[str, float]
    neighbours: list[Neighbour] = field(default_factory=list)
    # department -> strength x agreement of the neighbours' votes, in -1..1
    votes: dict[str, float] = field(default_factory=dict)


@dataclass
class Keys:
    """How posts are compared: unit mean word vectors (dense) and, optionally, unit word
    tf-idf vectors (sparse, the model's hashed word block)."""

    vectors: np.ndarray
    words: sp.csr_matrix | None = None

    def __len__(self) -> int:
        return self.vectors.shape[0]

    def rows(self, keep) -> Keys:
        return Keys(self.vectors[keep], None if self.words is None else self.words[keep])

    @staticmethod
    def stack(keys: list[Keys]) -> Keys:
        words = [k.words for k in keys]
        return Keys(
            np.vstack([k.vectors for k in keys]),
            None if any(w is None for w in words) else sp.vstack(words, format="csr"),
        )


def keys_of(model, scored) -> Keys | None:
    """The memory keys of a scored batch (None for a model without word vectors)."""
    if scored.embedded is None:
        return None
    return Keys(scored.embedded, scored.word_block)


class CorrectionMemory:
    """Labelled posts as keys plus per-department signed weights."""

    def __init__(self, settings: MemorySettings | None = None) -> None:
        self.settings = settings or MemorySettings()
        self.item_ids: list[int] = []
        self.keys = Keys(np.zeros((0, 0), dtype=np.float32))
        self.labels: list[dict[str, float]] = []

    def __len__(self) -> int:
        return len(self.item_ids)

    def replace(self, item_ids: list[int], keys, labels: list[dict[str, float]]):
        if isinstance(keys, np.ndarray):
            keys = Keys(keys)
        keep = slice(max(0, len(item_ids) - self.settings.capacity), None)
        self.item_ids = list(item_ids[keep])
        self.keys = Keys(
            np.ascontiguousarray(keys.vectors[keep], dtype=np.float32),
            None if keys.words is None else keys.words[keep].tocsr(),
        )
        self.labels = list(labels[keep])

    def similarity(self, keys: Keys) -> np.ndarray:
        meaning = keys.vectors @ self.keys.vectors.T
        if keys.words is None or self.keys.words is None:
            return meaning
        share = self.settings.lexical_share
        lexical = (keys.words @ self.keys.words.T).toarray()
        return (1.0 - share) * meaning + share * lexical

    def apply(
        self,
        embedded,
        proba: list[dict[str, float]],
        thresholds: dict[str, float] | None = None,
    ) -> list[MemoryEffect]:
        """Adjust each post's scores (label -> probability) by its labelled neighbours.

        With `thresholds` (what routing compares scores with), a decisive vote puts the
        score at the department's threshold at least (or just under it, for a decisive
        "no"), so routing and evaluation need no second rule for the memory."""
        effects = [MemoryEffect(dict(scores)) for scores in proba]
        if embedded is None or not len(self) or not len(proba):
            return effects
        cfg = self.settings
        keys = Keys(embedded) if isinstance(embedded, np.ndarray) else embedded
        similarity = self.similarity(keys)
        k = min(cfg.neighbours, similarity.shape[1])
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        for row, effect in enumerate(effects):
            candidates = sorted(
                ((float(similarity[row, j]), int(j)) for j in top[row]), reverse=True
            )
            near = [(s, j) for s, j in candidates if s >= cfg.min_similarity]
            if not near:
                continue
            votes: dict[str, float] = {}
            total = 0.0
            for s, j in near:
                labels = self.labels[j]
                weight = max(abs(v) for v in labels.values())
                total += s * weight
                picked = {d for d, v in labels.items() if v > 0}
                for dept in set(labels) | set(effect.scores):
                    value = labels.get(dept)
                    if value is None:
                        # Not picked although the person chose elsewhere: a weak "no".
                        value = -weight * cfg.implicit_negative if picked else 0.0
                    votes[dept] = votes.get(dept, 0.0) + s * value
                effect.neighbours.append(Neighbour(self.item_ids[j], round(s, 4), labels))
            best = near[0][0]
            strength = cfg.max_strength * (best - cfg.min_similarity) / (1 - cfg.min_similarity)
            for dept, vote in votes.items():
                share = max(-1.0, min(1.0, vote / total))
                p = effect.scores.get(dept, 0.0)
                if share > 0:
                    p += strength * share * (1.0 - p)
                else:
                    p *= 1.0 + strength * share
                decided = strength * share
                effect.votes[dept] = round(decided, 4)
                if thresholds is not None and dept in thresholds:
                    if decided >= cfg.decisive_vote:
                        p = max(p, thresholds[dept])
                    elif decided <= -cfg.decisive_vote:
                        p = min(p, thresholds[dept] - 0.0001)
                if dept in effect.scores or share > 0:
                    effect.scores[dept] = round(p, 4)
        return effects


# -- the process-wide memory, kept in step with the RoutingLabel table ----------------------

_lock = threading.Lock()
_state: dict = {"memory": None, "model_version": None, "seen": None, "keys": {}}


def memory_for(classifier) -> CorrectionMemory:
    """The memory for the active classifier, refreshed when labels changed (one query)."""
    from django.db.models import Count, Max

    from routing.models import RoutingLabel

    marker = RoutingLabel.objects.aggregate(n=Count("pk"), last=Max("updated_at"))
    marker = (marker["n"], marker["last"])
    with _lock:
        current = _state["memory"]
        if (
            current is not None
            and _state["model_version"] == classifier.version
            and _state["seen"] == marker
        ):
            return current
        if _state["model_version"] != classifier.version:
            _state["keys"] = {}
        memory = memory_build(classifier.model, cache=_state["keys"])
        _state.update(memory=memory, model_version=classifier.version, seen=marker)
        logger.info("correction memory: %s labelled posts", len(memory))
        return memory


def memory_reset() -> None:
    with _lock:
        _state.update(memory=None, model_version=None, seen=None, keys={})


def labelled_posts(limit: int) -> tuple[list[int], list[dict[str, float]]]:
    """(item ids, {department: signed weight}) of the newest labelled posts, oldest first."""
    from routing.models import RoutingLabel

    rows = (
        RoutingLabel.objects.order_by("-updated_at", "-pk")
        .values_list("item_id", "department", "positive", "kind")
        .iterator(chunk_size=5000)
    )
    by_item: dict[int, dict[str, float]] = {}
    for item_id, department, positive, kind in rows:
        if item_id not in by_item and len(by_item) >= limit:
            continue
        weight = label_weight(kind)
        by_item.setdefault(item_id, {})[department] = weight if positive else -weight
    ids = list(reversed(list(by_item)))  # oldest first, so capacity trims the oldest
    return ids, [by_item[i] for i in ids]


def memory_build(
    model, settings: MemorySettings | None = None, cache: dict[int, Keys] | None = None
) -> CorrectionMemory:
    """A memory of the newest labelled posts; `cache` (item id -> keys, for this model)
    spares reading and re-embedding posts already seen, so a new label costs one post."""
    from feedback.models import FeedbackItem

    memory = CorrectionMemory(settings)
    cache = {} if cache is None else cache
    ids, labels = labelled_posts(memory.settings.capacity)
    if not ids or model.word_vectors is None:  # a model without word vectors has no memory
        return memory
    missing = [i for i in ids if i not in cache]
    bodies = dict(FeedbackItem.objects.filter(pk__in=missing).values_list("pk", "body"))
    for start in range(0, len(missing), 500):
        chunk = missing[start : start + 500]
        fresh = keys_of(model, model.score_batch([bodies[i] for i in chunk]))
        for n, i in enumerate(chunk):
            cache[i] = fresh.rows(slice(n, n + 1))
    for stale in set(cache) - set(ids):  # fell out of the memory, or erased
        del cache[stale]
    memory.replace(ids, Keys.stack([cache[i] for i in ids]), labels)
    return memory
