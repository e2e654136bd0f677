"""Re-runnable generalization experiments for the department classifier.

Every variant is scored on the same held-out splits of train_provenance.csv, pooled over
all held-out rows (top-1 macro-F1):

* ``loso``  - leave-one-source-out: train on 7 sources, predict the 8th (harsh: for a
  department the held-out source is often its only example of that style).
* ``topic`` - leave-topics-out: 5-fold GroupKFold over (source, original label) groups,
  e.g. all of CLINC `pto_request`, all Glassdoor *cons*, all airline *Late Flight*
  tweets or all of the brand tweets are held out together. The model has seen other
  topics of the same channel, as it will have for the blind set's employee reviews, chat
  queries and spam comments, but never the held-out topic itself (the fairer proxy).
* ``cv``    - 5-fold stratified CV (rows shuffled; optimistic, for reference only).

The brief's "LOSO restricted to (source, department) pairs whose department keeps other
training sources" is identical to ``loso`` on this data: each of the 14 pairs keeps at
least one other source for its department (printed with ``--pairs``).

Hand-written seed examples (routing/classifier/seed_examples.py) are added to the
*training* side of every split when a variant uses them and never appear in a test fold.

    .venv/bin/python bench/classifier_experiments.py [--proxy loso topic cv] \
        [--variants baseline current ...] [--json OUT.json] [--pairs]

``--thresholds`` runs the full train_model (nested held-out calibration and thresholds)
on the chosen proxies and reports auto-route precision and coverage.
"""

from __future__ import annotations

import argparse
import csv
import json
import pathlib
import sys
import time
from collections import Counter
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GroupKFold, StratifiedKFold  # noqa: E402

from routing.classifier import LABELS, TrainParams, train_model  # noqa: E402
from routing.classifier import training as T  # noqa: E402
from routing.classifier.evaluation import evaluate_proba  # noqa: E402
from routing.classifier.features import (  # noqa: E402
    FeatureConfig,
    HashedCounts,
    fit_idf,
    normalize_all,
    tfidf,
)

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "train_provenance.csv"


def load(path: pathlib.Path):
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    texts = [r["text"] for r in rows]
    labels = [r["department"] for r in rows]
    sources = [r["source"] for r in rows]
    topics = [f"{r['source']}:{r['source_label']}" for r in rows]
    return texts, labels, sources, topics


def make_splits(proxy: str, labels, sources, topics, seed: int = 42):
    n = len(labels)
    if proxy == "loso":
        array = np.array(sources)
        return [
            (name, np.flatnonzero(array != name), np.flatnonzero(array == name))
            for name in sorted(set(sources))
        ]
    if proxy == "topic":
        splitter = GroupKFold(n_splits=5, shuffle=True, random_state=seed)
        return [
            (f"fold{i}", train, test)
            for i, (train, test) in enumerate(splitter.split(np.zeros(n), labels, topics))
        ]
    if proxy == "cv":
        splitter = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
        return [
            (f"fold{i}", train, test)
            for i, (train, test) in enumerate(splitter.split(np.zeros(n), labels))
        ]
    raise ValueError(proxy)


# -- variants ---------------------------------------------------------------------------
# A variant maps (train_index, test_index) to a (n_test, 5) score matrix; argmax = top-1.


class Data:
    def __init__(self, texts, labels, sources, topics):
        self.texts, self.labels, self.sources, self.topics = texts, labels, sources, topics
        self.targets = np.array([LABELS.index(x) for x in labels])
        self._normalized = None
        self._counts: dict = {}
        from routing.classifier.seed_examples import seed_rows

        self.seed_texts, self.seed_labels = seed_rows()
        self.seed_targets = np.array([LABELS.index(x) for x in self.seed_labels])

    @property
    def normalized(self):
        if self._normalized is None:
            self._normalized = normalize_all(self.texts + self.seed_texts)
        return self._normalized

    def counts(self, config: FeatureConfig) -> sp.csr_matrix:
        key = json.dumps(config.to_json(), sort_keys=True)
        if key not in self._counts:
            self._counts[key] = HashedCounts(config).transform(self.normalized)
        return self._counts[key]


