import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from routing.classification import classifier_activate, classifier_version_create
from routing.classifier import TrainParams, read_labelled_csv, train_model
from routing.classifier.curation import SOURCE_LABEL_NOISE, curated_weights
from routing.classifier.embeddings import WordVectors
from routing.classifier.normalize import normalize_text
from routing.classifier.sentiment import fit_sentiment, sentiment_rows

DEFAULT_WORD_VECTORS = Path(settings.BASE_DIR) / "routing" / "artifacts" / "word_vectors.npz"


class Command(BaseCommand):
    help = (
        "Train the department classifier on a labelled CSV (columns text,department and an "
        "optional source). Stores a new ClassifierVersion, or writes an artifact with --out."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--data",
            required=True,
            action="append",
            help="CSV with text,department[,source]; repeat to train on several files.",
        )
        parser.add_argument(
            "--word-vectors",
            default=str(DEFAULT_WORD_VECTORS),
            help="Word-vector table (scripts/build_word_vectors.py); 'none' trains without.",
        )
        parser.add_argument("--out", help="Write the artifact to this file instead of the DB.")
        parser.add_argument(
            "--activate", action="store_true", help="Make the new version the one workers use."
        )
        parser.add_argument("--notes", default="", help="Stored with the version.")
        parser.add_argument(
            "--multilingual-rows",
            type=int,
            default=4500,
            help="Rows (balanced by department and source) the multilingual head is trained "
            "on; 0 skips it.",
        )
        parser.add_argument(
            "--save-held-out",
            help="Also write the training rows' held-out probabilities and text vectors "
            "here (.npz), for bench/memory_params.py.",
        )
        parser.add_argument(
            "--no-sentiment",
            action="store_true",
            help="Skip the sentiment head (it is trained when the files carry source_label).",
        )
        parser.add_argument(
            "--thresholds-on-parts",
            action="store_true",
            help="Choose the thresholds on held-out scores taken with each post's sentences, "
            "as routing scores (TrainParams.thresholds_on_parts; off for the shipped model).",
        )
        parser.add_argument("--seed", type=int, default=42)

    def handle(
        self,
        *args,
        data,
        out,
        activate,
        notes,
        seed,
        word_vectors,
        no_sentiment,
        multilingual_rows,
        save_held_out,
        thresholds_on_parts,
        **options,
    ):
        if out and activate:
            raise CommandError("--out writes a file; --activate needs the database. Pick one.")
        texts, labels, sources = _read_all(data)
        vectors = None
        if word_vectors != "none":
            try:
                vectors = WordVectors.load(word_vectors)
            except (OSError, ValueError, KeyError) as exc:
                raise CommandError(f"{word_vectors}: {exc}") from exc
        self.stderr.write(
            f"training on {len(texts)} rows from {', '.join(data)}"
            f"{' (grouped by source)' if sources else ''}"
            f"{f', {len(vectors.words)} word vectors' if vectors else ''}…"
        )
        started = time.perf_counter()
        model = train_model(
            texts,
            labels,
            groups=sources,
            seed=seed,
            sample_weight=curated_weights(sources, labels) if sources else None,
            word_vectors=vectors,
            label_noise=SOURCE_LABEL_NOISE if sources else None,
            params=TrainParams(thresholds_on_parts=thresholds_on_parts),
        )
        self.stderr.write(
            f"trained in {time.perf_counter() - started:.1f} s; version {model.version}"
        )
        held_out = model.metrics.get("held_out")
        if held_out:
            self.stderr.write(
                f"held-out ({model.metrics.get('validation')}): macro-F1 "
                f"{held_out['macro_f1']:.3f}, auto-route precision "
                f"{held_out['auto_route_precision']:.3f} at coverage {held_out['coverage']:.3f}"
            )
            self.stderr.write(f"held-out per department: {_per_department(held_out)}")
        self.stderr.write(
            "thresholds: " + ", ".join(f"{k} {v:.2f}" for k, v in model.thresholds.items())
        )
        if save_held_out and model.held_out_proba is not None:
            import numpy as np

            np.savez(
                save_held_out,
                proba=model.held_out_proba,
                vectors=model.embed(texts),
                thresholds=np.array([model.thresholds[k] for k in model.labels]),
            )
        if not no_sentiment:
            self._sentiment(model, data, seed)
        if multilingual_rows and sources:
            self._multilingual(model, texts, labels, sources, multilingual_rows, seed)
        if out:
            model.save(Path(out))
            self.stdout.write(f"wrote {out} ({Path(out).stat().st_size // 1024} KiB)")
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.npz"
            model.save(path)
            artifact = path.read_bytes()
        version = classifier_version_create(
            model=model,
            artifact=artifact,
            notes=notes or "trained on " + ", ".join(Path(d).name for d in data),
        )
        if activate:
            classifier_activate(version=version)
        self.stdout.write(
            f"stored classifier version {version.version}{' (active)' if activate else ''}"
        )

    def _sentiment(self, model, data: list[str], seed: int) -> None:
        texts, labels, sources = sentiment_rows(data)
        if len(set(sources)) < 2 or len(set(labels)) < 2:
            self.stderr.write("no sentiment labels in the data: VADER stays in use")
            return
        head = fit_sentiment(
            lambda rows: model.featurize([normalize_text(t) for t in rows])[0],
            texts,
            labels,
            sources,
            seed=seed,
        )
        slope, offset = head["calibration"]
        model.set_sentiment(head["coef"], [head["intercept"], slope, offset])
        model.metrics = {**model.metrics, "sentiment": head["metrics"]}
        m = head["metrics"]
        self.stderr.write(
            f"sentiment head on {m['rows']} rows ({m['validation']}): macro-F1 "
            f"{m['head_macro_f1']:.3f}, VADER {m['vader_macro_f1']:.3f}"
        )

    def _multilingual(self, model, texts, labels, sources, rows: int, seed: int) -> None:
        from routing.classifier import multilingual

        picked = multilingual.balanced_sample(labels, sources, rows, seed)
        started = time.perf_counter()
        vectors = multilingual.encode([texts[i] for i in picked])
        head = multilingual.fit_head(
            vectors,
            [labels[i] for i in picked],
            [sources[i] for i in picked],
            model.labels,
        )
        model.set_multilingual(head)
        self.stderr.write(
            f"multilingual head on {len(picked)} rows in {time.perf_counter() - started:.0f} s; "
            "thresholds: " + ", ".join(f"{k} {v:.2f}" for k, v in head["thresholds"].items())
        )


def _per_department(metrics: dict) -> str:
    return ", ".join(f"{k} {v['f1']:.3f}" for k, v in metrics["per_department"].items())


def _read_all(paths: list[str]) -> tuple[list[str], list[str], list[str] | None]:
    """Concatenate labelled files; sources are kept only if every file names them."""
    texts: list[str] = []
    labels: list[str] = []
    sources: list[str] | None = []
    for path in paths:
        try:
            file_texts, file_labels, file_sources = read_labelled_csv(path)
        except (OSError, ValueError) as exc:
            raise CommandError(f"{path}: {exc}") from exc
        texts += file_texts
        labels += file_labels
        if sources is not None and file_sources is not None:
            sources += file_sources
        else:
            sources = None
    return texts, labels, sources
