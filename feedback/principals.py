"""Who an API request is: the principal an API key authenticates as.

Read-side code (authentication, the access layer) imports this module, never
`feedback.services`, which holds the write side (creating and revoking keys).

A key's rights are cached for a minute, because a database lookup per request costs about
30 % of single-POST throughput. Every change to a key row (the admin's edit and delete,
revocation) drops its cache entry through the signal receivers below, so no change waits
out the minute.
"""

import contextlib
import hashlib
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from feedback.models import ApiKey

KEY_PREFIX = "sb_"
_CACHE_TTL = 60


def key_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """What `request.user` is for a request authenticated by an API key."""

    key_id: int
    name: str
    source_id: int
    scopes: tuple[str, ...]
    acts_as_id: int | None = None
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def pk(self) -> None:  # not a user: code that stores request.user.pk stores nothing
        return None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def apikey_authenticate(*, raw_key: str) -> ApiKeyPrincipal | None:
    """The principal for a raw key, or None (unknown or revoked)."""
    digest = key_digest(raw_key)
    cache_key = _cache_key(digest)
    cached = _cache_get(cache_key)
    if cached is not None:
        return ApiKeyPrincipal(**cached) if cached else None
    key = ApiKey.objects.filter(digest=digest, revoked_at=None).first()
    if key is None:
        _cache_set(cache_key, {})
        return None
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    data = {
        "key_id": key.pk,
        "name": key.name,
        "source_id": key.source_id,
        "scopes": tuple(key.scopes),
        "acts_as_id": key.acts_as_id,
    }
    _cache_set(cache_key, data)
    return ApiKeyPrincipal(**data)


def forget_key(digest: str) -> None:
    """Drop a key's cached rights: the next request reads the row again."""
    _cache_delete(_cache_key(digest))


@receiver(post_save, sender=ApiKey, dispatch_uid="apikey-saved-forget")
@receiver(post_delete, sender=ApiKey, dispatch_uid="apikey-deleted-forget")
def _key_changed(sender, instance: ApiKey, **kwargs) -> None:
    forget_key(instance.digest)


def _cache_key(digest: str) -> str:
    return f"apikey:{digest}"


# The cache is an optimisation: with Redis down, authentication falls back to the database.
def _cache_get(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception:
        return None


def _cache_set(key: str, value: Any) -> None:
    with contextlib.suppress(Exception):
        cache.set(key, value, _CACHE_TTL)


def _cache_delete(key: str) -> None:
    with contextlib.suppress(Exception):
        cache.delete(key)
