"""Choose the correction memory's settings on the training files (never validation.csv).

What a new organisation sees is the model on text from sources it never trained on, so
the model is trained with one source held out at a time and its held-out probabilities
stand for a new customer's traffic. An "organisation" is a mixture of training sources
(up to 1,400 rows from 4-6 sources, several departments): 300 of its rows become staff
corrections in the memory, the rest are scored before and after. Each setting of the
grid is averaged over many such organisations; the one printed first is the setting with
the best macro-F1 among those that do not lower auto-route precision (ties: coverage).

A second table (`--thresholds`, or alone with `--thresholds-only`) compares the
organisation thresholds (memory.organisation_thresholds) at the shipped memory settings,
without the organisation head: judged on the model's own scores of the labelled posts, or
on the scores routing compares with (the memory's, each labelled post left out), for
several Wilson z and minimum counts. The one printed first has the highest coverage
among those whose precision is not below the memory alone. A third compares the
organisation head's share of the score and its regularisation (memory.OrganisationHead),
a fourth, with the head, how the thresholds' precision is counted and the Wilson z.
`--leads` runs only the study of the organisation leads (memory.organisation_leads):
off, or on with several floors and Wilson z, with the head and the shipped thresholds.

    .venv/bin/python bench/memory_params.py [--cache bench/out/memory_oof.npz] \
        [--thresholds | --thresholds-only | --leads]

Pure Python (no database); the first run trains the model (~10 minutes) and caches the
held-out probabilities and text vectors.
"""

from __future__ import annotations

import argparse
import itertools
import pathlib
import random
import sys
import time
from dataclasses import replace

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from routing.classifier import (  # noqa: E402
    LABELS,
    DepartmentModel,
    read_labelled_csv,
    train_model,
)
from routing.classifier.curation import curated_weights  # noqa: E402
from routing.classifier.embeddings import WordVectors  # noqa: E402
from routing.classifier.evaluation import evaluate_proba  # noqa: E402
from routing.classifier.training import TARGET_PRECISION  # noqa: E402
from routing.memory import (  # noqa: E402
    CorrectionMemory,
    Keys,
    MemorySettings,
    keys_of,
    memory_fit,
)

DATA = ROOT.parent / "shared" / "datasets"
FILES = ("train_provenance.csv", "train_extra_provenance.csv")


def load_or_train(cache: pathlib.Path):
    """(labels, sources, held-out probabilities, memory keys, thresholds) of the training
    rows. The probabilities come from `make model` (bench/out/memory_oof.npz) or a
    training run here; the keys are computed with the shipped model, as workers do."""
    texts, labels, sources = [], [], []
    for name in FILES:
        t, lab, s = read_labelled_csv(DATA / name)
        texts, labels, sources = texts + t, labels + lab, sources + s
    if cache.exists():
        with np.load(cache, allow_pickle=False) as archive:
            proba = archive["proba"]
            thresholds = {k: float(v) for k, v in zip(LABELS, archive["thresholds"], strict=True)}
    else:
        vectors = WordVectors.load(ROOT / "routing" / "artifacts" / "word_vectors.npz")
        started = time.perf_counter()
        trained = train_model(
            texts,
            labels,
            groups=sources,
            sample_weight=curated_weights(sources, labels),
            word_vectors=vectors,
        )
        print(f"trained in {time.perf_counter() - started:.0f} s", flush=True)
        proba, thresholds = trained.held_out_proba, trained.thresholds
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            cache,
            proba=proba,
            vectors=trained.embed(texts),
            thresholds=np.array([thresholds[k] for k in LABELS]),
        )
    model = DepartmentModel.load(ROOT / "routing" / "artifacts" / "default.npz")
    keys = Keys.stack(
        [
            keys_of(model, model.score_batch(texts[start : start + 1000]))
            for start in range(0, len(texts), 1000)
        ]
    )
    return labels, sources, proba, keys, thresholds


