"""Importing posts from a CSV or JSONL file, streamed and stored in chunks.

The file is read line by line (never whole), turned into ingest payloads, and stored through
`feedback_ingest` in chunks of `CHUNK_SIZE` lines, so memory stays flat whatever the file's
size and a re-run is harmless: every post already stored comes back as a duplicate.

CSV columns (a header row is required; only `external_id` and `body` must be present):

    external_id, body, author_handle, author_name, author_followers, url, posted_at,
    language, in_reply_to

plus any number of `raw.<name>` columns, stored in the post's `raw` object under <name>.
"""

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from feedback.models import Source
from feedback.services import feedback_ingest

CHUNK_SIZE = 500
FORMATS = ("csv", "jsonl")
CSV_COLUMNS = (
    "external_id",
    "body",
    "author_handle",
    "author_name",
    "author_followers",
    "url",
    "posted_at",
    "language",
    "in_reply_to",
)
CSV_REQUIRED = ("external_id", "body")
RAW_PREFIX = "raw."
_AUTHOR_COLUMNS = {
    "handle": "author_handle",
    "name": "author_name",
    "followers": "author_followers",
}
_BOM = b"\xef\xbb\xbf"


class ImportFileError(Exception):
    """The file cannot be imported at all (a bad CSV header, for example)."""


@dataclass
class Rejection:
    line: int
    errors: dict  # field -> [messages], as feedback_ingest reports them

    def messages(self, *, csv_columns: bool = False) -> list[str]:
        """`line N: field: message` lines, nested author errors flattened (`author.handle`,
        or the CSV column `author_handle` for CSV files)."""
        out = []
        for name, messages in _flatten(self.errors):
            if csv_columns and name.startswith("author."):
                name = _AUTHOR_COLUMNS.get(name.removeprefix("author."), name)
            for message in messages:
                out.append(
                    f"line {self.line}: {message}"
                    if name == "non_field_errors"
                    else f"line {self.line}: {name}: {message}"
                )
        return out


@dataclass
class ImportSummary:
    lines: int = 0  # data lines read (blank lines and the CSV header not counted)
    created: int = 0
    duplicate: int = 0
    rejected: int = 0
    bytes_read: int = 0


@dataclass
class _Line:
    number: int
    payload: Any = None
    errors: dict | None = None


