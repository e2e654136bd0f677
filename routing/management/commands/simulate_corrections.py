import json

from django.core.management.base import BaseCommand, CommandError

from routing.classifier import read_labelled_csv
from routing.simulation import simulate_corrections


class Command(BaseCommand):
    help = (
        "Measure the learning loop: take N random rows of a labelled CSV (text,department"
        "[,source]) as staff decisions made through the case services, then score the rest "
        "before and after (macro-F1, auto-route precision, coverage). Runs in a transaction "
        "that is rolled back: no real case changes and nothing is sent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--data", required=True)
        parser.add_argument("--source", help="Only rows of this source (one organisation).")
        parser.add_argument("--corrections", type=int, default=300)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--json", action="store_true", help="End with one JSON line.")

    def handle(self, *args, data, source, corrections, seed, json: bool, **options):
        try:
            texts, labels, sources = read_labelled_csv(data)
        except (OSError, ValueError) as exc:
            raise CommandError(f"{data}: {exc}") from exc
        if source:
            if sources is None:
                raise CommandError(f"{data}: --source needs a 'source' column")
            keep = [i for i, s in enumerate(sources) if s == source]
            if not keep:
                raise CommandError(f"{data}: no rows of source {source!r}")
            texts = [texts[i] for i in keep]
            labels = [labels[i] for i in keep]
        try:
            result = simulate_corrections(texts, labels, corrections=corrections, seed=seed)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        out = self.stdout.write
        out(
            f"{result.corrections} corrections ({_actions(result.actions)}), "
            f"evaluated on {result.evaluated} other rows"
        )
        out(f"{'':8}{'macro-F1':>10}{'precision':>11}{'coverage':>10}")
        for name in ("before", "after"):
            row = getattr(result, name)
            out(
                f"{name:<8}{row['macro_f1']:>10.3f}{row['auto_route_precision']:>11.3f}"
                f"{row['coverage']:>10.3f}"
            )
        out(
            "thresholds after: "
            + ", ".join(f"{k} {v:.2f}" for k, v in result.after["thresholds"].items())
        )
        leads = result.after["leads"]
        out(
            "leads after: "
            + (", ".join(f"{k} {v:.2f}" for k, v in leads.items()) if leads else "none")
        )
        if json:
            payload = {
                "before": result.before,
                "after": result.after,
                "corrections": result.corrections,
                "evaluated": result.evaluated,
                "actions": result.actions,
                "source": source,
            }
            self.stdout.write(_dumps(payload))


def _actions(actions: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(actions.items()))


def _dumps(payload: dict) -> str:
    return json.dumps(payload, sort_keys=True)
