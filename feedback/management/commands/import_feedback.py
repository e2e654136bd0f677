"""manage.py import_feedback FILE --format csv|jsonl --source SLUG [--backfill]

Streams the file into the feedback store in chunks of 500 lines (see
feedback.connectors.importer and docs/connectors.md). Safe to re-run: posts already stored
are counted as duplicates and left unchanged.
"""

import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from feedback.connectors.importer import (
    CHUNK_SIZE,
    CSV_COLUMNS,
    FORMATS,
    ImportFileError,
    ImportSummary,
    Rejection,
    feedback_import,
)
from feedback.models import Source

_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class Command(BaseCommand):
    help = (
        "Import posts from a CSV or JSONL file (one post per line) into a source. Rejected "
        "lines are reported as 'line N: field: message'; re-running is safe. CSV columns: "
        + ", ".join(CSV_COLUMNS)
        + " (and raw.<name>)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to the .csv or .jsonl file.")
        parser.add_argument(
            "--format",
            choices=FORMATS,
            default=None,
            help="File format (default: from the extension: .csv, .jsonl or .ndjson).",
        )
        parser.add_argument("--source", required=True, help="Slug of the source to import into.")
        parser.add_argument(
            "--backfill",
            action="store_true",
            help="Historical data: no SLA clocks, no notifications (routing still runs).",
        )
        parser.add_argument(
            "--strict",
            action="store_true",
            help="Exit with an error if any line was rejected (the good lines stay imported).",
        )
        progress = parser.add_mutually_exclusive_group()
        progress.add_argument(
            "--no-progress", action="store_true", help="Never show the progress bar."
        )
        progress.add_argument(
            "--progress",
            action="store_true",
            help="Show the progress bar even when stderr is not a terminal.",
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=CHUNK_SIZE,
            help=f"Lines per transaction (default {CHUNK_SIZE}).",
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        backfill, chunk_size = options["backfill"], options["chunk_size"]
        if not path.exists():
            raise CommandError(f"No such file: {path}")
        if not path.is_file():
            raise CommandError(f"Not a file: {path}")
        fmt = options["format"] or _EXTENSIONS.get(path.suffix.lower())
        if fmt is None:
            raise CommandError(
                f"Cannot tell the format of '{path.name}' from its extension; "
                f"pass --format {' or --format '.join(FORMATS)}."
            )
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1.")
        source = self._source(options["source"])

        # tqdm needs the raw stream: Django's wrapper would append a newline to every redraw.
        stderr = getattr(self.stderr, "_out", sys.stderr)
        bar = tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"Importing {path.name}",
            file=stderr,
            # None: shown only when stderr is a terminal.
            disable=True if options["no_progress"] else (False if options["progress"] else None),
            dynamic_ncols=True,
        )
        csv_columns = fmt == "csv"

        def report(summary: ImportSummary, rejections: list[Rejection]) -> None:
            if rejections:
                bar.clear()
                for rejection in rejections:
                    for line in rejection.messages(csv_columns=csv_columns):
                        self.stdout.write(line)
                self.stdout.flush()
            bar.update(summary.bytes_read - bar.n)
            # Strings, or tqdm shows 20000 as "2e+4".
            bar.set_postfix(
                lines=f"{summary.lines:,}", rejected=f"{summary.rejected:,}", refresh=False
            )

        started = time.perf_counter()
        try:
            with path.open("rb") as stream:
                summary = feedback_import(
                    stream=stream,
                    fmt=fmt,
                    source=source,
                    backfill=backfill,
                    chunk_size=chunk_size,
                    on_chunk=report,
                )
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        finally:
            bar.close()
        elapsed = time.perf_counter() - started

        rate = summary.lines / elapsed if elapsed > 0 else 0.0
        self.stdout.write(
            f"{summary.lines} lines in {elapsed:.1f} s ({rate:,.0f} lines/s): "
            f"{summary.created} created, {summary.duplicate} duplicate, "
            f"{summary.rejected} rejected" + (" (backfill)." if backfill else ".")
        )
        if summary.rejected:
            message = (
                f"{summary.rejected} line(s) were rejected (listed above); the others were "
                "imported. Fix those lines and run the command again: lines already stored "
                "are skipped as duplicates."
            )
            if options["strict"]:
                raise CommandError(message + " (--strict)")
            self.stderr.write(self.style.WARNING(message))

    def _source(self, slug: str) -> Source:
        try:
            source = Source.objects.get(slug=slug)
        except Source.DoesNotExist:
            known = ", ".join(Source.objects.order_by("slug").values_list("slug", flat=True))
            raise CommandError(
                f"Unknown source '{slug}'. Known sources: {known or 'none yet'}."
            ) from None
        if not source.active:
            raise CommandError(f"Source '{slug}' is disabled; enable it in the admin first.")
        return source
