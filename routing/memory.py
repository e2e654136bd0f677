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
import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from routing.classifier.training import TARGET_PRECISION

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
    # Organisation thresholds (organisation_thresholds): a department's threshold comes
    # down to a lower score once at least `threshold_min_labelled` labelled posts scored
    # between it and the model's threshold were right `target_precision` of the time,
    # judged by the Wilson lower bound at `threshold_z` standard errors.
    target_precision: float = TARGET_PRECISION  # the shipped thresholds' own target
    threshold_min_labelled: int = 10
    threshold_z: float = 0.5
    # Never below this, whatever the labels say.
    threshold_floor: float = 0.3
    # What the labelled posts' scores are judged on: "memory" = the scores routing will
    # compare with, the model's moved by the memory, each labelled post's own label left
    # out (CorrectionMemory.held_out_scores); "model" = the model's scores alone. Chosen
    # on the training files (bench/memory_params.py): see docs/classifier.md.
    threshold_scores: str = "memory"
    # Which labelled posts the precision is counted over: "band" = those between the new
    # threshold and the shipped one; "all" = every one at or above the new threshold (what
    # the department would receive, as training.choose_thresholds counts).
    threshold_band: str = "all"
    # The leave-one-out scores are taken for the newest this many labelled posts (their
    # neighbours come from the whole memory): bounded work at each label change. The
    # organisation head is fitted on the same posts.
    threshold_sample: int = 2_000
    # The organisation head (OrganisationHead): its share of a department's score (0: off),
    # the inverse L2 strength of its logistic regressions, and how many labelled posts,
    # and positives and negatives of a department, it needs before it has a say.
    head_weight: float = 0.85
    head_c: float = 30.0
    head_min_labelled: int = 30
    head_min_class: int = 3
    # Organisation leads (organisation_leads): a post no threshold takes goes to its first
    # label when that label leads the second by at least what this organisation's labels
    # support (the thresholds' target and count, Wilson z `lead_z`); never on a lead
    # below `lead_floor`. Chosen on the training files (bench/memory_params.py --leads).
    lead_rule: bool = True
    lead_floor: float = 0.2
    lead_z: float = 0.0


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
    # department -> the organisation head's probability, where it scored the department
    head: dict[str, float] = field(default_factory=dict)
    # (department, its lead over the second label) when the lead rule routed the post
    lead: tuple[str, float] | None = None


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


def wilson_lower(right: np.ndarray, n: np.ndarray, z: float) -> np.ndarray:
    """Lower end of the Wilson score interval of a share (elementwise)."""
    n = np.maximum(n, 1)
    share = right / n
    centre = share + z * z / (2 * n)
    spread = z * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def decided_for(decisions: list[dict[str, float]], label: str) -> tuple[np.ndarray, np.ndarray]:
    """(rows whose decision says something about `label`, 1 where it is the post's
    department), for the organisation thresholds and head alike: put in it = 1; taken out
    of it, or put only elsewhere = 0 (routing opens a case in every department over its
    threshold); a post only taken out of other departments says nothing about it."""
    rows, y = [], []
    for row, decided in enumerate(decisions):
        value = decided.get(label)
        if value is None and not any(v > 0 for v in decided.values()):
            continue
        rows.append(row)
        y.append(1 if value is not None and value > 0 else 0)
    return np.asarray(rows, dtype=np.int64), np.asarray(y, dtype=np.int64)


