"""items_route: cases in every confident department, rules, triage, idempotency, failures."""

import pytest
from django.utils import timezone

from departments.models import Case, CaseEvent, Department
from feedback.models import FeedbackItem
from routing import classification, services
from routing.models import Rule
from routing.services import items_route, items_sweep
from tests.factories import AuthorFactory, FeedbackItemFactory

pytestmark = pytest.mark.django_db


def make_items(bodies, **fields):
    return [
        FeedbackItemFactory(body=b, external_id=f"r-{i}", **fields) for i, b in enumerate(bodies)
    ]


def set_thresholds(value: float | None, *slugs: str) -> None:
    qs = Department.objects.all() if not slugs else Department.objects.filter(slug__in=slugs)
    qs.update(routing_threshold=value)


def test_confident_item_gets_a_case_with_an_explanation():
    set_thresholds(0.0, "support")  # every item passes support, so the case must appear
    set_thresholds(1.01, "product", "hr", "marketing")
    [item] = make_items(["I was charged twice for my order, please refund me"])
    summary = items_route(item_ids=[item.pk])
    item.refresh_from_db()
    assert summary.routed == 1 and item.state == FeedbackItem.State.ROUTED
    case = Case.objects.get(item=item)
    assert case.department.slug == "support"
    assert case.routed_by == Case.RoutedBy.MODEL
    assert case.model_version == item.model_version != ""
    assert case.explanation["terms"], "a model decision names the words that pushed it"
    assert case.due_at is not None
    event = CaseEvent.objects.get(item=item, kind=CaseEvent.Kind.ROUTED)
    assert event.to_department == case.department and event.case == case
    assert set(item.scores) == {"product", "support", "hr", "marketing", "noise"}
    assert item.sentiment is not None and item.sentiment_label


def test_item_concerning_several_departments_gets_a_case_in_each():
    set_thresholds(0.0, "support", "product")
    set_thresholds(1.01, "hr", "marketing")
    [item] = make_items(["The app crashes at checkout and support never answered"])
    items_route(item_ids=[item.pk])
    assert set(Case.objects.filter(item=item).values_list("department__slug", flat=True)) == {
        "support",
        "product",
    }


def test_no_confident_department_sends_the_item_to_triage():
    set_thresholds(1.01)
    [item] = make_items(["hmm"])
    # Noise must not be confident either: raise its bar through the loaded model.
    active = classification.classifier_active()
    active.model.thresholds["noise"] = 1.01
    try:
        summary = items_route(item_ids=[item.pk])
    finally:
        classification._loaded = None  # reload a clean model for the next test
    item.refresh_from_db()
    assert summary.triage == 1 and item.state == FeedbackItem.State.TRIAGE
    assert not Case.objects.filter(item=item).exists()
    assert CaseEvent.objects.filter(item=item, kind=CaseEvent.Kind.TRIAGED).exists()


def test_routing_twice_creates_nothing_twice():
    set_thresholds(0.0, "support")
    items = make_items(["Where is my parcel?", "Refund please"])
    ids = [i.pk for i in items]
    first = items_route(item_ids=ids)
    # Simulate a redelivered task that raced past the state check: reset the state only.
    FeedbackItem.objects.filter(pk__in=ids).update(state=FeedbackItem.State.RECEIVED)
    second = items_route(item_ids=ids)
    assert first.cases == 2 and second.cases == 0
    assert Case.objects.filter(item_id__in=ids).count() == 2
    # and a plain second delivery (state already routed) does nothing at all
    assert items_route(item_ids=ids).skipped == 2


def test_a_small_batch_fills_up_with_other_waiting_items_oldest_first():
    items = make_items([f"Where is my parcel number {i}?" for i in range(5)])
    mine, *waiting = items
    summary = items_route(item_ids=[mine.pk], fill_to=3)
    states = dict(FeedbackItem.objects.values_list("pk", "state"))
    # Its own item and the two oldest others are decided; the rest wait for their tasks.
    assert sorted(summary.item_ids) == sorted([mine.pk, waiting[0].pk, waiting[1].pk])
    assert all(states[i.pk] != FeedbackItem.State.RECEIVED for i in (mine, *waiting[:2]))
    assert all(states[i.pk] == FeedbackItem.State.RECEIVED for i in waiting[2:])
    # The tasks of the items already taken find nothing left to do.
    assert items_route(item_ids=[waiting[0].pk], fill_to=0).skipped == 1


def test_without_fill_to_only_the_given_items_are_routed():
    items = make_items(["Refund please", "Where is my order?"])
    items_route(item_ids=[items[0].pk])
    assert FeedbackItem.objects.get(pk=items[1].pk).state == FeedbackItem.State.RECEIVED


def test_rule_routes_blocks_tags_and_sets_priority():
    set_thresholds(0.0, "support", "product")
    set_thresholds(1.01, "hr", "marketing")
    Rule.objects.create(
        name="jobs to HR",
        position=1,
        conditions=[{"field": "body", "op": "contains_any", "value": ["hiring", "job"]}],
        actions=[
            {"type": "route_to", "department": "hr"},
            {"type": "never_route_to", "department": "product"},
            {"type": "add_tag", "tag": "careers"},
            {"type": "set_priority", "priority": "urgent"},
        ],
    )
    [item] = make_items(["Are you hiring backend engineers? I love your product"])
    items_route(item_ids=[item.pk])
    cases = {c.department.slug: c for c in Case.objects.filter(item=item)}
    assert set(cases) == {"hr", "support"}
    assert cases["hr"].routed_by == Case.RoutedBy.RULE and "jobs to HR" in cases["hr"].reason
    # The rule names HR, a sealed department: what it sets stays on HR's case. On the item
    # (which support sees) a "careers" tag would say what an HR case would.
    assert "careers" in cases["hr"].tags and cases["hr"].priority == "urgent"
    assert "careers" not in cases["support"].tags and cases["support"].priority != "urgent"
    item.refresh_from_db()
    assert "careers" not in item.tags and item.priority != "urgent"


