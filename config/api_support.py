"""Shared API plumbing: cursor pagination, per-key throttling, Idempotency-Key replay."""

import contextlib
import functools
import hashlib
import json
import logging

from django.core.cache import cache
from rest_framework import parsers, renderers, serializers
from rest_framework.exceptions import ParseError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle

from config.api_errors import problem

logger = logging.getLogger(__name__)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, except that JSON nested deeper than Python's recursion limit is a
    400 like any other malformed body, not a RecursionError (a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSON renderer. JSON may carry lone surrogates ("\\ud800"), which Python decodes
    but cannot encode as UTF-8; when an answer echoes one (an unknown field's name, an
    invalid choice), it is written with \\u escapes instead of failing with a 500."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            self.ensure_ascii = True
            return super().render(data, accepted_media_type, renderer_context)


class SlugRelatedField(serializers.SlugRelatedField):
    """DRF's, refusing NUL before the lookup: PostgreSQL cannot compare text holding it, and
    the database error would be a 500."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("invalid")
        return super().to_internal_value(data)


class NewestFirstPagination(CursorPagination):
    """Keyset pagination: no COUNT(*), stable under inserts, fast at millions of rows."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("-created_at", "-pk")


class ItemPagination(NewestFirstPagination):
    ordering = ("-received_at", "-pk")


class PrincipalRateThrottle(SimpleRateThrottle):
    """One budget per API key (or per logged-in user), counted in Redis.

    If Redis is down the request is let through: throttling protects the service, it must
    not be the reason it fails."""

    scope = "principal"

    def get_cache_key(self, request, view):
        user = request.user
        key_id = getattr(user, "key_id", None)
        if key_id is not None:
            ident = f"key:{key_id}"
        elif getattr(user, "pk", None):
            ident = f"user:{user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return f"throttle:{self.scope}:{ident}"

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:
            logger.warning("throttle cache unavailable; request allowed", exc_info=True)
            return True


IDEMPOTENCY_TTL = 24 * 3600


def idempotent(view_method):
    """Replay the first response to a POST repeated with the same `Idempotency-Key` (24 h).

    The key is scoped to the caller, and bound to the request body: the same key with a
    different body is a client bug and answers 422. A request still in flight with the same
    key answers 409."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        header = request.headers.get("Idempotency-Key", "").strip()
        if not header:
            return view_method(self, request, *args, **kwargs)
        if len(header) > 200:
            return problem(400, "Idempotency-Key is at most 200 characters.")
        user = request.user
        caller = getattr(user, "key_id", None) or f"u{getattr(user, 'pk', '')}"
        slot = hashlib.sha256(f"{caller}:{request.path}:{header}".encode()).hexdigest()
        body_hash = hashlib.sha256(request.body).hexdigest()
        cache_key, lock_key = f"idem:{slot}", f"idem-lock:{slot}"
        try:
            stored = cache.get(cache_key)
            if stored is not None:
                if stored["body"] != body_hash:
                    return problem(
                        422,
                        "This Idempotency-Key was used with a different request body.",
                        kind="idempotency-key-reused",
                    )
                response = Response(stored["data"], status=stored["status"])
                response["Idempotent-Replayed"] = "true"
                return response
            if not cache.add(lock_key, 1, 60):
                return problem(
                    409,
                    "A request with this Idempotency-Key is in progress.",
                    kind="idempotency-key-in-progress",
                )
        except Exception:
            logger.warning(
                "idempotency cache unavailable; handling request once more", exc_info=True
            )
            return view_method(self, request, *args, **kwargs)
        try:
            response = view_method(self, request, *args, **kwargs)
            if response.status_code < 500:
                cache.set(
                    cache_key,
                    {
                        "body": body_hash,
                        "status": response.status_code,
                        "data": json.loads(json.dumps(response.data, default=str)),
                    },
                    IDEMPOTENCY_TTL,
                )
            return response
        finally:
            with contextlib.suppress(Exception):  # cache down: the lock expires by itself
                cache.delete(lock_key)

    return wrapper
