"""Leave-one-source-out evaluation of the department classifier.

Each source in train_provenance.csv is held out in turn: the model is trained on the
other sources (with its usual source-grouped calibration and thresholds) and predicts the
held-out one. Pooled over all held-out predictions this estimates how the model does on
text from a source it has never seen, which in-distribution CV badly overstates.

    .venv/bin/python bench/loso.py [--data PATH] [--json OUT.json] [--skip-cv]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sklearn.model_selection import StratifiedKFold  # noqa: E402

from routing.classifier import LABELS, read_labelled_csv, train_model  # noqa: E402
from routing.classifier.evaluation import evaluate_proba  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "train_provenance.csv"


def _subset(items: list, index: np.ndarray) -> list:
    return [items[i] for i in index]


def leave_one_source_out(texts: list[str], labels: list[str], sources: list[str]) -> dict:
    source_array = np.array(sources)
    proba = np.zeros((len(texts), len(LABELS)))
    thresholds_used = np.zeros((len(texts), len(LABELS)))
    per_source: dict[str, dict] = {}
    for source in sorted(set(sources)):
        started = time.perf_counter()
        train = np.flatnonzero(source_array != source)
        test = np.flatnonzero(source_array == source)
        model = train_model(
            _subset(texts, train), _subset(labels, train), groups=_subset(sources, train)
        )
        proba[test] = model.predict_proba(_subset(texts, test))
        thresholds_used[test] = [model.thresholds[label] for label in LABELS]
        held_out = evaluate_proba(proba[test], _subset(labels, test), LABELS, model.thresholds)
        accuracy = float(
            np.mean(proba[test].argmax(axis=1) == [LABELS.index(x) for x in _subset(labels, test)])
        )
        per_source[source] = {
            "n": len(test),
            "accuracy": accuracy,
            "auto_route_precision": held_out["auto_route_precision"],
            "coverage": held_out["coverage"],
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(
            f"  {source:<28} n={len(test):>5}  accuracy={accuracy:.3f}  "
            f"auto-route precision={held_out['auto_route_precision']:.3f} "
            f"coverage={held_out['coverage']:.3f}  ({per_source[source]['seconds']}s)",
            flush=True,
        )
    pooled = _pooled(proba, labels, thresholds_used)
    return {"per_source": per_source, "pooled": pooled}


def _pooled(proba: np.ndarray, labels: list[str], thresholds: np.ndarray) -> dict:
    # Each held-out source was scored by a model with its own thresholds, so the pooled
    # auto-route figures compare every row with the thresholds of the model that scored it.
    pooled = evaluate_proba(proba, labels, LABELS, dict.fromkeys(LABELS, 0.0))
    top = proba.argmax(axis=1)
    rows = np.arange(len(top))
    routed = proba[rows, top] >= thresholds[rows, top]
    truth = np.array([LABELS.index(x) for x in labels])
    pooled["auto_route_precision"] = (
        float(np.mean(top[routed] == truth[routed])) if routed.any() else 0.0
    )
    pooled["coverage"] = float(routed.mean())
    return pooled


def stratified_cv(texts: list[str], labels: list[str], seed: int = 42) -> dict:
    """Classic 5-fold stratified CV (rows shuffled, sources mixed) for comparison."""
    proba = np.zeros((len(texts), len(LABELS)))
    thresholds_used = np.zeros((len(texts), len(LABELS)))
    splitter = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    for train, test in splitter.split(texts, labels):
        model = train_model(_subset(texts, train), _subset(labels, train), seed=seed)
        proba[test] = model.predict_proba(_subset(texts, test))
        thresholds_used[test] = [model.thresholds[label] for label in LABELS]
    return _pooled(proba, labels, thresholds_used)


def _print_summary(name: str, result: dict) -> None:
    per_department = " ".join(
        f"{label}={values['f1']:.3f}" for label, values in result["per_department"].items()
    )
    print(
        f"{name}: macro-F1={result['macro_f1']:.3f}  auto-route precision="
        f"{result['auto_route_precision']:.3f}  coverage={result['coverage']:.3f}  n={result['n']}"
    )
    print(f"  F1 per department: {per_department}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=pathlib.Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=pathlib.Path, help="write all figures to this file")
    parser.add_argument("--skip-cv", action="store_true", help="skip the 5-fold stratified CV")
    args = parser.parse_args()

    texts, labels, sources = read_labelled_csv(args.data)
    if sources is None:
        parser.error(f"{args.data} has no source column")
    print(f"leave-one-source-out on {len(texts)} rows, {len(set(sources))} sources")
    report = {"loso": leave_one_source_out(texts, labels, sources)}
    _print_summary("LOSO pooled", report["loso"]["pooled"])
    print("  confusion (rows true, columns predicted):", LABELS)
    for label, row in zip(LABELS, report["loso"]["pooled"]["confusion"]["matrix"], strict=True):
        print(f"    {label:<10} {row}")
    if not args.skip_cv:
        report["stratified_cv"] = stratified_cv(texts, labels)
        _print_summary("5-fold stratified CV", report["stratified_cv"])
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