def plain_baseline(data: Data, train, test, *, C=4.0, char=True, word=True):
    """README baseline: TF-IDF word 1-2 + char_wb 2-5 (sublinear, min_df 2) + LR C=4."""
    train_texts = [data.texts[i] for i in train]
    test_texts = [data.texts[i] for i in test]
    blocks_train, blocks_test = [], []
    vectorizers = []
    if word:
        vectorizers.append(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2))
    if char:
        vectorizers.append(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
        )
    for vec in vectorizers:
        blocks_train.append(vec.fit_transform(train_texts))
        blocks_test.append(vec.transform(test_texts))
    x_train, x_test = sp.hstack(blocks_train).tocsr(), sp.hstack(blocks_test).tocsr()
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=1000)
    model.fit(x_train, data.targets[train])
    scores = np.full((len(test), len(LABELS)), -1e9)
    scores[:, model.classes_] = model.decision_function(x_test)
    return scores


def package_model(
    data: Data,
    train,
    test,
    *,
    params: TrainParams | None = None,
    seeds: float = 0.0,
    seed_rows=None,
):
    """The package's own feature pipeline and linear fit (no calibration: top-1 only).

    With `seeds` > 0 the seed examples join the training side at that share of each
    department's weight: `data`'s own seed examples, or the rows `seed_rows` names."""
    params = params or TrainParams()
    counts = data.counts(params.features)
    n_real = len(data.texts)
    train_rows = np.asarray(train)
    labels = [data.labels[i] for i in train]
    groups = [data.sources[i] for i in train]
    weights = T.balanced_weights(labels, groups, None, params.source_balance)
    if seeds > 0:
        if seed_rows is None:
            seed_rows = np.arange(n_real, n_real + len(data.seed_texts))
            seed_labels = list(data.seed_labels)
        else:
            seed_labels = [data.labels[i] for i in seed_rows]
        train_rows = np.concatenate([train_rows, seed_rows]).astype(np.int64)
        weights = T.add_seed_weights(weights, labels, seed_labels, seeds)
        labels = labels + seed_labels
    targets = np.array([LABELS.index(x) for x in labels])
    idf = fit_idf(counts[train_rows], params.features)
    coef, intercept = T._fit_linear(
        tfidf(counts[train_rows], idf, params.features), targets, weights, params, 42
    )
    return T._scores(tfidf(counts[np.asarray(test)], idf, params.features), coef, intercept)


def _p(**kwargs) -> TrainParams:
    features = {k[2:]: v for k, v in kwargs.items() if k.startswith("f_")}
    rest = {k: v for k, v in kwargs.items() if not k.startswith("f_")}
    return replace(TrainParams(), features=replace(FeatureConfig(), **features), **rest)


# The model before this round of work: C 0.1, char weight 1.0, no seed examples.
_OLD = {"C": 0.1, "f_char_weight": 1.0}

VARIANTS = {
    "baseline": lambda d, tr, te: plain_baseline(d, tr, te),
    "baseline_word": lambda d, tr, te: plain_baseline(d, tr, te, char=False),
    "current": lambda d, tr, te: package_model(d, tr, te, params=_p(**_OLD)),
    "no_lexicon": lambda d, tr, te: package_model(
        d, tr, te, params=_p(**_OLD, f_lexicon_weight=0.0)
    ),
    "word_only": lambda d, tr, te: package_model(d, tr, te, params=_p(C=0.1, f_char_weight=0.0)),
    "char_half": lambda d, tr, te: package_model(d, tr, te, params=_p(C=0.1, f_char_weight=0.5)),
    # The shipped defaults (C 0.03, char 0.3, seeds at 30 % of each department).
    "final": lambda d, tr, te: package_model(d, tr, te, seeds=TrainParams().seed_share),
}


_SPEC_KEYS = {
    "C": "C",
    "bal": "source_balance",
    "char": "f_char_weight",
    "word": "f_word_weight",
    "lex": "f_lexicon_weight",
    "mindf": "f_min_df",
}