def test_a_rule_about_open_departments_tags_the_item():
    set_thresholds(0.0, "support")
    set_thresholds(1.01, "hr", "marketing", "product")
    Rule.objects.create(
        name="billing words",
        position=1,
        conditions=[{"field": "body", "op": "contains_any", "value": ["invoice"]}],
        actions=[
            {"type": "add_tag", "tag": "billing"},
            {"type": "set_priority", "priority": "high"},
        ],
    )
    [item] = make_items(["My invoice is wrong"])
    items_route(item_ids=[item.pk])
    item.refresh_from_db()
    assert "billing" in item.tags and item.priority == "high"


def test_stop_ends_rule_evaluation():
    set_thresholds(1.01)
    Rule.objects.create(
        name="first",
        position=1,
        conditions=[{"field": "source", "op": "in", "value": ["vip"]}],
        actions=[{"type": "route_to", "department": "marketing"}, {"type": "stop"}],
    )
    Rule.objects.create(
        name="second",
        position=2,
        conditions=[{"field": "source", "op": "in", "value": ["vip"]}],
        actions=[{"type": "route_to", "department": "product"}],
    )
    item = FeedbackItemFactory(source__slug="vip", body="Hello there")
    items_route(item_ids=[item.pk])
    assert list(Case.objects.filter(item=item).values_list("department__slug", flat=True)) == [
        "marketing"
    ]


def test_backfilled_items_get_no_sla_clock():
    set_thresholds(0.0, "support")
    [item] = make_items(["old complaint"], backfill=True)
    items_route(item_ids=[item.pk])
    assert Case.objects.get(item=item, department__slug="support").due_at is None


def test_a_poison_item_is_marked_failed_and_the_rest_are_routed(monkeypatch):
    set_thresholds(0.0, "support")
    good, bad = make_items(["fine post", "poison post"])
    real = services.signals_compute

    def explode(*, text, **kwargs):
        if "poison" in text:
            raise RuntimeError("boom")
        return real(text=text, **kwargs)

    monkeypatch.setattr(services, "signals_compute", explode)
    items_route(item_ids=[good.pk, bad.pk])
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.state == FeedbackItem.State.ROUTED
    assert bad.state == FeedbackItem.State.FAILED and "boom" in bad.error


def test_sweeper_reenqueues_only_old_received_items(settings):
    set_thresholds(0.0, "support")
    old, fresh = make_items(["stuck one", "brand new"])
    FeedbackItem.objects.filter(pk=old.pk).update(
        received_at=timezone.now() - timezone.timedelta(minutes=5)
    )
    # Celery is eager in unit tests: the sweep routes right away. Batches of one, so the
    # task does not fill up with the fresh item (test_a_small_batch_fills_up_...).
    settings.ROUTING_BATCH_SIZE = 1
    assert items_sweep() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.state == FeedbackItem.State.ROUTED
    assert fresh.state == FeedbackItem.State.RECEIVED


def test_author_reach_raises_priority_of_a_negative_post():
    author = AuthorFactory(followers=250_000)
    item = FeedbackItemFactory(
        author=author, source=author.source, body="Terrible, awful service. Worst experience ever."
    )
    items_route(item_ids=[item.pk])
    item.refresh_from_db()
    assert item.priority in {"high", "urgent"}


def test_rescoring_the_triage_inbox_routes_what_now_passes_and_leaves_the_rest():
    set_thresholds(1.01)
    sure, unsure = make_items(["I was charged twice, refund me", "hmm"])
    model = classification.classifier_active().model
    noise_threshold = model.thresholds["noise"]
    model.thresholds["noise"] = 1.01
    try:
        items_route(item_ids=[sure.pk, unsure.pk])
        sure.refresh_from_db()
        unsure.refresh_from_db()
        assert sure.state == unsure.state == FeedbackItem.State.TRIAGE
        high, low = sure.scores["support"], unsure.scores["support"]
        assert high > low
        # What a better model does: it is sure about the first post, not the second.
        set_thresholds((high + low) / 2, "support")
        summary = services.triage_rescore()
    finally:
        model.thresholds["noise"] = noise_threshold
    sure.refresh_from_db()
    unsure.refresh_from_db()
    assert sure.state == FeedbackItem.State.ROUTED
    assert unsure.state == FeedbackItem.State.TRIAGE
    case = Case.objects.get(item=sure)
    assert case.department.slug == "support" and case.explanation["rescored"] is True
    event = CaseEvent.objects.get(item=sure, kind=CaseEvent.Kind.ROUTED)
    assert event.data["model_version"] == case.model_version != ""
    assert summary.routed == 1 and summary.triage == 1


def test_activating_a_version_enqueues_the_triage_rescore(django_capture_on_commit_callbacks):
    version = classification.classifier_install_default()
    with django_capture_on_commit_callbacks() as callbacks:
        classification.classifier_activate(version=version)
    assert [c.__name__ for c in callbacks] == ["_enqueue_rescore"]
