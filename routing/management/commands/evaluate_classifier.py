import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from routing.classification import classifier_active, model_from_bytes
from routing.classifier import DepartmentModel, evaluate_model, read_labelled_csv
from routing.models import ClassifierVersion


class Command(BaseCommand):
    help = (
        "Measure a classifier on a labelled CSV (text,department): per-department precision, "
        "recall and F1, macro-F1, the confusion matrix, and auto-route precision and coverage "
        "at the model's thresholds. Uses the active version unless told otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True)
        parser.add_argument(
            "--json", action="store_true", help="End with one line of JSON holding every figure."
        )
        parser.add_argument(
            "--cascade",
            action="store_true",
            default=None,
            help="Score as routing does with ROUTING_CASCADE on (default: the setting).",
        )
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--model-version", help="A stored ClassifierVersion's version.")
        source.add_argument("--model", help="An artifact file (.npz) instead of the database.")

    def handle(self, *args, data, json: bool, model_version, model, cascade, **options):
        from django.conf import settings

        cascade = settings.ROUTING_CASCADE if cascade is None else cascade
        version = model_version
        try:
            texts, labels, _ = read_labelled_csv(data)
        except (OSError, ValueError) as exc:
            raise CommandError(f"{data}: {exc}") from exc
        if model:
            try:
                classifier = DepartmentModel.load(Path(model))
            except (OSError, ValueError) as exc:
                raise CommandError(f"{model}: {exc}") from exc
            name = Path(model).name
        elif version:
            row = ClassifierVersion.objects.filter(version=version).first()
            if row is None:
                raise CommandError(f"No classifier version {version!r}.")
            classifier, name = model_from_bytes(row.artifact), row.version
        else:
            active = classifier_active()
            classifier, name = active.model, active.version
        report = evaluate_model(classifier, texts, labels, cascade=cascade)
        report["model_version"] = name
        self._print(report)
        if json:
            self.stdout.write(_json_line(report))

    def _print(self, report: dict) -> None:
        out = self.stdout.write
        out(f"classifier {report['model_version']} on {report['n']} rows")
        out(f"{'department':<12}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
        for label, row in report["per_department"].items():
            out(
                f"{label:<12}{row['precision']:>10.3f}{row['recall']:>10.3f}"
                f"{row['f1']:>10.3f}{row['support']:>10}"
            )
        out(f"macro-F1 {report['macro_f1']:.3f}")
        out(
            f"auto-route precision {report['auto_route_precision']:.3f} "
            f"at coverage {report['coverage']:.3f} (the rest goes to the triage inbox)"
        )
        labels = report["confusion"]["labels"]
        out("confusion matrix (rows: true, columns: predicted)")
        out(" " * 12 + "".join(f"{label[:9]:>10}" for label in labels))
        for label, row in zip(labels, report["confusion"]["matrix"], strict=True):
            out(f"{label:<12}" + "".join(f"{v:>10}" for v in row))


def _json_line(report: dict) -> str:
    return json.dumps(report, separators=(",", ":"), default=float)
