from django.core.management.base import BaseCommand, CommandError

from feedback.models import ApiKey, Source
from feedback.services import apikey_create


class Command(BaseCommand):
    help = "Create an API key for an integration; the key is printed once and never stored."

    def add_arguments(self, parser):
        parser.add_argument("--source", required=True, help="Source slug the key posts as.")
        parser.add_argument(
            "--scopes",
            default="ingest,read",
            help=(
                f"Comma-separated, from: {', '.join(ApiKey.Scope.values)}. `webhooks` lets "
                "the key manage its own webhook subscriptions (and only those)."
            ),
        )
        parser.add_argument("--name", default="", help="A label for the key (default: source).")
        parser.add_argument(
            "--kind",
            choices=Source.Kind.values,
            default=None,
            help="Create the source with this kind if it does not exist.",
        )

    def handle(self, *args, source, scopes, name, kind, **options):
        try:
            src = Source.objects.get(slug=source)
        except Source.DoesNotExist:
            if kind is None:
                known = ", ".join(Source.objects.values_list("slug", flat=True)) or "none yet"
                raise CommandError(
                    f"Unknown source '{source}' (known: {known}). Pass --kind KIND to create it."
                ) from None
            src = Source.objects.create(
                slug=source, name=source.replace("-", " ").title(), kind=kind
            )
            self.stderr.write(f"Created source '{source}' ({kind}).")
        scope_list = [s.strip() for s in scopes.split(",") if s.strip()]
        try:
            key, raw = apikey_create(
                name=name or f"{src.slug} integration", source=src, scopes=scope_list
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(
            f"API key {key.prefix}… for source '{src.slug}', scopes "
            f"{', '.join(key.scopes)}. Store it now: it is not shown again."
        )
        self.stdout.write(raw)
