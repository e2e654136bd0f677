"""Who is looking at an item right now ("Someone else is viewing"), kept in the cache.

Each open item page polls every few seconds and refreshes its viewer's entry; entries older
than PRESENCE_TTL are forgotten. It is advisory: with the cache down, nobody is shown.
"""

import time

from django.core.cache import cache

PRESENCE_TTL = 30


def _key(item_id: int) -> str:
    return f"presence:item:{item_id}"


def presence_touch(*, item_id: int, user) -> None:
    try:
        now = time.time()
        viewers = {
            uid: v
            for uid, v in (cache.get(_key(item_id)) or {}).items()
            if now - v[1] < PRESENCE_TTL
        }
        viewers[user.pk] = (user.get_full_name() or user.get_username(), now)
        cache.set(_key(item_id), viewers, PRESENCE_TTL * 2)
    except Exception:  # noqa: S110 (advisory only)
        pass


def presence_others(*, item_id: int, user) -> list[str]:
    try:
        now = time.time()
        viewers = cache.get(_key(item_id)) or {}
    except Exception:
        return []
    return sorted(
        name
        for uid, (name, seen) in viewers.items()
        if uid != user.pk and now - seen < PRESENCE_TTL
    )


def presence_many(*, item_ids, user) -> dict[int, list[str]]:
    """Viewers for a page of items in one cache round trip."""
    try:
        found = cache.get_many([_key(i) for i in item_ids])
    except Exception:
        return {}
    now = time.time()
    result = {}
    for item_id in item_ids:
        viewers = found.get(_key(item_id)) or {}
        names = sorted(
            n for uid, (n, seen) in viewers.items() if uid != user.pk and now - seen < PRESENCE_TTL
        )
        if names:
            result[item_id] = names
    return result
