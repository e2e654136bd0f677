"""What every page and endpoint goes through: request guards (NUL in the query, oversized
bodies), the request id that tags log lines, the response counter for /metrics, and the
app's own 404 page."""

import json
from io import BytesIO

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.defaults import page_not_found

from config import metrics
from config.logging import request_id_make, request_id_var


class RejectNulInQueryMiddleware:
    """PostgreSQL cannot hold NUL in text, so a NUL in a filter or search value (or in a
    path segment, or a browser form's field) would turn into a database error. Refuse such
    requests up front with a clear 400."""

    def __init__(self, get_response):
        self.get_response = get_response

    @staticmethod
    def _nul_in_form(request) -> bool:
        # Browser forms only: the API parses its own (JSON) bodies and may read the raw body
        # later, which Django refuses once a multipart body has been parsed here.
        if request.method != "POST" or request.path.startswith("/api/"):
            return False
        return any("\x00" in value for values in request.POST.lists() for value in values[1])

    def __call__(self, request):
        if (
            "%00" in request.META.get("QUERY_STRING", "")
            or "\x00" in request.path
            or any("\x00" in value for values in request.GET.lists() for value in values[1])
            or self._nul_in_form(request)
        ):
            body = {
                "type": "https://switchboard.dev/problems/validation",
                "title": "Invalid input",
                "status": 400,
                "detail": "Query parameters, paths and form fields may not contain NUL characters.",
            }
            return HttpResponse(
                json.dumps(body), status=400, content_type="application/problem+json"
            )
        return self.get_response(request)


def _problem(status: int, title: str, detail: str, kind: str, headers=None) -> HttpResponse:
    body = {
        "type": f"https://switchboard.dev/problems/{kind}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    response = HttpResponse(
        json.dumps(body), status=status, content_type="application/problem+json"
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class RequestIdMiddleware:
    """Gives every request an id: the caller's `X-Request-ID` when it looks sane, else a new
    one. Log lines written while the request is handled carry it (config.logging), tasks
    it enqueues carry it in their headers, and the response echoes it. First in MIDDLEWARE,
    so even a request another middleware refuses is tagged."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_make(request.headers.get("X-Request-ID"))
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class ResponseMetricsMiddleware:
    """Counts responses by status class in the shared metrics store (config.metrics), so
    a rising share of 5xx can be alerted on. Best effort: never fails a request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        metrics.http_response_record(response.status_code)
        return response


class RequestSizeLimitMiddleware:
    """Refuses request bodies larger than MAX_REQUEST_BYTES with 413, before anything reads
    them into memory.

    Why this is needed on top of Django's DATA_UPLOAD_MAX_MEMORY_SIZE: DRF's parsers read the
    body as a stream and never run Django's check, so a 2 GB JSON body would be parsed whole.
    A declared Content-Length is checked without reading a byte. A chunked body (no
    Content-Length) is read here up to the limit and no further; under the limit it is handed
    on as a normal body (Django alone would see an empty body: it reads Content-Length bytes).
    A chunked body from a server that does not mark its end (`wsgi.input_terminated`) cannot
    be read safely and answers 411.
    """

    _CHUNK = 64 * 1024

    def __init__(self, get_response):
        self.get_response = get_response

    def _too_large(self, limit: int) -> HttpResponse:
        return _problem(
            413,
            "Request too large",
            f"The request body is larger than {limit} bytes; send less at a time "
            f"(at most {settings.INGEST_MAX_ITEMS} posts per list).",
            "request-too-large",
        )

    def __call__(self, request):
        limit = settings.MAX_REQUEST_BYTES
        declared = request.META.get("CONTENT_LENGTH")
        if declared:
            try:
                length = int(declared)
            except ValueError:
                return _problem(
                    400, "Invalid input", "Content-Length is not a number.", "validation"
                )
            if length > limit:
                return self._too_large(limit)
        elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            if not request.META.get("wsgi.input_terminated"):
                return _problem(
                    411,
                    "Length required",
                    "Send a Content-Length header with the request body.",
                    "length-required",
                )
            stream = request.META["wsgi.input"]
            parts, size = [], 0
            while size <= limit:
                part = stream.read(min(self._CHUNK, limit + 1 - size))
                if not part:
                    break
                parts.append(part)
                size += len(part)
            if size > limit:
                return self._too_large(limit)
            body = b"".join(parts)
            # Hand the body on as if it had come with a Content-Length. `_stream` is what
            # HttpRequest.read() and .body read from (Django builds it from CONTENT_LENGTH
            # when the request object is made, before any middleware runs).
            request.META["CONTENT_LENGTH"] = str(len(body))
            request._stream = BytesIO(body)
        return self.get_response(request)


class NotFoundPageMiddleware:
    """A page a view answers "not found" for (an unknown item, one of a department the
    viewer is not in) is the app's 404 page, with DEBUG on too.

    With DEBUG on Django answers a view's Http404 with its technical page, which lists every
    URL pattern: on `make run`'s development server that is what a new user met when an
    item link was stale. An unknown URL (no view matched) still gets Django's page under
    DEBUG, where listing the patterns helps whoever is developing. The API answers its own
    404s (DRF turns Http404 into problem details before it reaches here)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, Http404):
            return page_not_found(request, exception)
        return None
