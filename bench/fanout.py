"""Fan-out: does a post about two departments get a case in both?

Pairs of posts from two different departments (noise excluded) are joined into one post;
the figure is the share of pairs for which routing (routing.classifier.evaluation.
routed_sets: every department over its threshold) sends the joined post to both. Beside
it, the share of single posts that get a wrong extra department (routed to two or more,
one of them wrong), which fan-out must not buy.

    .venv/bin/python bench/fanout.py [--data ../shared/datasets/validation.csv]
        [--model routing/artifacts/default.npz] [--pairs 1000]

Pure Python, no database.
"""

from __future__ import annotations

import argparse
import pathlib
import random
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from routing.classifier import DepartmentModel, read_labelled_csv  # noqa: E402
from routing.classifier.evaluation import routed_sets  # noqa: E402


def fanout_figures(model: DepartmentModel, texts, labels, pairs: int, seed: int = 1) -> dict:
    rng = random.Random(seed)
    departments = [i for i, label in enumerate(labels) if label != "noise"]
    joined, wanted = [], []
    while len(joined) < pairs:
        a, b = rng.sample(departments, 2)
        if labels[a] == labels[b]:
            continue
        joined.append(f"{texts[a].rstrip()} {texts[b]}")
        wanted.append({labels[a], labels[b]})
    companions = model.companion_thresholds
    decided = routed_sets(model.predict_proba(joined), model.labels, model.thresholds, companions)
    both = sum(want <= got for want, got in zip(wanted, decided, strict=True))
    one = sum(bool(want & got) for want, got in zip(wanted, decided, strict=True))
    single = routed_sets(
        model.predict_proba(list(texts)), model.labels, model.thresholds, companions
    )
    wrong_extra = sum(
        len(got) >= 2 and bool(got - {truth}) for got, truth in zip(single, labels, strict=True)
    )
    return {
        "pairs": pairs,
        "both_routed": both / pairs,
        "at_least_one_routed": one / pairs,
        "single_posts": len(labels),
        "wrong_extra_department": wrong_extra / len(labels),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT.parent / "shared/datasets/validation.csv"))
    parser.add_argument("--model", default=str(ROOT / "routing/artifacts/default.npz"))
    parser.add_argument("--pairs", type=int, default=1000)
    args = parser.parse_args()
    model = DepartmentModel.load(pathlib.Path(args.model))
    texts, labels, _ = read_labelled_csv(args.data)
    figures = fanout_figures(model, texts, labels, args.pairs)
    print(
        f"two-department posts ({figures['pairs']} pairs): both routed "
        f"{figures['both_routed']:.1%}, at least one {figures['at_least_one_routed']:.1%}"
    )
    print(
        f"single posts ({figures['single_posts']}): a wrong extra department on "
        f"{figures['wrong_extra_department']:.1%}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
