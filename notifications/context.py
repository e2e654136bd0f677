from functools import cached_property


class Bell:
    """The header's unread count, read only when a template shows it (htmx fragments that
    do not render the header cost no query)."""

    def __init__(self, user) -> None:
        self.user = user

    @cached_property
    def _count(self) -> tuple[int, bool]:
        from notifications.selectors import unread_count

        return unread_count(self.user)

    @property
    def unread(self) -> int:
        return self._count[0]

    @property
    def more(self) -> bool:
        return self._count[1]


def bell(request) -> dict:
    user = getattr(request, "user", None)
    if not getattr(user, "is_authenticated", False):
        return {}
    return {"bell": Bell(user)}