def organisation_thresholds(
    labels: tuple[str, ...],
    proba: np.ndarray,
    decisions: list[dict[str, float]],
    base: dict[str, float],
    settings: MemorySettings,
) -> dict[str, float]:
    """Per-department thresholds lowered where this organisation's own labels show the
    model is right more often than the shipped thresholds assume.

    The shipped thresholds are set on public sources held out one at a time, a harsher
    test than most organisations' traffic. Staff decide the posts the model was unsure
    about (triage), so for each department the labelled posts whose model score lies
    below its threshold tell how often routing them there would have been right: a post
    labelled for the department counts as right; one labelled against it, or put only in
    other departments (or noise), as wrong (routing opens a case in every department over
    its threshold, so every post counts, as in training.choose_thresholds). Walking down
    from the shipped threshold, the new one is the lowest score at which the band between
    the two still reaches the target precision with the Wilson lower bound. Only lowers:
    posts above a threshold were routed and are checked by the people who work them.
    Returns only the departments whose threshold moved."""
    lowered: dict[str, float] = {}
    if not len(decisions):
        return lowered
    whole = settings.threshold_band == "all"
    for column, label in enumerate(labels):
        limit = base.get(label)
        if limit is None:
            continue
        rows, right = decided_for(decisions, label)
        scores = proba[rows, column].astype(np.float64)
        keep = (scores >= settings.threshold_floor) & ((scores < limit) | whole)
        scores, right = scores[keep], right[keep]
        order = np.argsort(-scores, kind="stable")
        ranked = scores[order]
        below = ranked < limit
        if int(below.sum()) < settings.threshold_min_labelled:
            continue
        # Counted from the shipped threshold down (the band), or with the posts above it.
        found = lowest_reaching(ranked, right[order], settings.threshold_z, settings, counted=below)
        if found is not None:
            lowered[label] = found
    return lowered


def lowest_reaching(
    ranked: np.ndarray,
    right: np.ndarray,
    z: float,
    settings: MemorySettings,
    counted: np.ndarray | None = None,
) -> float | None:
    """Walking down `ranked` (values, highest first; `right`: 1 where that post was
    right), the lowest value at which the posts so far were right `target_precision` of
    the time by the Wilson lower bound at `z`, with at least `threshold_min_labelled` of
    those so far `counted` (all by default) and the value's own post counted; None if
    none is."""
    hits = np.cumsum(right)
    n = np.arange(1, len(ranked) + 1)
    bound = wilson_lower(hits, n, z)
    counted = np.ones(len(ranked), dtype=bool) if counted is None else counted
    ok = np.flatnonzero(
        counted
        & (bound >= settings.target_precision)
        & (np.cumsum(counted) >= settings.threshold_min_labelled)
    )
    return round(float(ranked[ok[-1]]), 4) if len(ok) else None


