import tempfile
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from routing.classification import classifier_activate, classifier_version_create
from routing.classifier import read_labelled_csv, train_model


class Command(BaseCommand):
    help = (
        "Train the department classifier on a labelled CSV (columns text,department and an "
        "optional source). Stores a new ClassifierVersion, or writes an artifact with --out."
    )

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True, help="CSV with text,department[,source].")
        parser.add_argument("--out", help="Write the artifact to this file instead of the DB.")
        parser.add_argument(
            "--activate", action="store_true", help="Make the new version the one workers use."
        )
        parser.add_argument("--notes", default="", help="Stored with the version.")
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, data, out, activate, notes, seed, **options):
        if out and activate:
            raise CommandError("--out writes a file; --activate needs the database. Pick one.")
        try:
            texts, labels, sources = read_labelled_csv(data)
        except (OSError, ValueError) as exc:
            raise CommandError(f"{data}: {exc}") from exc
        self.stderr.write(
            f"training on {len(texts)} rows from {data}{' (grouped by source)' if sources else ''}…"
        )
        started = time.perf_counter()
        model = train_model(texts, labels, groups=sources, seed=seed)
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
        self.stderr.write(
            "thresholds: " + ", ".join(f"{k} {v:.2f}" for k, v in model.thresholds.items())
        )
        if out:
            model.save(Path(out))
            self.stdout.write(f"wrote {out} ({Path(out).stat().st_size // 1024} KiB)")
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.npz"
            model.save(path)
            artifact = path.read_bytes()
        version = classifier_version_create(
            model=model, artifact=artifact, notes=notes or f"trained on {Path(data).name}"
        )
        if activate:
            classifier_activate(version=version)
        self.stdout.write(
            f"stored classifier version {version.version}{' (active)' if activate else ''}"
        )
