"""The access layer's machinery: querysets that refuse to run for a person or a key until
they name the viewer.

Every model whose rows a sealed department can own (items, authors, cases, events, notes,
spikes, themes) uses a `RestrictedQuerySet`. Inside a request (see `AccessGuardMiddleware`)
such a queryset compiles to SQL only after one of:

- `.visible_to(viewer)`: the rows this person or API key may see (the rules are in
  `departments/access.py`);
- `.unscoped()`: an explicit system read, for code that acts for the system rather than for
  the viewer (the write services once a view has checked access, routing, emitters that
  filter per recipient themselves). Each call is a place a reviewer should look at.

The check sits in the SQL compiler, so it also catches a queryset used as a subquery
(`Exists(Case.objects.filter(...))`, `pk__in=...`), a related manager (`item.cases.all()`),
`prefetch_related` and counts: forgetting the viewer fails loudly (`UnscopedRead`) in every
test that renders the page, instead of leaking quietly. Outside requests (management
commands, Celery tasks, the Django admin, the shell) reads are unscoped, as the system's
are.

A scoped query also may not reach into restricted rows by joins it was not scoped for:
`FeedbackItem.objects.visible_to(v).filter(cases__department__slug="hr")` would answer
"which items have an HR case" without ever reading a Case row through the rules. Such a
query raises too; filter through a scoped subquery instead
(`Exists(Case.objects.visible_to(v).filter(item=OuterRef("pk"), ...))`).
"""

import contextvars
from contextlib import contextmanager

from django.db import models
from django.db.models.sql import Query


class UnscopedRead(RuntimeError):
    """A restricted model was read in a request without naming the viewer."""


class _Guard:
    active = False


_guard: contextvars.ContextVar[_Guard | None] = contextvars.ContextVar(
    "switchboard_access_guard", default=None
)

# What a query was scoped with: a viewer, or SYSTEM for an explicit unscoped read.
SYSTEM = object()


def guard_active() -> bool:
    guard = _guard.get()
    return guard is not None and guard.active


@contextmanager
def guarded(active: bool = True):
    """Run a block as a request does: restricted reads must name their viewer."""
    guard = _Guard()
    guard.active = active
    token = _guard.set(guard)
    try:
        yield guard
    finally:
        _guard.reset(token)


class AccessQuery(Query):
    """A Query that knows whether it was scoped (the attribute survives clone and chain)."""

    access_scope = None  # None: not scoped yet; SYSTEM; or the Viewer it was scoped for
    # Tables this query may not join when scoped for a viewer (set by the queryset class).
    access_forbidden_joins: frozenset[str] = frozenset()

    def get_compiler(self, using=None, connection=None, elide_empty=True):
        if guard_active():
            self._access_check()
        return super().get_compiler(using, connection, elide_empty)

    def _access_check(self) -> None:
        if self.access_scope is None:
            raise UnscopedRead(
                f"{self.model.__name__} was read in a request without naming the viewer: "
                "use .visible_to(viewer), or .unscoped() for a system read (see config/access.py)."
            )
        if self.access_scope is SYSTEM:
            return
        own = self.model._meta.db_table
        # Only joins the SQL will contain: resolving OuterRef("item_id") in a subquery sets
        # up a join to the item table that Django trims (refcount 0) and never emits.
        tables = [
            join.table_name
            for alias, join in self.alias_map.items()
            if self.alias_refcount.get(alias, 1) > 0
        ]
        bad = sorted(
            {t for t in tables if t in self.access_forbidden_joins}
            | ({own} if tables.count(own) > 1 else set())
        )
        if bad:
            raise UnscopedRead(
                f"A {self.model.__name__} query scoped for a viewer joins {', '.join(bad)}, "
                "rows the scope did not check: filter through a scoped subquery instead."
            )


class RestrictedQuerySet(models.QuerySet):
    """Base class of the restricted models' querysets; subclasses implement `_restrict`."""

    # Table names of restricted models this model's scoped queries must not join.
    forbidden_joins: tuple[str, ...] = ()

    def __init__(self, model=None, query=None, using=None, hints=None):
        if query is None and model is not None:
            query = AccessQuery(model)
            query.access_forbidden_joins = frozenset(self.forbidden_joins)
        super().__init__(model=model, query=query, using=using, hints=hints)

    def visible_to(self, viewer) -> "RestrictedQuerySet":
        """The rows `viewer` (a user, an API-key principal or a Viewer) may see."""
        from departments.access import viewer_of

        viewer = viewer_of(viewer)
        qs = self._restrict(viewer) if not viewer.sees_everything else self._chain()
        qs.query.access_scope = viewer
        return qs

    def unscoped(self) -> "RestrictedQuerySet":
        """An explicit system read: every row, whoever the request is for."""
        qs = self._chain()
        qs.query.access_scope = SYSTEM
        return qs

    def _restrict(self, viewer) -> "RestrictedQuerySet":  # pragma: no cover - abstract
        raise NotImplementedError


class AccessGuardMiddleware:
    """Turns the guard on for the views that serve people and keys (pages, API, exports).

    The Django admin is for superusers, who see everything, and reads through the models'
    own managers there; it runs unguarded."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with guarded(active=False) as guard:
            request._access_guard = guard
            return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = getattr(request, "resolver_match", None)
        guard = getattr(request, "_access_guard", None)
        if guard is not None:
            guard.active = not (match and match.app_name == "admin")