def first_and_lead(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's top column and how far it leads the second (elementwise)."""
    ordered = np.sort(proba, axis=1)
    return proba.argmax(axis=1), ordered[:, -1] - ordered[:, -2]


def organisation_leads(
    labels: tuple[str, ...],
    proba: np.ndarray,
    decisions: list[dict[str, float]],
    *,
    thresholds: dict[str, float],
    settings: MemorySettings,
) -> dict[str, float]:
    """Per first label, the lead over the second label from which a post that no
    threshold takes (it would wait in triage) is routed to it anyway.

    The departments are scored independently, so a post may score 0.6 for marketing and
    0.05 for everything else and still sit below marketing's threshold, which is set for
    posts that also look like something else. Among this organisation's labelled posts
    that `thresholds` (what routing compares with) leave unrouted, those whose first
    label is the department are walked down from the largest lead: the new rule's lead is
    the smallest at which they were right `target_precision` of the time (Wilson lower
    bound at `lead_z`, at least `threshold_min_labelled` posts). Right as for the
    thresholds (decided_for). Returns only the departments that got one."""
    leads: dict[str, float] = {}
    if not settings.lead_rule or not len(decisions) or proba.shape[1] < 2:
        return leads
    limits = np.array([thresholds.get(label, 1.0) for label in labels])
    waiting = ~(proba >= limits[None, :]).any(axis=1)
    first, lead = first_and_lead(proba)
    for column, label in enumerate(labels):
        rows, right = decided_for(decisions, label)
        keep = waiting[rows] & (first[rows] == column) & (lead[rows] >= settings.lead_floor)
        ranked_rows, right = rows[keep], right[keep]
        if len(ranked_rows) < settings.threshold_min_labelled:
            continue
        order = np.argsort(-lead[ranked_rows], kind="stable")
        found = lowest_reaching(lead[ranked_rows][order], right[order], settings.lead_z, settings)
        if found is not None:
            leads[label] = found
    return leads


def reaching(value: float, threshold: float) -> float:
    """`value` rounded to the 4 decimals scores are kept in, never below `threshold` when
    it was at or above it (a score put at a threshold must still pass it once rounded)."""
    rounded = round(value, 4)
    if value >= threshold and rounded < threshold:
        rounded = math.ceil(threshold * 10_000) / 10_000
    return rounded


# Log-odds of the model's probabilities are scaled to about the size of the key's entries.
HEAD_LOGIT_SCALE = 0.3
HEAD_FOLDS = 5


class OrganisationHead:
    """What this organisation's labels say beyond their nearest neighbours: one logistic
    regression per department over a post's mean word vector (its memory key) and the
    model's log-odds, fitted on the labelled posts at each memory refresh (milliseconds for
    a few thousand posts). Neighbour votes follow near-duplicates; the head generalises
    across the organisation's traffic ("here, tweets that only tag the brand are noise").
    Its probability is blended into the department's score (settings.head_weight)."""

    def __init__(
        self, inputs: tuple[str, ...], labels: tuple[str, ...], coef: np.ndarray, bias: np.ndarray
    ):
        self.inputs = inputs  # the model's labels, in the order of the log-odds columns
        self.labels = labels  # the departments the head scores
        self.coef = coef  # (len(labels), key dims + len(inputs))
        self.bias = bias

    @staticmethod
    def features(vectors: np.ndarray, proba: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(proba, dtype=np.float64), 1e-4, 1 - 1e-4)
        return np.hstack(
            [np.asarray(vectors, dtype=np.float64), HEAD_LOGIT_SCALE * np.log(p / (1 - p))]
        )

    def predict(self, vectors: np.ndarray, proba: np.ndarray) -> np.ndarray:
        """(n, len(labels)) probabilities; `proba` holds the model's, in `inputs` order."""
        z = self.features(vectors, proba) @ self.coef.T + self.bias
        return 1.0 / (1.0 + np.exp(-z))


def head_fit(
    vectors: np.ndarray,
    proba: np.ndarray,
    inputs: tuple[str, ...],
    decisions: list[dict[str, float]],
    settings: MemorySettings,
) -> tuple[OrganisationHead | None, np.ndarray]:
    """The head fitted on labelled posts, and its cross-validated probabilities of those
    same posts (HEAD_FOLDS folds: each scored by a head that did not see it; NaN where a
    department has no head), for choosing thresholds on scores it did not train on."""
    from sklearn.model_selection import KFold

    n = len(decisions)
    cross_val = np.full((n, len(inputs)), np.nan)
    if settings.head_weight <= 0 or n < settings.head_min_labelled:
        return None, cross_val
    X = OrganisationHead.features(vectors, proba)
    folds = KFold(HEAD_FOLDS, shuffle=True, random_state=0)
    fitted, coefs, biases = [], [], []
    for column, label in enumerate(inputs):
        rows, y = decided_for(decisions, label)
        positives = int(y.sum())
        if min(positives, len(y) - positives) < max(1, settings.head_min_class):
            continue
        if len(rows) < HEAD_FOLDS:
            continue

        for train, test in folds.split(rows):
            part = _logistic(X[rows[train]], y[train], settings.head_c)
            cross_val[rows[test], column] = (
                part.predict_proba(X[rows[test]])[:, 1] if part is not None else y[train].mean()
            )
        whole = _logistic(X[rows], y, settings.head_c)
        fitted.append(label)
        coefs.append(whole.coef_[0])
        biases.append(whole.intercept_[0])
    if not fitted:
        return None, cross_val
    head = OrganisationHead(inputs, tuple(fitted), np.vstack(coefs), np.asarray(biases))
    return head, cross_val


def _logistic(X: np.ndarray, y: np.ndarray, c: float):
    """A fitted logistic regression, or None when `y` has one class only."""
    from sklearn.linear_model import LogisticRegression

    if len(set(y.tolist())) < 2:
        return None
    return LogisticRegression(C=c, max_iter=500).fit(X, y)


class CorrectionMemory:
    """Labelled posts as keys plus per-department signed weights, the organisation head
    fitted on them (`head`), and the organisation thresholds those labels support
    (`thresholds`: department -> lowered threshold) and the leads that route a post no
    threshold takes to its first label (`leads`: department -> lead)."""

    def __init__(self, settings: MemorySettings | None = None) -> None:
        self.settings = settings or MemorySettings()
        self.item_ids: list[int] = []
        self.keys = Keys(np.zeros((0, 0), dtype=np.float32))
        self.labels: list[dict[str, float]] = []
        self.thresholds: dict[str, float] = {}
        self.leads: dict[str, float] = {}
        self.head: OrganisationHead | None = None
        # The labelled posts the head and thresholds were fitted on, and whether this
        # memory fitted them (False: kept from the previous one, memory_for).
        self.fitted_ids: frozenset[int] = frozenset()
        self.refitted = True

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
        exclude: np.ndarray | None = None,
        use_head: bool = True,
        leads: dict[str, float] | None = None,
    ) -> list[MemoryEffect]:
        """Adjust each post's scores (label -> probability) by its labelled neighbours,
        then blend in the organisation head's probabilities where it has one.

        With `thresholds` (what routing compares scores with), a decisive vote puts the
        score at the department's threshold at least (or just under it, for a decisive
        "no"), and a post none of them reaches whose first label leads the second by the
        organisation's lead for it (`leads`, default this memory's: organisation_leads)
        gets that label's threshold, so routing and evaluation need no second rule for the
        memory. `exclude`
        (one memory row per post, or -1) leaves that labelled post out of its neighbours:
        a labelled post scored as if its own label were not known yet."""
        effects = [MemoryEffect(dict(scores)) for scores in proba]
        if embedded is None or not len(self) or not len(proba):
            return effects
        cfg = self.settings
        leads = self.leads if leads is None else leads
        keys = Keys(embedded) if isinstance(embedded, np.ndarray) else embedded
        similarity = self.similarity(keys)
        if exclude is not None:
            rows = np.flatnonzero(exclude >= 0)
            similarity[rows, exclude[rows]] = -np.inf
        k = min(cfg.neighbours, similarity.shape[1])
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        head = self.head if use_head else None
        if head is not None:
            model_proba = np.array(
                [[scores.get(label, 0.0) for label in head.inputs] for scores in proba]
            )
            head_proba = head.predict(keys.vectors, model_proba)
        for row, effect in enumerate(effects):
            decided = self._vote(effect, similarity[row], top[row])
            if head is not None:
                w = cfg.head_weight
                for column, dept in enumerate(head.labels):
                    p = effect.scores.get(dept, 0.0)
                    effect.scores[dept] = (1.0 - w) * p + w * float(head_proba[row, column])
                    effect.head[dept] = round(float(head_proba[row, column]), 4)
            for dept, vote in decided.items():
                if thresholds is None or dept not in thresholds or dept not in effect.scores:
                    continue
                if vote >= cfg.decisive_vote:
                    effect.scores[dept] = max(effect.scores[dept], thresholds[dept])
                elif vote <= -cfg.decisive_vote:
                    effect.scores[dept] = min(effect.scores[dept], thresholds[dept] - 0.0001)
            if thresholds is not None and leads:
                self._lead(effect, thresholds, leads)
            limits = thresholds or {}
            effect.scores = {
                dept: reaching(p, limits.get(dept, math.inf)) for dept, p in effect.scores.items()
            }
        return effects

    @staticmethod
    def _lead(effect: MemoryEffect, thresholds: dict[str, float], leads: dict[str, float]):
        """The lead rule (organisation_leads) on one post's final scores, in place."""
        ranked = sorted(
            ((p, dept) for dept, p in effect.scores.items() if dept in thresholds), reverse=True
        )
        if len(ranked) < 2 or any(p >= thresholds[dept] for p, dept in ranked):
            return
        (p, dept), (second, _) = ranked[0], ranked[1]
        limit = leads.get(dept)
        if limit is not None and p - second >= limit:
            effect.scores[dept] = thresholds[dept]
            effect.lead = (dept, round(p - second, 4))

    def _vote(self, effect: MemoryEffect, similarity: np.ndarray, top: np.ndarray) -> dict:
        """Move one post's scores by its nearest labelled posts' votes (in place); returns
        department -> strength x agreement (-1..1), for the decisive-vote rule."""
        cfg = self.settings
        candidates = sorted(((float(similarity[j]), int(j)) for j in top), reverse=True)
        near = [(s, j) for s, j in candidates if s >= cfg.min_similarity]  # not -inf
        if not near:
            return {}
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
        decided = {}
        for dept, vote in votes.items():
            share = max(-1.0, min(1.0, vote / total))
            p = effect.scores.get(dept, 0.0)
            if share > 0:
                p += strength * share * (1.0 - p)
            else:
                p *= 1.0 + strength * share
            decided[dept] = strength * share
            effect.votes[dept] = round(strength * share, 4)
            if dept in effect.scores or share > 0:
                effect.scores[dept] = p
        return decided

    def held_out_scores(
        self,
        labels: tuple[str, ...],
        proba: np.ndarray,
        rows,
        head_cross_val: np.ndarray | None = None,
    ) -> np.ndarray:
        """The scores routing would have compared with for the labelled posts `rows`
        (memory rows) had each one's own label not been known: the model's probabilities
        `proba` (one row per entry of `rows`, in `labels` order) moved by the other
        labelled posts, and blended with `head_cross_val` (the organisation head's
        cross-validated probabilities of the same posts; NaN where it has none). Decisive
        votes are not applied: they route on their own, whatever the threshold."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.array(proba, dtype=np.float64, copy=True)
        for start in range(0, len(rows), 250):  # bounded similarity blocks
            chunk = rows[start : start + 250]
            scores = [
                dict(zip(labels, map(float, out[start + n]), strict=True))
                for n in range(len(chunk))
            ]
            effects = self.apply(self.keys.rows(chunk), scores, exclude=chunk, use_head=False)
            for n, effect in enumerate(effects):
                out[start + n] = [effect.scores.get(label, 0.0) for label in labels]
        if head_cross_val is not None:
            w = self.settings.head_weight
            known = ~np.isnan(head_cross_val)
            out[known] = (1.0 - w) * out[known] + w * head_cross_val[known]
        return out


# -- the process-wide memory, kept in step with the RoutingLabel table ----------------------

_lock = threading.Lock()
_state: dict = {
    "memory": None,
    "model_version": None,
    "seen": None,
    "keys": {},
    "fitted_at": None,  # when the head and thresholds were last fitted (monotonic)
    "stale": False,  # labels changed since then
}

# The organisation head and thresholds take ~0.3 s to fit on 300 labelled posts and a few
# seconds on thousands; while staff keep labelling, a process refits them at most this
# often (neighbour votes follow every new label at once). A labelled post the last fit
# learnt from that is gone (an erasure) always refits.
REFIT_SECONDS = 30.0


def _label_marker() -> tuple:
    """(count, newest update) of the labels: one indexed query that says whether any
    label changed since the memory was built."""
    from django.db.models import Count, Max

    from routing.models import RoutingLabel

    marker = RoutingLabel.objects.aggregate(n=Count("pk"), last=Max("updated_at"))
    return (marker["n"], marker["last"])


def memory_for(classifier) -> CorrectionMemory:
    """The memory for the active classifier, refreshed when labels changed (one query).

    The neighbour votes follow every label change at once. The organisation head and
    thresholds are refitted at most every REFIT_SECONDS: a refresh within that time keeps
    the last fit and marks it stale, and the first call after the time is up refits it,
    label change or not, so a burst of labels is never left out for long."""
    marker = _label_marker()
    with _lock:
        current = _state["memory"]
        fitted_at = _state["fitted_at"]
        now = time.monotonic()
        due = _state["stale"] and (fitted_at is None or now - fitted_at >= REFIT_SECONDS)
        if (
            current is not None
            and _state["model_version"] == classifier.version
            and _state["seen"] == marker
            and not due
        ):
            return current
        if _state["model_version"] != classifier.version:
            _state["keys"] = {}
            current = None
        recent = current is not None and fitted_at is not None and now - fitted_at < REFIT_SECONDS
        memory = memory_build(
            classifier.model, cache=_state["keys"], previous=current if recent else None
        )
        if memory.refitted:
            _state.update(fitted_at=now, stale=False)
        else:
            _state["stale"] = True
        _state.update(memory=memory, model_version=classifier.version, seen=marker)
        logger.info("correction memory: %s labelled posts", len(memory))
        return memory


def memory_refit() -> None:
    """Refit the organisation head and thresholds at the next call, however recent the
    last fit (the demo's replay of history, and the simulation, move days in seconds)."""
    with _lock:
        _state.update(fitted_at=None, stale=True)


def memory_reset() -> None:
    with _lock:
        _state.update(
            memory=None, model_version=None, seen=None, keys={}, fitted_at=None, stale=False
        )


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
    model,
    settings: MemorySettings | None = None,
    cache: dict[int, Keys] | None = None,
    previous: CorrectionMemory | None = None,
) -> CorrectionMemory:
    """A memory of the newest labelled posts; `cache` (item id -> keys, for this model)
    spares reading and re-embedding posts already seen, so a new label costs one post.
    With `previous`, its organisation head and thresholds are kept instead of refitted,
    unless a labelled post they were fitted on is no longer labelled (erased)."""
    from feedback.models import FeedbackItem

    memory = CorrectionMemory(settings)
    cache = {} if cache is None else cache
    ids, labels = labelled_posts(memory.settings.capacity)
    if not ids or model.word_vectors is None:  # a model without word vectors has no memory
        return memory
    missing = [i for i in ids if i not in cache]
    # A system read: the memory learns from every labelled post, whoever asked for the
    # thresholds (a rule builder's dry run reads them inside a request).
    bodies = dict(FeedbackItem.objects.unscoped().filter(pk__in=missing).values_list("pk", "body"))
    for start in range(0, len(missing), 500):
        chunk = missing[start : start + 500]
        scored = model.score_batch([bodies[i] for i in chunk])
        fresh = keys_of(model, scored)
        for n, i in enumerate(chunk):
            # The model's own probabilities (before any memory) for the thresholds.
            cache[i] = (fresh.rows(slice(n, n + 1)), scored.proba[n])
    for stale in set(cache) - set(ids):  # fell out of the memory, or erased
        del cache[stale]
    memory.replace(ids, Keys.stack([cache[i][0] for i in ids]), labels)
    if previous is not None and previous.fitted_ids <= set(ids):
        memory.head, memory.thresholds = previous.head, dict(previous.thresholds)
        memory.leads = dict(previous.leads)
        memory.fitted_ids, memory.refitted = previous.fitted_ids, False
        return memory
    memory_fit(
        memory, model.labels, np.vstack([cache[i][1] for i in memory.item_ids]), model.thresholds
    )
    return memory


