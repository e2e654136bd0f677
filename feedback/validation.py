"""Validation and normalization of one incoming post, shared by every ingest entry point.

Plain Python rather than a DRF serializer: the bulk endpoint validates up to 1,000 items per
request and a serializer per item costs several times more; the import command and the
connectors use the same function without DRF.
"""

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

# C0 and C1 control characters except tab, newline and carriage return; NUL among them
# (PostgreSQL text cannot hold it). Also the Unicode "noncharacters" U+FFFE/U+FFFF, and lone
# surrogates: JSON may escape them ("\\ud800") but they cannot be encoded as UTF-8.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_SOURCE_SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")
_LANGUAGE_TAG = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*$")

FIELDS = {
    "source",
    "external_id",
    "body",
    "author",
    "url",
    "posted_at",
    "language",
    "in_reply_to",
    "raw",
}
AUTHOR_FIELDS = {"handle", "name", "url", "followers"}
MAX_RAW_BYTES = 64 * 1024
# Clocks differ; a post more than a day in the future is a wrong timestamp, not skew.
MAX_FUTURE = timedelta(days=1)


def text_normalize(value: str) -> str:
    """Unicode NFC with control characters (NUL included) removed; \\r\\n becomes \\n."""
    # Remove first, then normalize: a control character between a letter and its combining
    # mark would otherwise leave a decomposed (non-NFC) pair behind once removed.
    value = _CONTROL_CHARS.sub("", value.replace("\r\n", "\n"))
    return unicodedata.normalize("NFC", value)


