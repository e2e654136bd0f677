"""Reading labelled CSV files (`text,department[,source]`)."""

from __future__ import annotations

import csv
import os

from .model import LABELS

REQUIRED_COLUMNS = ("text", "department")


def read_labelled_csv(
    path: str | os.PathLike[str],
) -> tuple[list[str], list[str], list[str] | None]:
    """Return (texts, departments, sources or None) from a CSV with a header row.

    Raises ValueError("line N: ...") naming the first bad line, counting the header as
    line 1 (as an editor shows it), so whoever prepared the file can fix it.
    """
    texts: list[str] = []
    departments: list[str] = []
    sources: list[str] = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            have = ", ".join(columns) or "none"
            raise ValueError(f"line 1: missing column(s) {', '.join(missing)} (have {have})")
        has_source = "source" in columns
        for row in reader:
            # reader.line_num is the physical line where this record ends, which is the
            # line to look at for multi-line quoted texts too.
            line = reader.line_num
            if None in row or any(row.get(name) is None for name in REQUIRED_COLUMNS):
                raise ValueError(f"line {line}: expected {len(columns)} columns")
            text = row["text"].strip()
            department = row["department"].strip().lower()
            if not text:
                raise ValueError(f"line {line}: empty text")
            if department not in LABELS:
                raise ValueError(
                    f"line {line}: unknown department {row['department']!r} "
                    f"(expected one of {', '.join(LABELS)})"
                )
            texts.append(text)
            departments.append(department)
            if has_source:
                sources.append((row.get("source") or "").strip() or "unknown")
    if not texts:
        raise ValueError("line 2: no data rows")
    return texts, departments, (sources if has_source else None)
