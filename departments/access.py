"""Who sees what: the rules of the access layer, one queryset class per restricted model.

- A **superuser** sees everything.
- A **member** of departments (agents and managers; staff users count as members of the
  departments they belong to) sees everything except what a *sealed* department they are
  not in owns (`Department.sealed`, HR by default): that department's cases, its notes,
  the events of its cases and the handoffs to or from it, the items whose only cases are
  its own, the items waiting in its own triage, its spikes, its rising terms and its share
  of the triage inbox's history. A non-member never learns that a sealed case exists, even
  on an item shared with their own department.
- A person in no department, and not staff, sees nothing (placed yet, or moved out).
- An **API key** sees the items of its own source (the ones it posted) and their state,
  and their cases outside sealed departments. A key that acts as a user sees what that
  user sees (`feedback.api.auth.request_viewer`).

How it is enforced (config/access.py): the querysets below refuse to compile inside a
request until `.visible_to(viewer)` or an explicit `.unscoped()` is called on them, and a
scoped query may not join restricted tables behind the rules' back.

Adding a read path: start from `Model.objects.visible_to(viewer)` (the viewer is
`request.user` in pages, `request_viewer(request)` in the API) and build on it; for a
subquery over another restricted model, scope that one too. For a new model a sealed
department can own, give it a `RestrictedQuerySet` subclass here and add it to the
differential leak tests (tests/abuse/test_sealed_differential.py).
"""

import contextlib
from dataclasses import dataclass

from django.contrib.postgres.aggregates import BoolAnd
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from config.access import RestrictedQuerySet


@dataclass(frozen=True)
class Viewer:
    """A person or an API key, reduced to what the rules need."""

    kind: str  # "superuser", "member", "key" or "nobody"
    user_id: int | None = None
    source_id: int | None = None  # an API key's own source
    departments: frozenset[int] = frozenset()
    hidden: frozenset[int] = frozenset()  # sealed departments this viewer is not in
    hidden_slugs: frozenset[str] = frozenset()

    @property
    def sees_everything(self) -> bool:
        return self.kind == "superuser"

    def may_see_department(self, department_id: int | None) -> bool:
        return department_id not in self.hidden


def viewer_of(principal) -> Viewer:
    """The Viewer for a user, an API-key principal or a Viewer (returned as is). Cached on
    the user object, so a request builds it once."""
    if isinstance(principal, Viewer):
        return principal
    cached = getattr(principal, "_switchboard_viewer_rules", None)
    if cached is not None:
        return cached
    viewer = _build_viewer(principal)
    # object.__setattr__ also reaches a frozen principal (an API key's, built per request).
    with contextlib.suppress(AttributeError, TypeError):
        object.__setattr__(principal, "_switchboard_viewer_rules", viewer)
    return viewer


def departments_all(principal) -> list:
    """Every department, by name: a table of a handful of rows that the viewer's rules and
    the workspace's menus both read, so it is read once per request (cached on the user)."""
    from departments.models import Department

    cached = getattr(principal, "_switchboard_departments", None)
    if cached is None:
        cached = list(Department.objects.order_by("name", "pk"))
        with contextlib.suppress(AttributeError, TypeError):
            object.__setattr__(principal, "_switchboard_departments", cached)
    return cached


def _build_viewer(principal) -> Viewer:
    from departments.models import Department
    from feedback.principals import ApiKeyPrincipal

    if isinstance(principal, ApiKeyPrincipal):
        sealed = list(Department.objects.filter(sealed=True).values_list("pk", "slug"))
        return Viewer(
            kind="key",
            source_id=principal.source_id,
            hidden=frozenset(pk for pk, _ in sealed),
            hidden_slugs=frozenset(slug for _, slug in sealed),
        )
    if principal is None or not getattr(principal, "is_authenticated", False):
        return Viewer(kind="nobody")
    if getattr(principal, "is_superuser", False):
        return Viewer(kind="superuser", user_id=principal.pk)
    from departments.selectors import user_department_ids

    mine = frozenset(user_department_ids(principal))
    if not mine and not getattr(principal, "is_staff", False):
        return Viewer(kind="nobody", user_id=principal.pk)
    sealed = [(d.pk, d.slug) for d in departments_all(principal) if d.sealed and d.pk not in mine]
    return Viewer(
        kind="member",
        user_id=principal.pk,
        departments=mine,
        hidden=frozenset(pk for pk, _ in sealed),
        hidden_slugs=frozenset(slug for _, slug in sealed),
    )


class ItemQuerySet(RestrictedQuerySet):
    # An item query scoped for a viewer must not join cases, events or notes: it would
    # answer questions about rows the rules hide (which items have an HR case).
    forbidden_joins = ("departments_case", "departments_caseevent", "departments_note")

    def _restrict(self, viewer: Viewer):
        from departments.models import Case

        if viewer.kind == "nobody":
            return self.none()
        if viewer.kind == "key":
            return self.filter(source_id=viewer.source_id)
        if not viewer.hidden:
            return self._chain()
        # "All of the item's cases are hidden", as one probe of the item's cases per row
        # (NULL for an item with no case). Two EXISTS probes (a hidden case and no other)
        # say the same, but PostgreSQL may hash the first over every hidden case in the
        # store (80,000 HR cases at a million items: 125 ms) even when a LIMIT needs a
        # thousand rows; an aggregate per item is never hashed, and the unique
        # (item, department) index answers it.
        only_hidden = (
            Case.objects.unscoped()
            .filter(item=OuterRef("pk"))
            .values("item")
            .annotate(
                all_hidden=BoolAnd(
                    ExpressionWrapper(
                        Q(department_id__in=viewer.hidden), output_field=BooleanField()
                    )
                )
            )
            .values("all_hidden")
        )
        return self.exclude(
            Coalesce(Subquery(only_hidden, output_field=BooleanField()), Value(False))
        ).exclude(triage_department_id__in=viewer.hidden)


