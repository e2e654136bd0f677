"""Recording staff decisions as routing labels (the learning loop's input).

Called by the case services inside their transaction, so a label exists exactly when the
action happened. Newest decision per (item, department) wins.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from routing.models import RoutingLabel

NOISE = "noise"


def label_record(
    *,
    item_id: int,
    actor,
    action: str,
    positive: Iterable[str] = (),
    negative: Iterable[str] = (),
    kind: str = RoutingLabel.Kind.CORRECTION,
    now=None,
) -> None:
    """Say that the item belongs in `positive` departments and not in `negative` ones."""
    now = now or timezone.now()
    actor = actor if getattr(actor, "pk", None) else None
    verdicts = {slug: False for slug in negative} | {slug: True for slug in positive}
    for slug, right in verdicts.items():
        fields = {"positive": right, "kind": kind, "action": action, "actor": actor}
        RoutingLabel.objects.update_or_create(
            item_id=item_id,
            department=slug,
            defaults={**fields, "updated_at": now},
            create_defaults={**fields, "created_at": now, "updated_at": now},
        )