def memory_fit(
    memory: CorrectionMemory,
    labels: tuple[str, ...],
    proba: np.ndarray,
    base: dict[str, float],
) -> dict[str, float]:
    """Fit a filled memory's organisation head, thresholds and leads on its newest
    `threshold_sample` labelled posts; `proba` holds the model's own probabilities of all
    its labelled posts (memory order, `labels` columns). The thresholds are judged on what
    routing will compare with (settings.threshold_scores): each labelled post moved by the
    others' votes and blended with a head that did not train on it; the leads on the same
    scores, for the posts the new thresholds still leave unrouted. Returns the
    thresholds (also set on the memory, as the head and leads are)."""
    cfg = memory.settings
    rows = np.arange(max(0, len(memory) - cfg.threshold_sample), len(memory))
    memory.fitted_ids = frozenset(memory.item_ids[r] for r in rows)
    decisions = [memory.labels[r] for r in rows]
    scores = proba[rows]
    memory.head = None
    if cfg.threshold_scores == "memory":
        head, cross_val = head_fit(memory.keys.vectors[rows], scores, labels, decisions, cfg)
        scores = memory.held_out_scores(labels, scores, rows, cross_val)
        memory.head = head
    memory.thresholds = organisation_thresholds(labels, scores, decisions, base, cfg)
    after = {
        label: min(limit, memory.thresholds.get(label, limit)) for label, limit in base.items()
    }
    memory.leads = organisation_leads(labels, scores, decisions, thresholds=after, settings=cfg)
    return memory.thresholds
