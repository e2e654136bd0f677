"""A third yardstick for the department classifier: text from outside the datasets.

The hand-written seed examples (routing/classifier/seed_examples.py) come from no dataset
source, so they can stand in for posts from companies and channels the model never saw.
Two ways of scoring them, top-1 macro-F1:

* ``unseen``  - train on every row of train_provenance.csv and no seeds; test on all seeds.
  Also run for the README's plain baseline (TF-IDF + LR), which scores about 0.69 on the
  blind set, as a point of comparison.
* ``2-fold``  - the shipped recipe (real rows + seeds at their share of the weight), but
  only half of the seeds train and the other half is tested, then the other way round.

Caveat: the seeds and the department vocabulary (lexicon.py) were written by the same
hands, so this yardstick is kind to the vocabulary; use it alongside the held-out-source
proxies in classifier_experiments.py, not instead of them.

    .venv/bin/python bench/seed_holdout.py [--data FILE.csv] [--C 0.05 0.1 0.3]
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sklearn.model_selection import StratifiedKFold  # noqa: E402

from bench.classifier_experiments import (  # noqa: E402
    DEFAULT_DATA,
    Data,
    _p,
    load,
    package_model,
    plain_baseline,
)
from routing.classifier import LABELS, TrainParams  # noqa: E402
from routing.classifier.evaluation import evaluate_proba  # noqa: E402


def seeds_as_rows(data: Data) -> tuple[np.ndarray, np.ndarray]:
    """Append the seeds to `data` as ordinary rows; return (real indices, seed indices)."""
    n_real = len(data.texts)
    data.texts = data.texts + data.seed_texts
    data.labels = data.labels + list(data.seed_labels)
    data.sources = data.sources + ["_seed_examples"] * len(data.seed_texts)
    data.targets = np.array([LABELS.index(label) for label in data.labels])
    data.seed_texts, data.seed_labels = [], []  # nothing is added behind the harness's back
    data._normalized = None
    return np.arange(n_real), np.arange(n_real, len(data.texts))


def line(name: str, scores: np.ndarray, truth: list[str]) -> str:
    result = evaluate_proba(scores, truth, LABELS, dict.fromkeys(LABELS, -np.inf))
    per = " ".join(f"{k[:4]}={v['f1']:.2f}" for k, v in result["per_department"].items())
    return f"{name:<30} macro-F1={result['macro_f1']:.3f}  [{per}]"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=pathlib.Path, default=DEFAULT_DATA)
    parser.add_argument("--C", type=float, nargs="+", default=[0.05, 0.1, 0.3, 1.0])
    args = parser.parse_args()

    data = Data(*load(args.data))
    real, seeds = seeds_as_rows(data)
    truth = [data.labels[i] for i in seeds]
    share = TrainParams().seed_share
    print(f"{len(real)} dataset rows, {len(seeds)} hand-written seed examples")
    print(line("unseen: plain baseline", plain_baseline(data, real, seeds), truth), flush=True)
    for C in args.C:
        scores = package_model(data, real, seeds, params=_p(C=C))
        print(line(f"unseen: package, C {C}", scores, truth), flush=True)
    folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=0)
    for C in args.C:
        scores = np.zeros((len(seeds), len(LABELS)))
        for train_half, test_half in folds.split(seeds, data.targets[seeds]):
            scores[test_half] = package_model(
                data,
                real,
                seeds[test_half],
                params=_p(C=C),
                seeds=share,
                seed_rows=seeds[train_half],
            )
        print(line(f"2-fold: shipped recipe, C {C}", scores, truth), flush=True)


if __name__ == "__main__":
    main()
