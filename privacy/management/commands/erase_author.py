from django.core.management.base import BaseCommand, CommandError

from feedback.models import Source
from privacy.models import Erasure
from privacy.selectors import authors_matching
from privacy.services import ERASED_KINDS, author_erase


class Command(BaseCommand):
    help = (
        "Erase a person's posts on request: their items, cases, notes, case events, routing "
        "labels, webhook deliveries carrying them, and their author rows, in one transaction. "
        "Records that an erasure happened (counts and time, never the content)."
    )

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--author", type=int, metavar="ID", help="One author row, by id.")
        who.add_argument(
            "--handle",
            metavar="@HANDLE",
            help="Every author with this handle (with or without @, any case), on every "
            "source unless --source says.",
        )
        parser.add_argument("--source", metavar="SLUG", help="Only authors on this source.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be erased; change nothing."
        )

    def handle(self, *args, author=None, handle=None, source=None, dry_run=False, **options):
        if handle is not None and not handle.strip().lstrip("@"):
            raise CommandError("--handle is empty.")
        if source is not None and not Source.objects.filter(slug=source).exists():
            raise CommandError(f"No source {source!r}.")
        authors = list(authors_matching(author_id=author, handle=handle, source_slug=source))
        if not authors:
            named = f"#{author}" if author is not None else repr(handle)
            where = f" on source {source!r}" if source else ""
            raise CommandError(f"No author {named}{where}: nothing erased.")
        result = author_erase(
            author_ids=[a.pk for a in authors], via=Erasure.Via.COMMAND, dry_run=dry_run
        )
        verb = "Would erase" if dry_run else "Erased"
        self.stdout.write(f"{verb} {len(authors)} author(s):")
        for a in authors:
            self.stdout.write(f"  #{a.pk} {a.handle} on {a.source.slug}")
        width = max(len(label) for label in ERASED_KINDS.values())
        for kind, label in ERASED_KINDS.items():
            self.stdout.write(f"  {label:<{width}}  {result.counts[kind]}")
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Recorded as erasure #{result.erasure.pk}."))
