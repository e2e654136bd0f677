from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from routing.learning import classifier_retrain, labels_from_staff


class Command(BaseCommand):
    help = (
        "Retrain the classifier on the base data plus what staff decided (reroutes, shares, "
        "resolves, dismissals), and activate it only if it is not worse on held-out data."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--base",
            default=str(settings.CLASSIFIER_BASE_DATA),
            help="Labelled CSV the model starts from.",
        )
        parser.add_argument("--staff-weight", type=float, default=settings.CLASSIFIER_STAFF_WEIGHT)
        parser.add_argument(
            "--holdout",
            type=float,
            default=0.2,
            help="Share of base rows and staff labels held out for scoring.",
        )
        parser.add_argument(
            "--holdout-data", help="Also score on this labelled CSV (never trained on)."
        )
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--dry-run", action="store_true", help="Only count the staff labels.")

    def handle(self, *args, base, staff_weight, holdout, holdout_data, seed, dry_run, **options):
        if dry_run:
            labels = labels_from_staff()
            by_dept: dict[str, int] = {}
            for label in labels:
                by_dept[label.department] = by_dept.get(label.department, 0) + 1
            self.stdout.write(f"{len(labels)} staff labels: {by_dept}")
            return
        if not Path(base).exists():
            raise CommandError(f"Base data {base} not found (set CLASSIFIER_BASE_DATA).")
        if not 0 < holdout < 1:
            raise CommandError("--holdout is a fraction between 0 and 1.")
        try:
            result = classifier_retrain(
                base_data=Path(base), staff_weight=staff_weight, holdout=holdout, seed=seed
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"{result.staff_labels} staff labels + {result.base_rows} base rows "
            f"-> version {result.version}"
        )
        self.stdout.write(result.reason)