class _ByteCounter:
    """Iterates the binary lines of a file, counting bytes for the progress bar."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        first = True
        for line in self.stream:
            self.bytes += len(line)
            if first and line.startswith(_BOM):  # Excel and friends start UTF-8 with a BOM
                line = line[len(_BOM) :]
            first = False
            yield line


def _jsonl_lines(lines: _ByteCounter) -> Iterator[_Line]:
    for number, raw_line in enumerate(lines, start=1):
        if not raw_line.strip():
            continue
        try:
            text = raw_line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield _Line(number, errors={"encoding": [_decode_message(exc)]})
            continue
        try:
            yield _Line(number, payload=json.loads(text.rstrip("\r\n")))
        except json.JSONDecodeError as exc:
            yield _Line(number, errors={"json": [f"Invalid JSON: {exc.msg} column {exc.colno}."]})
        except RecursionError:
            yield _Line(number, errors={"json": ["Nested too deeply."]})


def _csv_lines(lines: _ByteCounter) -> Iterator[_Line]:
    state = {"line": 0, "bad": {}}

    def text_lines() -> Iterator[str]:
        # Decoded line by line (UTF-8 never splits a newline byte across characters), so a
        # bad byte spoils only its own record and the physical line number is known.
        for raw_line in lines:
            state["line"] += 1
            try:
                yield raw_line.decode("utf-8")
            except UnicodeDecodeError as exc:
                state["bad"][state["line"]] = _decode_message(exc)
                yield raw_line.decode("utf-8", errors="replace")

    reader = csv.reader(text_lines(), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise ImportFileError(f"The CSV header cannot be read: {exc}.") from exc
    header = [name.strip() for name in header]
    _check_header(header)

    last_line = state["line"]
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            first, last_line = last_line + 1, state["line"]
            yield _Line(first, errors={"csv": [f"{exc}."]})
            continue
        first, last_line = last_line + 1, state["line"]
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        bad = [state["bad"].pop(n) for n in range(first, last_line + 1) if n in state["bad"]]
        if bad:
            yield _Line(first, errors={"encoding": bad})
        elif len(row) != len(header):
            yield _Line(
                first,
                errors={"csv": [f"Expected {len(header)} columns, found {len(row)}."]},
            )
        else:
            yield _csv_payload(first, dict(zip(header, row, strict=True)))


def _check_header(header: list[str]) -> None:
    unknown = [
        name for name in header if name not in CSV_COLUMNS and not name.startswith(RAW_PREFIX)
    ]
    if unknown:
        raise ImportFileError(
            f"Unknown CSV column(s): {', '.join(unknown)}. Known columns: "
            f"{', '.join(CSV_COLUMNS)}, and raw.<name> for extra data."
        )
    missing = [name for name in CSV_REQUIRED if name not in header]
    if missing:
        raise ImportFileError(f"The CSV header lacks the column(s): {', '.join(missing)}.")
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise ImportFileError(f"Duplicate CSV column(s): {', '.join(duplicated)}.")


def _csv_payload(number: int, row: dict[str, str]) -> _Line:
    # Empty cells are absent values; the body is kept exactly as written (validation trims).
    payload: dict[str, Any] = {"external_id": row["external_id"], "body": row["body"]}
    for name in ("url", "posted_at", "language", "in_reply_to"):
        if row.get(name, "").strip():
            payload[name] = row[name].strip()
    handle = row.get("author_handle", "").strip()
    name = row.get("author_name", "").strip()
    followers = row.get("author_followers", "").strip()
    if handle:
        author: dict[str, Any] = {"handle": handle}
        if name:
            author["name"] = name
        if followers:
            try:
                author["followers"] = int(followers)
            except ValueError:
                return _Line(number, errors={"author_followers": ["Expected a whole number."]})
        payload["author"] = author
    elif name or followers:
        return _Line(
            number,
            errors={"author_handle": ["Required when author_name or author_followers is set."]},
        )
    raw = {
        key.removeprefix(RAW_PREFIX): value
        for key, value in row.items()
        if key.startswith(RAW_PREFIX) and value != ""
    }
    if raw:
        payload["raw"] = raw
    return _Line(number, payload=payload)


def feedback_import(
    *,
    stream: BinaryIO,
    fmt: str,
    source: Source,
    backfill: bool = False,
    chunk_size: int = CHUNK_SIZE,
    on_chunk: Callable[[ImportSummary, list[Rejection]], None] | None = None,
) -> ImportSummary:
    """Import every line of `stream` (a binary file) as a post of `source`.

    A line may name another existing source in its `source` field (JSONL); otherwise it is
    stored as `source`. `backfill` marks the posts as history: no SLA clock, no notifications.
    After each chunk, `on_chunk(summary_so_far, rejections_in_this_chunk)` is called (for
    progress and reports). Raises ImportFileError if the file is unusable; a bad line is
    only counted and reported. Each chunk is its own transaction: an interrupted import
    keeps the chunks already stored, and running it again completes it.
    """
    if fmt not in FORMATS:
        raise ImportFileError(f"Unknown format '{fmt}'; use one of {', '.join(FORMATS)}.")
    counter = _ByteCounter(stream)
    lines = _jsonl_lines(counter) if fmt == "jsonl" else _csv_lines(counter)
    summary = ImportSummary()
    for chunk in _chunks(lines, chunk_size):
        rejections = _import_chunk(chunk, source=source, backfill=backfill, summary=summary)
        summary.bytes_read = counter.bytes
        if on_chunk is not None:
            on_chunk(summary, rejections)
    return summary


def _chunks(lines: Iterable[_Line], size: int) -> Iterator[list[_Line]]:
    chunk: list[_Line] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _import_chunk(
    chunk: list[_Line], *, source: Source, backfill: bool, summary: ImportSummary
) -> list[Rejection]:
    readable = [line for line in chunk if line.errors is None]
    outcomes = (
        feedback_ingest(
            payloads=[line.payload for line in readable], default_source=source, backfill=backfill
        )
        if readable
        else []
    )
    errors_by_line = {line.number: line.errors for line in chunk if line.errors is not None}
    for line, outcome in zip(readable, outcomes, strict=True):
        if outcome.status == "rejected":
            errors_by_line[line.number] = outcome.errors or {}
        elif outcome.status == "created":
            summary.created += 1
        else:
            summary.duplicate += 1
    summary.lines += len(chunk)
    summary.rejected += len(errors_by_line)
    return [Rejection(number, errors_by_line[number]) for number in sorted(errors_by_line)]


def _flatten(errors: dict, prefix: str = "") -> Iterator[tuple[str, list[str]]]:
    for name, value in errors.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", [str(m) for m in value]


def _decode_message(exc: UnicodeDecodeError) -> str:
    return f"Not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at position {exc.start + 1})."