class AuthorQuerySet(RestrictedQuerySet):
    """Authors of at least one item the viewer may see."""

    forbidden_joins = ItemQuerySet.forbidden_joins

    def _restrict(self, viewer: Viewer):
        from feedback.models import FeedbackItem

        if viewer.kind == "nobody":
            return self.none()
        if viewer.kind == "member" and not viewer.hidden:
            return self._chain()
        items = FeedbackItem.objects.visible_to(viewer).filter(author=OuterRef("pk"))
        return self.filter(Exists(items))


class CaseQuerySet(RestrictedQuerySet):
    forbidden_joins = ("departments_caseevent", "departments_note")

    def _restrict(self, viewer: Viewer):
        if viewer.kind == "nobody":
            return self.none()
        qs = self.exclude(department_id__in=viewer.hidden) if viewer.hidden else self._chain()
        if viewer.kind == "key":
            qs = qs.filter(item__source_id=viewer.source_id)
        return qs


class CaseEventQuerySet(RestrictedQuerySet):
    """Events of visible cases and item-level events; a handoff to or from a hidden
    department and a note written in one (its `from_department`) are hidden."""

    forbidden_joins = ("departments_note",)

    def _restrict(self, viewer: Viewer):
        from departments.models import Case

        if viewer.kind == "nobody":
            return self.none()
        qs = self._chain()
        if viewer.kind == "key":
            qs = qs.filter(item__source_id=viewer.source_id)
        if not viewer.hidden:
            return qs
        hidden = viewer.hidden
        # "Its case is in a hidden department", as one probe of the case's primary key per
        # event (NULL for an item-level event). `case_id IN (hidden cases)` says the same,
        # but PostgreSQL hashes every hidden case in the store first (80,000 at a million
        # items: 100 ms for an item page's dozen events).
        case_hidden = (
            Case.objects.unscoped()
            .filter(pk=OuterRef("case_id"))
            .values(
                hidden=ExpressionWrapper(Q(department_id__in=hidden), output_field=BooleanField())
            )
        )
        return qs.exclude(
            Coalesce(Subquery(case_hidden, output_field=BooleanField()), Value(False))
        ).exclude(Q(from_department_id__in=hidden) | Q(to_department_id__in=hidden))


class NoteQuerySet(RestrictedQuerySet):
    def _restrict(self, viewer: Viewer):
        if viewer.kind in ("nobody", "key"):
            return self.none()  # notes are internal: no API key reads them
        if not viewer.hidden:
            return self._chain()
        return self.exclude(department_id__in=viewer.hidden)


class SpikeQuerySet(RestrictedQuerySet):
    """Spikes, without a hidden department's own. (Detection never names a sealed
    department as related to another's spike; metrics.spikes_for strips older rows.)"""

    def _restrict(self, viewer: Viewer):
        from departments.models import Spike

        if viewer.kind in ("nobody", "key"):
            return self.none()
        if not viewer.hidden_slugs:
            return self._chain()
        return self.exclude(dimension=Spike.Dimension.DEPARTMENT, key__in=list(viewer.hidden_slugs))


class ThemeQuerySet(RestrictedQuerySet):
    def _restrict(self, viewer: Viewer):
        if viewer.kind in ("nobody", "key"):
            return self.none()
        if not viewer.hidden_slugs:
            return self._chain()
        return self.exclude(scope__in=list(viewer.hidden_slugs))


class TriageRollupQuerySet(RestrictedQuerySet):
    """The triage inbox's daily size and age, without what a hidden department owns."""

    def _restrict(self, viewer: Viewer):
        if viewer.kind in ("nobody", "key"):
            return self.none()
        if not viewer.hidden:
            return self._chain()
        return self.exclude(sealed_department_id__in=list(viewer.hidden))


class NotificationQuerySet(RestrictedQuerySet):
    """A person's own notifications about what they may still see: its item, and its case
    and note when it names one (a membership may have ended since it was made). Superusers
    see every row through `visible_to`, so readers also filter by recipient
    (notifications.selectors.notifications_for)."""

    # Its text is read from these rows through their own scoped querysets, never by a join.
    forbidden_joins = (
        "feedback_feedbackitem",
        "departments_case",
        "departments_note",
        "departments_caseevent",
    )

    def _restrict(self, viewer: Viewer):
        from departments.models import Case, Note
        from feedback.models import FeedbackItem

        if viewer.kind in ("nobody", "key") or viewer.user_id is None:
            return self.none()
        qs = self.filter(recipient_id=viewer.user_id)
        if not viewer.hidden:
            return qs
        items = FeedbackItem.objects.visible_to(viewer).filter(pk=OuterRef("item_id"))
        cases = Case.objects.visible_to(viewer).filter(pk=OuterRef("case_id"))
        notes = Note.objects.visible_to(viewer).filter(pk=OuterRef("note_id"))
        return qs.filter(
            Exists(items),
            Q(case_id__isnull=True) | Exists(cases),
            Q(note_id__isnull=True) | Exists(notes),
        )


def item_scores(viewer, item) -> dict[str, float]:
    """An item's department scores without those of departments hidden from the viewer (a
    high HR score on a shared post says as much as an HR case)."""
    hidden = viewer_of(viewer).hidden_slugs
    return {k: v for k, v in (item.scores or {}).items() if k not in hidden}
