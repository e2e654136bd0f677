"""The classifier on posts from sources it never saw: ../shared/datasets/validation.csv.

Prints, for an artifact (default: the shipped one): macro-F1 and per-department F1 (top-1),
auto-route precision and coverage at its thresholds, the same per validation source, the
fan-out figures (bench/fanout.py), speed, load time and memory; and, as the ceiling to beat
measured in the same run, a plain TF-IDF (word 1-2 + char_wb 2-5) + logistic regression
baseline trained on the same training files.

Never train or tune on validation.csv: it is for comparing a few whole-model choices
(docs/classifier.md lists the ones made).

    .venv/bin/python bench/validation.py [--model FILE.npz] [--no-baseline]
"""

from __future__ import annotations

import argparse
import pathlib
import resource
import sys
import time
from collections import defaultdict

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import fanout_figures  # noqa: E402
from routing.classifier import DepartmentModel, evaluate_model, read_labelled_csv  # noqa: E402

DATA = ROOT.parent / "shared" / "datasets"
TRAIN = ("train_provenance.csv", "train_extra_provenance.csv")
BATCH = 500


def baseline_f1(validation_texts, validation_labels) -> float:
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    texts, labels = [], []
    for name in TRAIN:
        t, lab, _ = read_labelled_csv(DATA / name)
        texts, labels = texts + t, labels + lab
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
    x = sp.hstack([word.fit_transform(texts), char.fit_transform(texts)]).tocsr()
    v = sp.hstack([word.transform(validation_texts), char.transform(validation_texts)]).tocsr()
    model = LogisticRegression(C=4, max_iter=2000, class_weight="balanced").fit(x, labels)
    return float(f1_score(validation_labels, model.predict(v), average="macro"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(ROOT / "routing/artifacts/default.npz"))
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    model = DepartmentModel.load(pathlib.Path(args.model))
    load_seconds = time.perf_counter() - started
    texts, labels, sources = read_labelled_csv(DATA / "validation_provenance.csv")

    report = evaluate_model(model, texts, labels)
    print(f"model {model.version} on validation.csv ({report['n']} posts, sources unseen)")
    print(
        f"  macro-F1 {report['macro_f1']:.3f}; auto-route precision "
        f"{report['auto_route_precision']:.3f} at coverage {report['coverage']:.3f}"
    )
    print(
        "  per department F1: "
        + ", ".join(f"{k} {v['f1']:.3f}" for k, v in report["per_department"].items())
    )
    print("  thresholds: " + ", ".join(f"{k} {v:.2f}" for k, v in model.thresholds.items()))
    by_source = defaultdict(list)
    for i, source in enumerate(sources):
        by_source[source].append(i)
    for source, rows in sorted(by_source.items()):
        part = evaluate_model(model, [texts[i] for i in rows], [labels[i] for i in rows])
        print(
            f"  {source:<28} n={len(rows):>4}  precision {part['auto_route_precision']:.3f} "
            f"coverage {part['coverage']:.3f}"
        )
    fan = fanout_figures(model, texts, labels, pairs=1000)
    print(
        f"fan-out: both departments routed in {fan['both_routed']:.1%} of 1000 two-department "
        f"posts (at least one {fan['at_least_one_routed']:.1%}); a wrong extra department on "
        f"{fan['wrong_extra_department']:.1%} of single posts"
    )
    batch = (texts * (BATCH // len(texts) + 1))[:BATCH]
    model.predict_proba(batch)
    started = time.perf_counter()
    for _ in range(5):
        model.score_batch(batch)
    rate = 5 * BATCH / (time.perf_counter() - started)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = pathlib.Path(args.model).stat().st_size / 2**20
    print(
        f"speed: {rate:,.0f} items/s (score_batch, batches of {BATCH}, one process); "
        f"load {load_seconds:.2f} s; peak RSS {rss:.0f} MB; artifact {size:.1f} MiB"
    )
    if model.multilingual is not None:
        # The optional cascade (ROUTING_CASCADE): the uncertain share is also read by the
        # multilingual sentence encoder. Its figures, and its speed on a batch as workers
        # see it (only the posts no label is sure about pay for the encoder).
        cascade = evaluate_model(model, texts, labels, cascade=True)
        sample = batch[:100]
        started = time.perf_counter()
        model.score_batch(sample, cascade=True)
        cascade_rate = len(sample) / (time.perf_counter() - started)
        print(
            f"cascade (ROUTING_CASCADE=true): macro-F1 {cascade['macro_f1']:.3f}; precision "
            f"{cascade['auto_route_precision']:.3f} at coverage {cascade['coverage']:.3f}; "
            f"{cascade_rate:,.0f} items/s on a batch of {len(sample)} (default path "
            f"{rate:,.0f} items/s in the same run)"
        )
    if not args.no_baseline:
        print(
            f"ceiling to beat, same run: plain TF-IDF + LR baseline macro-F1 "
            f"{baseline_f1(texts, labels):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
