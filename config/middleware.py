"""Request guards that apply to every page and endpoint."""

import json

from django.http import HttpResponse


class RejectNulInQueryMiddleware:
    """PostgreSQL cannot hold NUL in text, so a NUL in a filter or search value would turn
    into a database error. Refuse such requests up front with a clear 400."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "%00" in request.META.get("QUERY_STRING", "") or any(
            "\x00" in value for values in request.GET.lists() for value in values[1]
        ):
            body = {
                "type": "https://switchboard.dev/problems/validation",
                "title": "Invalid input",
                "status": 400,
                "detail": "Query parameters may not contain NUL characters.",
            }
            return HttpResponse(
                json.dumps(body), status=400, content_type="application/problem+json"
            )
        return self.get_response(request)