def variant(name: str):
    """A named variant, or a spec such as ``seeds=2+char=0+C=0.1+lex=4``."""
    if name in VARIANTS:
        return VARIANTS[name]
    seeds, kwargs = 0.0, {}
    for part in name.split("+"):
        key, value = part.split("=")
        if key == "seeds":
            seeds = float(value)
        else:
            number = float(value)
            kwargs[_SPEC_KEYS[key]] = int(number) if key == "mindf" else number
    params = _p(**kwargs)
    return lambda d, tr, te: package_model(d, tr, te, params=params, seeds=seeds)


def run_variant(data: Data, name: str, splits) -> dict:
    scores = np.zeros((len(data.texts), len(LABELS)))
    covered = np.zeros(len(data.texts), dtype=bool)
    started = time.perf_counter()
    for _, train, test in splits:
        scores[test] = variant(name)(data, train, test)
        covered[test] = True
    labels = [data.labels[i] for i in np.flatnonzero(covered)]
    result = evaluate_proba(scores[covered], labels, LABELS, dict.fromkeys(LABELS, -np.inf))
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def run_thresholds(data: Data, splits, params: TrainParams | None) -> dict:
    """Full train_model per split: nested held-out calibration and thresholds."""
    proba = np.zeros((len(data.texts), len(LABELS)))
    limits = np.zeros_like(proba)
    for _, train, test in splits:
        model = train_model(
            [data.texts[i] for i in train],
            [data.labels[i] for i in train],
            groups=[data.sources[i] for i in train],
            params=params,
        )
        proba[test] = model.predict_proba([data.texts[i] for i in test])
        limits[test] = [model.thresholds[x] for x in LABELS]
    top = proba.argmax(axis=1)
    rows = np.arange(len(top))
    routed = proba[rows, top] >= limits[rows, top]
    result = evaluate_proba(proba, data.labels, LABELS, dict.fromkeys(LABELS, 0.0))
    result["auto_route_precision"] = float(np.mean(top[routed] == data.targets[routed]))
    result["coverage"] = float(routed.mean())
    per = {}
    for i, label in enumerate(LABELS):
        mask = routed & (top == i)
        per[label] = {
            "routed": int(mask.sum()),
            "precision": float(np.mean(data.targets[mask] == i)) if mask.any() else None,
        }
    result["routed_per_department"] = per
    return result


def _line(name: str, proxy: str, result: dict) -> str:
    per = " ".join(f"{k[:4]}={v['f1']:.2f}" for k, v in result["per_department"].items())
    extra = ""
    if "coverage" in result and "routed_per_department" in result:
        extra = f"  route-prec={result['auto_route_precision']:.3f} cov={result['coverage']:.3f}"
    return f"{proxy:<6} {name:<18} macro-F1={result['macro_f1']:.3f}  [{per}]{extra}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=pathlib.Path, default=DEFAULT_DATA)
    parser.add_argument("--proxy", nargs="+", default=["loso", "topic"])
    parser.add_argument("--variants", nargs="+", default=["baseline", "current"])
    parser.add_argument("--thresholds", action="store_true", help="nested train_model runs")
    parser.add_argument("--pairs", action="store_true", help="print (source, department) pairs")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()

    data = Data(*load(args.data))
    if args.pairs:
        cells = Counter(zip(data.sources, data.labels, strict=True))
        for (source, label), n in sorted(cells.items()):
            others = {s for (s, lab) in cells if lab == label and s != source}
            print(f"{source:<28} {label:<10} {n:>5}  other sources: {len(others)}")
    report: dict = {}
    for proxy in args.proxy:
        splits = make_splits(proxy, data.labels, data.sources, data.topics)
        if args.thresholds:
            result = run_thresholds(data, splits, None)
            report[f"{proxy}/train_model"] = result
            print(_line("train_model", proxy, result), flush=True)
            print("   routed per department:", result["routed_per_department"], flush=True)
            continue
        for name in args.variants:
            result = run_variant(data, name, splits)
            report[f"{proxy}/{name}"] = result
            print(_line(name, proxy, result) + f"  ({result['seconds']}s)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
