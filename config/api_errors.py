"""One error format for the whole API: RFC 9457 problem details.

    {"type": "https://switchboard.dev/problems/validation", "title": "Invalid input",
     "status": 400, "detail": "...", "errors": {"field": ["message", ...]}}

Every API error goes through here, including database outages (503) so that a client never
sees a stack trace.
"""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

PROBLEM_BASE = "https://switchboard.dev/problems/"
TITLES = {
    400: "Invalid input",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    413: "Request too large",
    415: "Unsupported media type",
    429: "Too many requests",
    503: "Service unavailable",
}


def problem(
    status_code: int,
    detail: str,
    *,
    errors=None,
    kind: str | None = None,
    headers: dict | None = None,
) -> Response:
    body = {
        "type": PROBLEM_BASE + (kind or TITLES.get(status_code, "error").lower().replace(" ", "-")),
        "title": TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    response = Response(body, status=status_code, headers=headers)
    response.content_type = "application/problem+json"
    return response


def exception_handler(exc, context):
    if isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DatabaseError) and "connection" in str(exc).lower()
    ):
        logger.error("database unavailable: %s", exc)
        return problem(
            503,
            "The database is unavailable; retry shortly.",
            kind="database-unavailable",
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, RequestDataTooBig):  # Django's own body limit, met on reading the body
        return problem(
            413,
            f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
            kind="request-too-large",
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        data = exc.detail
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        return problem(
            400, "The request has invalid fields; see errors.", errors=errors, kind="validation"
        )
    if isinstance(exc, Http404):
        detail = "Not found."
    else:
        detail = exc.detail if isinstance(getattr(exc, "detail", None), str) else str(exc)
    headers = {
        k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After", "Allow")
    }
    return problem(response.status_code, str(detail), headers=headers)
