"""Speed and footprint of the default department model.

Trains on the shipped dataset (or loads --model), saves and reloads the artifact, then
times predict_proba on batches of 500 in this single process and reports items/s, load
seconds, artifact size and the process's resident memory.

    .venv/bin/python bench/bench_classifier.py [--data PATH | --model PATH] [--save PATH]
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from routing.classifier import DepartmentModel, read_labelled_csv, train_model  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "train.csv"
BATCH = 500
REPEATS = 5


def rss_mb() -> float:
    """Current resident set size from /proc (Linux); peak if /proc is unavailable."""
    try:
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=pathlib.Path, default=DEFAULT_DATA)
    parser.add_argument("--model", type=pathlib.Path, help="load this artifact instead of training")
    parser.add_argument("--save", type=pathlib.Path, help="keep the trained artifact here")
    args = parser.parse_args()

    texts, labels, sources = read_labelled_csv(args.data)
    if args.model:
        path = args.model
    else:
        started = time.perf_counter()
        model = train_model(texts, labels, groups=sources)
        seconds = time.perf_counter() - started
        scheme = model.training_summary["validation"]
        print(f"train: {len(texts)} rows in {seconds:.1f} s ({scheme})")
        path = args.save or pathlib.Path(tempfile.mkdtemp()) / "department-model.npz"
        model.save(path)
        del model

    started = time.perf_counter()
    model = DepartmentModel.load(path)
    load_seconds = time.perf_counter() - started

    batch = texts[:BATCH]
    model.predict_proba(batch)  # warm-up: first call builds the analyzers
    started = time.perf_counter()
    for _ in range(REPEATS):
        model.predict_proba(batch)
    items_per_second = BATCH * REPEATS / (time.perf_counter() - started)

    print(f"model: {path} version {model.version}")
    print(f"artifact size: {path.stat().st_size / 1e6:.2f} MB")
    print(f"load: {load_seconds:.3f} s")
    print(f"predict_proba: {items_per_second:,.0f} items/s (batches of {BATCH}, one process)")
    print(f"RSS after load + predict: {rss_mb():.0f} MB")
    print(f"thresholds: { {k: round(v, 3) for k, v in model.thresholds.items()} }")


if __name__ == "__main__":
    main()