def _strip_nul(value: Any) -> Any:
    """NUL and lone surrogates cannot be stored in jsonb either: remove them from every
    string in `raw`."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("", value)
    if isinstance(value, dict):
        return {_strip_nul(k): _strip_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_nul(v) for v in value]
    return value


@dataclass
class CleanAuthor:
    handle: str
    name: str = ""
    url: str = ""
    followers: int | None = None


@dataclass
class CleanEntry:
    """One validated post, ready to store."""

    source_slug: str | None
    external_id: str
    body: str
    author: CleanAuthor | None = None
    url: str = ""
    posted_at: datetime | None = None
    language: str = ""
    in_reply_to: str = ""
    raw: dict = field(default_factory=dict)


class _Errors(dict):
    def add(self, name: str, message: str) -> None:
        self.setdefault(name, []).append(message)


def _string(errors: _Errors, name: str, value: Any, *, max_length: int, required: bool) -> str:
    if value is None or value == "":
        if required:
            errors.add(name, "This field is required.")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.add(name, f"Expected a string, got {type(value).__name__}.")
        return ""
    text = text_normalize(str(value)).strip()
    if required and not text:
        errors.add(name, "This field may not be blank.")
    if len(text) > max_length:
        errors.add(name, f"At most {max_length} characters are allowed; this has {len(text)}.")
    return text


def _url(errors: _Errors, name: str, value: Any) -> str:
    text = _string(errors, name, value, max_length=2000, required=False)
    if text:
        try:
            parts = urlsplit(text)
        except ValueError:  # e.g. "http://[::1": a malformed IPv6 host
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            errors.add(name, "Enter a valid http(s) URL.")
            return ""
    return text


def _datetime(errors: _Errors, name: str, value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        errors.add(name, "Expected an ISO 8601 date-time string.")
        return None
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        errors.add(name, "Expected an ISO 8601 date-time, e.g. 2026-11-02T14:30:00Z.")
        return None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)  # documented: a naive time is read as UTC
    try:
        # Stored as UTC: PostgreSQL refuses offsets beyond ±15:59 that Python accepts.
        parsed = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        errors.add(name, "This date-time is out of range.")
        return None
    if parsed > timezone.now() + MAX_FUTURE:
        errors.add(name, "This date-time is more than a day in the future.")
        return None
    return parsed


def _author(errors: _Errors, value: Any) -> CleanAuthor | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):  # a bare handle is accepted as a shorthand
        value = {"handle": value}
    if not isinstance(value, dict):
        errors.add("author", "Expected an object with handle, name, url, followers.")
        return None
    sub = _Errors()
    for unknown in sorted(set(value) - AUTHOR_FIELDS):
        sub.add(unknown, "Unknown field.")
    handle = _string(sub, "handle", value.get("handle"), max_length=255, required=True)
    name = _string(sub, "name", value.get("name"), max_length=255, required=False)
    url = _url(sub, "url", value.get("url"))
    followers = value.get("followers")
    if followers is not None:
        if isinstance(followers, bool) or not isinstance(followers, int):
            sub.add("followers", "Expected a whole number.")
            followers = None
        elif not 0 <= followers <= 2_000_000_000:
            sub.add("followers", "Must be between 0 and 2000000000.")
            followers = None
    if sub:
        errors["author"] = dict(sub)
        return None
    return CleanAuthor(handle=handle, name=name, url=url, followers=followers)


def entry_validate(payload: Any) -> tuple[CleanEntry | None, dict]:
    """Validate and normalize one post. Returns (entry, {}) or (None, field errors)."""
    if not isinstance(payload, dict):
        return None, {"non_field_errors": ["Expected an object."]}
    errors = _Errors()
    for unknown in sorted(set(payload) - FIELDS):
        errors.add(unknown, "Unknown field. Put extra data in 'raw'.")

    source = payload.get("source")
    if source is not None and not isinstance(source, str):
        errors.add("source", "Expected a source slug (string).")
        source = None
    elif source and not _SOURCE_SLUG.match(source.strip()):
        # Checked here: a NUL or lone surrogate would otherwise reach the source lookup query.
        errors.add("source", "Expected a source slug: letters, digits, '-' and '_'.")
        source = None
    external_id = _string(
        errors, "external_id", payload.get("external_id"), max_length=255, required=True
    )

    body_value = payload.get("body")
    body = ""
    if body_value is None:
        errors.add("body", "This field is required.")
    elif not isinstance(body_value, str):
        errors.add("body", f"Expected a string, got {type(body_value).__name__}.")
    else:
        body = text_normalize(body_value).strip()
        cap = settings.INGEST_MAX_BODY_CHARS
        if not body:
            errors.add("body", "This field may not be blank.")
        elif len(body) > cap:
            errors.add("body", f"The body is {len(body)} characters long; the limit is {cap}.")

    author = _author(errors, payload.get("author"))
    url = _url(errors, "url", payload.get("url"))
    posted_at = _datetime(errors, "posted_at", payload.get("posted_at"))
    language = _string(errors, "language", payload.get("language"), max_length=16, required=False)
    if language and not _LANGUAGE_TAG.match(language):
        errors.add("language", "Expected a language code such as 'en' or 'pt-BR'.")
    in_reply_to = _string(
        errors, "in_reply_to", payload.get("in_reply_to"), max_length=255, required=False
    )

    raw = payload.get("raw")
    if raw is None:
        raw = {}
    elif not isinstance(raw, dict):
        errors.add("raw", "Expected an object.")
    else:
        try:
            raw = _strip_nul(raw)
            # allow_nan=False: Python's json reads NaN/Infinity (the JSONL import does), but
            # they are not JSON and PostgreSQL's jsonb refuses them.
            size = len(json.dumps(raw, ensure_ascii=False, allow_nan=False).encode())
        except (ValueError, TypeError, RecursionError):
            errors.add("raw", "Expected a JSON object (no NaN or Infinity, not nested too deep).")
        else:
            if size > MAX_RAW_BYTES:
                errors.add("raw", f"At most {MAX_RAW_BYTES} bytes of JSON are allowed.")

    if errors:
        return None, dict(errors)
    return (
        CleanEntry(
            source_slug=source.strip() if source else None,
            external_id=external_id,
            body=body,
            author=author,
            url=url,
            posted_at=posted_at,
            language=language.lower(),
            in_reply_to=in_reply_to,
            raw=raw,
        ),
        {},
    )
