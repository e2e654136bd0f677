from django.core.management.base import BaseCommand, CommandError

from routing.learning import classifier_retrain, labels_from_staff


class Command(BaseCommand):
    help = (
        "Fit the organisation's layer on top of the shipped model from what staff decided "
        "(routes from triage, reroutes, shares, dismissals, resolves) and activate it only if "
        "it is not worse on the newest labels, which no version has trained on."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--holdout",
            type=float,
            default=0.2,
            help="Share of the labels given since the active version that is held out.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Only count the staff labels.")

    def handle(self, *args, holdout, dry_run, **options):
        if dry_run:
            labels = labels_from_staff()
            by_dept: dict[str, int] = {}
            for label in labels:
                key = f"{'' if label.positive else 'not '}{label.department}"
                by_dept[key] = by_dept.get(key, 0) + 1
            self.stdout.write(f"{len(labels)} staff labels: {by_dept}")
            return
        if not 0 < holdout < 1:
            raise CommandError("--holdout is a fraction between 0 and 1.")
        result = classifier_retrain(holdout=holdout)
        if result.version:
            self.stdout.write(f"{result.staff_labels} labelled posts -> version {result.version}")
        self.stdout.write(result.reason)