def organisations(sources: list[str], n: int, seed: int) -> list[np.ndarray]:
    rng = random.Random(seed)
    names = sorted(set(sources))
    by_source = {s: [i for i, x in enumerate(sources) if x == s] for s in names}
    orgs = []
    for _ in range(n):
        picked = rng.sample(names, rng.randint(4, 6))
        rows = [i for s in picked for i in by_source[s]]
        rng.shuffle(rows)
        orgs.append(np.array(rows[:1400]))
    return orgs


def simulate(
    org,
    labels,
    proba,
    vectors,
    thresholds,
    settings,
    seed,
    corrections=300,
    organisation=False,
):
    """(before, after) evaluation dicts of one organisation; with `organisation`, the
    thresholds after are lowered by its labels as memory_build does."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(org)
    taken, rest = order[:corrections], order[corrections:]
    memory = CorrectionMemory(settings)
    memory_labels = []
    for i in taken:
        truth = labels[i]
        top = LABELS[int(np.argmax(proba[i]))]
        # As routing.labels writes them: agreeing with the model's first label is a
        # confirmation (0.5), anything else a correction (1.0).
        entry = {truth: 0.5 if top == truth else 1.0}
        if top != truth and proba[i].max() >= thresholds[top]:
            entry[top] = -1.0  # routed wrong: rerouted away
        memory_labels.append(entry)
    memory.replace([int(i) for i in taken], vectors.rows(taken), memory_labels)
    after_thresholds = dict(thresholds)
    if organisation:
        lowered = memory_fit(memory, LABELS, proba[taken], thresholds)
        for label, value in lowered.items():
            after_thresholds[label] = min(after_thresholds[label], value)
    scores = [dict(zip(LABELS, map(float, proba[i]), strict=True)) for i in rest]
    effects = memory.apply(vectors.rows(rest), scores, after_thresholds)
    after = np.array([[e.scores.get(k, 0.0) for k in LABELS] for e in effects])
    truth = [labels[i] for i in rest]
    return (
        evaluate_proba(proba[rest], truth, LABELS, thresholds),
        evaluate_proba(after, truth, LABELS, after_thresholds),
    )


METRICS = ("macro_f1", "auto_route_precision", "coverage")


def averaged(orgs, labels, proba, vectors, thresholds, settings, organisation=False):
    data = (labels, proba, vectors, thresholds, settings)
    results = [
        simulate(org, *data, seed=n, organisation=organisation) for n, org in enumerate(orgs)
    ]
    before = {m: float(np.mean([b[m] for b, _ in results])) for m in METRICS}
    after = {m: float(np.mean([a[m] for _, a in results])) for m in METRICS}
    return before, after


def threshold_study(orgs, labels, proba, vectors, thresholds) -> None:
    """Organisation thresholds at the shipped memory settings."""
    data = (labels, proba, vectors, thresholds)
    # As this study was run (2026-12-02): precision counted over the band, no head.
    shipped = replace(MemorySettings(), head_weight=0.0, threshold_band="band")
    before, alone = averaged(orgs, *data, shipped)
    variants = [
        replace(shipped, threshold_scores=scores, threshold_z=z, threshold_min_labelled=least)
        for scores, z, least in itertools.product(
            ("model", "memory"), (0.5, 1.0, 1.5, 2.0), (5, 10, 20)
        )
    ]
    _study(
        orgs,
        data,
        variants,
        alone,
        f"organisation thresholds, {len(orgs)} organisations, 300 corrections each: before "
        f"{_figures(before)}; memory alone (shipped thresholds) {_figures(alone)}",
        rank=lambda after: after["coverage"],
        columns=(("scores", 8, "threshold_scores"), ("z", 5, "threshold_z")),
        extra=("min", 5, "threshold_min_labelled"),
        below="the memory alone",
    )


def head_study(orgs, labels, proba, vectors, thresholds) -> None:
    """The organisation head at the shipped memory and threshold settings: its share of
    the score and its regularisation. First printed: the best macro-F1 among settings
    whose precision is not below the memory without a head (ties: coverage)."""
    data = (labels, proba, vectors, thresholds)
    # As this study was run: thresholds counted over the band, z 1 (counting_study next).
    shipped = replace(MemorySettings(), threshold_band="band", threshold_z=1.0)
    _, without = averaged(orgs, *data, replace(shipped, head_weight=0.0), True)
    variants = [
        replace(shipped, head_weight=weight, head_c=c)
        for weight, c in itertools.product((0.5, 0.7, 0.85), (10.0, 30.0, 100.0, 300.0))
    ]
    _study(
        orgs,
        data,
        variants,
        without,
        f"organisation head, {len(orgs)} organisations, 300 corrections each: without it "
        f"(organisation thresholds on the memory's scores) {_figures(without)}",
        rank=lambda after: (after["macro_f1"], after["coverage"]),
        columns=(("weight", 8, "head_weight"),),
        extra=("C", 7, "head_c"),
        below="without the head",
    )


def counting_study(orgs, labels, proba, vectors, thresholds) -> None:
    """With the head: which labelled posts the thresholds' precision counts (the band below
    the shipped threshold, or all at or above the new one) and the Wilson z. First
    printed: the highest coverage whose precision stays at the 0.90 target."""
    data = (labels, proba, vectors, thresholds)
    variants = [
        replace(MemorySettings(), threshold_band=band, threshold_z=z)
        for band, z in itertools.product(("band", "all"), (1.0, 0.5))
    ]
    _study(
        orgs,
        data,
        variants,
        {"auto_route_precision": TARGET_PRECISION},
        f"organisation thresholds with the head, {len(orgs)} organisations, 300 corrections",
        rank=lambda after: after["coverage"],
        columns=(("counted", 8, "threshold_band"),),
        extra=("z", 5, "threshold_z"),
        below=f"the {TARGET_PRECISION:.2f} target",
    )


def lead_study(orgs, labels, proba, vectors, thresholds) -> None:
    """With the head and the shipped thresholds: the lead rule (memory.organisation_leads)
    off, or on with several floors and Wilson z. First printed: the highest coverage
    whose precision stays at the 0.90 target."""
    data = (labels, proba, vectors, thresholds)
    variants = [replace(MemorySettings(), lead_rule=False)] + [
        replace(MemorySettings(), lead_floor=floor, lead_z=z)
        for floor, z in itertools.product((0.1, 0.2, 0.3), (0.0, 0.5, 1.0))
    ]
    _study(
        orgs,
        data,
        variants,
        {"auto_route_precision": TARGET_PRECISION},
        f"organisation leads, {len(orgs)} organisations, 300 corrections",
        rank=lambda after: after["coverage"],
        columns=(("leads", 7, "lead_rule"), ("floor", 7, "lead_floor")),
        extra=("z", 5, "lead_z"),
        below=f"the {TARGET_PRECISION:.2f} target",
    )


def _study(orgs, data, variants, reference, title, **table) -> None:
    """Average each variant of the settings over the organisations (with organisation
    thresholds) and print the table."""
    rows = [(settings, averaged(orgs, *data, settings, True)[1]) for settings in variants]
    print("\n" + title)
    _ranked(rows, reference, **table)


def _ranked(rows, reference, *, rank, columns, extra, below) -> None:
    """Print (settings, figures) rows: those whose precision is not below `reference`
    first, each group best first by `rank`; `columns` name the settings shown."""
    floor = reference["auto_route_precision"]
    ok = sorted(
        (r for r in rows if r[1]["auto_route_precision"] >= floor),
        key=lambda r: rank(r[1]),
        reverse=True,
    )
    rest = sorted(
        (r for r in rows if r[1]["auto_route_precision"] < floor),
        key=lambda r: rank(r[1]),
        reverse=True,
    )
    shown = (*columns, extra)
    print(
        "".join(f"{name:>{width}}" for name, width, _ in shown) + f"{'F1':>7}{'prec':>7}{'cov':>7}"
    )
    for entry in [*ok, None, *rest]:
        if entry is None:
            print(f"  -- below: precision lower than {below} --")
            continue
        settings, after = entry
        print(
            "".join(f"{getattr(settings, field)!s:>{width}}" for _, width, field in shown)
            + f"{after['macro_f1']:>7.3f}{after['auto_route_precision']:>7.3f}"
            f"{after['coverage']:>7.3f}"
        )


def _figures(row: dict) -> str:
    return (
        f"F1 {row['macro_f1']:.3f}, precision {row['auto_route_precision']:.3f}, "
        f"coverage {row['coverage']:.3f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", default=str(ROOT / "bench" / "out" / "memory_oof.npz"))
    parser.add_argument("--organisations", type=int, default=24)
    parser.add_argument("--thresholds", action="store_true", help="Add the threshold study.")
    parser.add_argument("--thresholds-only", action="store_true", help="Only that study.")
    parser.add_argument("--leads", action="store_true", help="Only the lead rule's study.")
    args = parser.parse_args()
    labels, sources, proba, vectors, thresholds = load_or_train(pathlib.Path(args.cache))
    orgs = organisations(sources, args.organisations, seed=7)
    if args.leads:
        lead_study(orgs, labels, proba, vectors, thresholds)
        return 0
    if args.thresholds_only:
        threshold_study(orgs, labels, proba, vectors, thresholds)
        head_study(orgs, labels, proba, vectors, thresholds)
        counting_study(orgs, labels, proba, vectors, thresholds)
        return 0
    grid = list(
        itertools.product(
            (0.1, 0.2, 0.3, 0.4, 0.6, 0.8),  # min_similarity
            (0.9,),  # max_strength
            (5,),  # neighbours
            (0.5,),  # implicit_negative
            (0.5,),  # decisive_vote
            (0.0, 0.3, 0.5),  # lexical_share
        )
    )
    rows = []
    base = None
    for min_sim, strength, k, implicit, decisive, lexical in grid:
        settings = MemorySettings(
            lexical_share=lexical,
            neighbours=k,
            min_similarity=min_sim,
            max_strength=strength,
            implicit_negative=implicit,
            decisive_vote=decisive,
        )
        results = [
            simulate(org, labels, proba, vectors, thresholds, settings, seed=n)
            for n, org in enumerate(orgs)
        ]
        before = {
            m: np.mean([b[m] for b, _ in results])
            for m in ("macro_f1", "auto_route_precision", "coverage")
        }
        after = {
            m: np.mean([a[m] for _, a in results])
            for m in ("macro_f1", "auto_route_precision", "coverage")
        }
        base = before
        rows.append((settings, after))
    # The best macro-F1 among settings that do not lower auto-route precision.
    ok = [r for r in rows if r[1]["auto_route_precision"] >= base["auto_route_precision"]]
    ok = ok or rows
    ok.sort(key=lambda r: (r[1]["macro_f1"], r[1]["coverage"]), reverse=True)
    print(
        f"before (no memory): macro-F1 {base['macro_f1']:.3f}, precision "
        f"{base['auto_route_precision']:.3f}, coverage {base['coverage']:.3f} "
        f"({len(orgs)} organisations, 300 corrections each)"
    )
    print(
        f"{'lexical':>8}{'min_sim':>8}{'strength':>9}{'k':>4}{'implicit':>9}{'decisive':>9}"
        f"{'F1':>7}{'prec':>7}{'cov':>7}"
    )
    for settings, after in ok[:12]:
        print(
            f"{settings.lexical_share:>8}{settings.min_similarity:>8}"
            f"{settings.max_strength:>9}{settings.neighbours:>4}"
            f"{settings.implicit_negative:>9}{settings.decisive_vote:>9}"
            f"{after['macro_f1']:>7.3f}"
            f"{after['auto_route_precision']:>7.3f}{after['coverage']:>7.3f}"
        )
    if args.thresholds:
        threshold_study(orgs, labels, proba, vectors, thresholds)
        head_study(orgs, labels, proba, vectors, thresholds)
        counting_study(orgs, labels, proba, vectors, thresholds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
