"""The correction memory: staff decisions become labels that move the next similar post."""

from dataclasses import replace

import numpy as np
import pytest

from departments import services as case_services
from departments.models import Case, Department
from feedback.models import FeedbackItem
from routing.memory import (
    CorrectionMemory,
    MemorySettings,
    memory_fit,
    memory_reset,
    organisation_leads,
    organisation_thresholds,
    reaching,
)
from routing.models import RoutingLabel
from routing.services import items_route
from tests.factories import FeedbackItemFactory


def _unit(*values):
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


SETTINGS = MemorySettings(min_similarity=0.9, max_strength=0.9, decisive_vote=0.6)


def test_a_near_duplicate_follows_the_correction_and_a_stranger_is_untouched():
    memory = CorrectionMemory(SETTINGS)
    memory.replace([7], np.vstack([_unit(1, 0, 0)]), [{"marketing": 1.0}])
    thresholds = {"support": 0.8, "marketing": 1.0, "noise": 0.9}
    scores = [{"support": 0.4, "marketing": 0.1, "noise": 0.2}] * 2
    close, far = memory.apply(np.vstack([_unit(1, 0.05, 0), _unit(0, 1, 0)]), scores, thresholds)
    # Decisive: the marketing score reaches marketing's threshold (out of the model's reach).
    assert close.scores["marketing"] >= thresholds["marketing"]
    assert close.scores["support"] < 0.4  # not picked by the person: a weak "no"
    assert [n.item_id for n in close.neighbours] == [7]
    assert far.scores == scores[1] and not far.neighbours


def test_a_negative_label_keeps_a_department_out():
    memory = CorrectionMemory(SETTINGS)
    memory.replace([1], np.vstack([_unit(0, 0, 1)]), [{"product": -1.0}])
    thresholds = {"product": 0.6}
    [effect] = memory.apply(np.vstack([_unit(0, 0, 1)]), [{"product": 0.95}], thresholds)
    assert effect.scores["product"] < thresholds["product"]
    assert effect.votes["product"] <= -SETTINGS.decisive_vote


def test_capacity_keeps_the_newest_labels():
    memory = CorrectionMemory(MemorySettings(capacity=2))
    memory.replace([1, 2, 3], np.eye(3, dtype=np.float32), [{"a": 1.0}, {"b": 1.0}, {"c": 1.0}])
    assert memory.item_ids == [2, 3]


# -- organisation thresholds ----------------------------------------------------------------

LABELS = ("product", "support", "noise")
BASE = {"product": 0.9, "support": 0.9, "noise": 0.9}


def _band(support_scores, decisions):
    proba = np.array([[0.1, s, 0.1] for s in support_scores])
    return organisation_thresholds(LABELS, proba, decisions, BASE, MemorySettings())


def test_labels_below_the_threshold_that_were_right_bring_it_down():
    # Twenty posts scored 0.80 down to 0.61 for support, every one put in support by staff.
    scores = list(np.linspace(0.8, 0.61, 20))
    lowered = _band(scores, [{"support": 1.0}] * 20)
    assert lowered["support"] == pytest.approx(0.61, abs=1e-4)
    assert "product" not in lowered  # no post scored in product's band


def test_a_band_that_is_often_wrong_keeps_the_shipped_threshold():
    scores = list(np.linspace(0.8, 0.61, 20))
    # Every third one was routed elsewhere by staff: an implicit "not support".
    decisions = [{"product": 1.0} if i % 3 == 0 else {"support": 1.0} for i in range(20)]
    assert "support" not in _band(scores, decisions)
    # An explicit "not support" (a wrong-department dismissal) counts the same way.
    decisions = [{"support": -1.0} if i % 3 == 0 else {"support": 1.0} for i in range(20)]
    assert "support" not in _band(scores, decisions)


def test_precision_can_count_the_posts_above_the_shipped_threshold_too():
    # Forty posts over support's 0.9 that staff kept in support, then a band of ten below
    # it of which the top two were put elsewhere: 8 in 10 alone, 48 in 50 with those above.
    scores = [0.95] * 40 + list(np.linspace(0.8, 0.61, 10))
    decisions = [{"support": 1.0}] * 40 + [{"product": 1.0}] * 2 + [{"support": 1.0}] * 8
    proba = np.array([[0.1, s, 0.1] for s in scores])

    def lowered(band, above="support"):
        settings = MemorySettings(threshold_band=band, threshold_z=0.5)
        decided = [{above: 1.0}] * 40 + decisions[40:]
        return organisation_thresholds(LABELS, proba, decided, BASE, settings)

    assert "support" not in lowered("band")
    assert lowered("all")["support"] == pytest.approx(0.61, abs=1e-4)
    # Those above were wrong as often as not: what the department receives would not
    # reach the target, so nothing comes down.
    assert "support" not in lowered("all", above="product")


def test_too_few_labels_move_nothing_and_undecided_posts_do_not_count():
    assert _band([0.8] * 9, [{"support": 1.0}] * 9) == {}
    # Labels about another department only, with no positive decision: no evidence.
    assert _band([0.8] * 30, [{"product": -1.0}] * 30) == {}


def test_a_labelled_post_is_scored_without_its_own_label():
    # Two near-duplicates labelled support and a third post labelled product far away.
    memory = CorrectionMemory(SETTINGS)
    keys = np.vstack([_unit(1, 0, 0), _unit(1, 0.02, 0), _unit(0, 1, 0)])
    memory.replace([1, 2, 3], keys, [{"support": 1.0}, {"support": 1.0}, {"product": 1.0}])
    proba = np.array([[0.1, 0.4, 0.1], [0.1, 0.4, 0.1], [0.1, 0.4, 0.1]])
    held_out = memory.held_out_scores(LABELS, proba, [0, 1, 2])
    # The first two lift each other; the third has no neighbour but itself: unchanged.
    assert held_out[0, 1] > 0.4 and held_out[1, 1] > 0.4
    np.testing.assert_allclose(held_out[2], proba[2], atol=1e-4)
    # Its own label would have moved it: the leave-one-out is what keeps it still.
    [own] = memory.apply(keys[2:], [dict(zip(LABELS, proba[2], strict=True))])
    assert own.scores["product"] > 0.5


def _memory_of(support_scores, decisions, settings):
    """A memory of posts whose keys are all alike (each is every other's neighbour)."""
    memory = CorrectionMemory(settings)
    n = len(support_scores)
    keys = np.vstack([_unit(1, 0.001 * i, 0) for i in range(n)])
    memory.replace(list(range(n)), keys, decisions)
    return memory, np.array([[0.1, s, 0.1] for s in support_scores])


def test_organisation_thresholds_can_be_judged_on_the_memorys_scores():
    # Twenty support posts scored 0.45 by the model, and ten posts staff put in product
    # scored 0.46 for support: on the model's scores support's band is wrong a third of
    # the time; with their neighbours' votes the product posts fall out of the band.
    scores = [0.45] * 20 + [0.46] * 10
    decisions = [{"support": 1.0}] * 20 + [{"product": 1.0}] * 10
    # (The organisation head is off: this is about the neighbour votes alone.)
    by_model = replace(
        SETTINGS, threshold_scores="model", min_similarity=0.5, max_strength=0.3, head_weight=0.0
    )
    memory, proba = _memory_of(scores, decisions, by_model)
    assert "support" not in memory_fit(memory, LABELS, proba, BASE)
    by_memory = replace(by_model, threshold_scores="memory")
    memory, proba = _memory_of(scores, decisions, by_memory)
    assert memory_fit(memory, LABELS, proba, BASE)["support"] < 0.9


def test_organisation_thresholds_read_the_newest_labelled_posts_only():
    scores = [0.6] * 30
    decisions = [{"support": 1.0}] * 30
    settings = replace(SETTINGS, threshold_scores="model", threshold_sample=9)
    memory, proba = _memory_of(scores, decisions, settings)
    assert memory_fit(memory, LABELS, proba, BASE) == {}  # 9 < 10 labelled
    memory.settings = replace(settings, threshold_sample=10)
    assert memory_fit(memory, LABELS, proba, BASE) == {"support": 0.6}


@pytest.mark.django_db
def test_routing_uses_the_lower_of_the_model_and_organisation_thresholds():
    from types import SimpleNamespace

    from routing import memory as memory_module
    from routing.services import thresholds_for

    memory = CorrectionMemory()
    memory.thresholds = {"support": 0.55}
    classifier = SimpleNamespace(
        version="t", model=SimpleNamespace(thresholds={"support": 0.9, "product": 0.8})
    )
    saved = dict(memory_module._state)
    try:
        memory_module._state.update(memory=memory, model_version="t", seen=None)
        # The marker query decides whether the memory is fresh; pretend it is.
        memory_module._state["seen"] = memory_module._label_marker()
        support = SimpleNamespace(routing_threshold=None)
        product = SimpleNamespace(routing_threshold=None)
        thresholds = thresholds_for(classifier, {"support": support, "product": product})
        assert thresholds == {"support": 0.55, "product": 0.8}
        # An admin's hand-set threshold still wins.
        support.routing_threshold = 0.95
        assert thresholds_for(classifier, {"support": support})["support"] == 0.95
    finally:
        memory_module._state.clear()
        memory_module._state.update(saved)


def test_a_score_put_at_a_threshold_still_passes_it_once_rounded():
    # Scores are kept to 4 decimals; a threshold of 0.68682 must not become 0.6868.
    memory = CorrectionMemory(SETTINGS)
    memory.replace([7], np.vstack([_unit(1, 0, 0)]), [{"support": 1.0}])
    thresholds = {"support": 0.6868228346, "noise": 0.9}
    [effect] = memory.apply(
        np.vstack([_unit(1, 0, 0)]), [{"support": 0.2, "noise": 0.1}], thresholds
    )
    assert effect.scores["support"] >= thresholds["support"]
    assert reaching(0.12344, 0.5) == 0.1234 and reaching(0.6868228, 0.6868228) == 0.6869


# -- organisation leads --------------------------------------------------------------------


def _leads(rows, decisions, thresholds=BASE, **settings):
    proba = np.array(rows, dtype=np.float64)
    return organisation_leads(
        LABELS,
        proba,
        decisions,
        thresholds=thresholds,
        settings=replace(MemorySettings(), **settings),
    )


def test_a_clear_first_label_that_staff_confirmed_brings_a_lead():
    # Twenty posts under every threshold whose support score leads by 0.50 down to 0.31,
    # all put in support by staff: from a lead of 0.31 on, such posts route to support.
    rows = [[0.1, 0.1 + lead, 0.05] for lead in np.linspace(0.5, 0.31, 20)]
    assert _leads(rows, [{"support": 1.0}] * 20)["support"] == pytest.approx(0.31, abs=1e-3)
    # Every third one was put in product instead: no lead is good enough.
    mixed = [{"product": 1.0} if i % 3 == 0 else {"support": 1.0} for i in range(20)]
    assert _leads(rows, mixed) == {}
    # Too few, or leads under the floor, move nothing.
    assert _leads(rows[:9], [{"support": 1.0}] * 9) == {}
    assert _leads(rows, [{"support": 1.0}] * 20, lead_floor=0.6) == {}
    assert _leads(rows, [{"support": 1.0}] * 20, lead_rule=False) == {}


def test_posts_a_threshold_already_takes_do_not_count_for_a_lead():
    # The same posts, but support's threshold takes them all: they are routed already.
    rows = [[0.1, 0.1 + lead, 0.05] for lead in np.linspace(0.5, 0.31, 20)]
    assert _leads(rows, [{"support": 1.0}] * 20, {**BASE, "support": 0.4}) == {}


def test_the_lead_rule_routes_a_post_no_threshold_takes_to_its_clear_first_label():
    memory = CorrectionMemory(SETTINGS)
    memory.replace([7], np.vstack([_unit(0, 0, 1)]), [{"product": 1.0}])  # far from them all
    memory.leads = {"support": 0.4}
    thresholds = {"product": 0.9, "support": 0.9, "noise": 0.9}
    clear = {"product": 0.1, "support": 0.6, "noise": 0.1}
    close = {"product": 0.3, "support": 0.6, "noise": 0.1}
    taken = {"product": 0.95, "support": 0.6, "noise": 0.05}
    keys = np.vstack([_unit(1, 0, 0)] * 3)
    led, near, routed = memory.apply(keys, [clear, close, taken], thresholds)
    assert led.scores["support"] >= thresholds["support"] and led.lead == ("support", 0.5)
    assert near.scores == close and near.lead is None  # leads by 0.3 only
    assert routed.scores == taken and routed.lead is None  # product's threshold takes it
    # Routing passes the leads it allows (leads_for): none, nothing changes.
    [alone] = memory.apply(keys[:1], [clear], thresholds, leads={})
    assert alone.scores == clear


def test_an_admins_threshold_turns_the_lead_off_for_that_department():
    from types import SimpleNamespace

    from routing.services import leads_for

    memory = CorrectionMemory()
    memory.leads = {"support": 0.4, "product": 0.3, "noise": 0.5}
    departments = {
        "support": SimpleNamespace(routing_threshold=None),
        "product": SimpleNamespace(routing_threshold=0.8),
    }
    assert leads_for(memory, departments) == {"support": 0.4, "noise": 0.5}


# -- labels from the case services ---------------------------------------------------------


def _labels(item):
    return {
        (label.department, label.positive, label.kind)
        for label in RoutingLabel.objects.filter(item=item)
    }


@pytest.mark.django_db
def test_every_staff_decision_is_a_label(alice, bob):
    support = Department.objects.get(slug="support")
    product = Department.objects.get(slug="product")
    item = FeedbackItemFactory(body="x", state=FeedbackItem.State.TRIAGE, scores={"support": 0.4})
    [case] = case_services.triage_route(item=item, departments=[support], actor=alice)
    # Picking what the model ranked first is a confirmation, not a correction.
    assert _labels(item) == {("support", True, "confirmation"), ("noise", False, "confirmation")}

    case_services.case_reroute(case=case, to_department=product, actor=alice)
    assert ("product", True, "correction") in _labels(item)
    assert ("support", False, "correction") in _labels(item)

    product_case = Case.objects.get(item=item, department=product)
    case_services.case_set_status(
        case=product_case, status=Case.Status.DISMISSED, actor=bob, reason="spam"
    )
    assert ("noise", True, "correction") in _labels(item)
    assert ("product", False, "correction") in _labels(item)


@pytest.mark.django_db
def test_wrong_department_dismissal_is_a_negative_label_and_noise_a_positive_one(alice):
    item = FeedbackItemFactory(body="y", state=FeedbackItem.State.ROUTED)
    case = Case.objects.create(item=item, department=Department.objects.get(slug="support"))
    case_services.case_set_status(
        case=case, status=Case.Status.DISMISSED, actor=alice, reason="wrong_department"
    )
    assert _labels(item) == {("support", False, "correction")}
    other = FeedbackItemFactory(body="z", state=FeedbackItem.State.TRIAGE)
    case_services.triage_mark_noise(item=other, actor=alice)
    other.refresh_from_db()
    assert other.state == FeedbackItem.State.NOISE
    assert _labels(other) == {("noise", True, "correction")}


@pytest.mark.django_db
def test_a_correction_changes_the_next_similar_posts_route(alice):
    memory_reset()
    Department.objects.update(routing_threshold=1.01)  # the model alone routes nothing
    text = "The lamp in the hotel lobby keeps flickering every evening"
    first = FeedbackItemFactory(body=text, external_id="m-1")
    items_route(item_ids=[first.pk])
    first.refresh_from_db()
    assert first.state == FeedbackItem.State.TRIAGE
    marketing = Department.objects.get(slug="marketing")
    case_services.triage_route(item=first, departments=[marketing], actor=alice)

    again = FeedbackItemFactory(body=text + "!", external_id="m-2")
    unrelated = FeedbackItemFactory(
        body="Payroll sent my tax form to the wrong address", external_id="m-3"
    )
    items_route(item_ids=[again.pk, unrelated.pk])
    again.refresh_from_db()
    unrelated.refresh_from_db()
    assert again.state == FeedbackItem.State.ROUTED
    case = Case.objects.get(item=again)
    assert case.department == marketing
    assert case.explanation["similar"][0]["item"] == first.pk
    assert unrelated.state == FeedbackItem.State.TRIAGE
    memory_reset()


@pytest.mark.django_db
def test_routing_applies_the_organisation_leads_and_says_so(alice, monkeypatch):
    from routing import memory as memory_module

    memory_reset()
    # One labelled post, so the memory is in play, and a lead for marketing as if this
    # team's decisions had shown it (the fit itself: the organisation_leads tests above).
    labelled = FeedbackItemFactory(
        body="Payroll sent my tax form to the wrong address", state=FeedbackItem.State.TRIAGE
    )
    hr = Department.objects.get(slug="hr")
    case_services.triage_route(item=labelled, departments=[hr], actor=alice)
    monkeypatch.setattr(memory_module, "organisation_leads", lambda *a, **k: {"marketing": 0.1})
    # Marketing first, under every threshold (0.43, the labelled HR post lifts HR to 0.30).
    text = "I was at your store on Friday"

    def routed(external_id):
        item = FeedbackItemFactory(body=text, external_id=external_id)
        items_route(item_ids=[item.pk])
        item.refresh_from_db()
        return item

    led = routed("lead-1")
    assert led.state == FeedbackItem.State.ROUTED
    case = Case.objects.get(item=led)
    assert case.department.slug == "marketing" and case.explanation["lead"] >= 0.1
    # An admin's threshold for marketing: the admin decides, the lead is off.
    Department.objects.filter(slug="marketing").update(routing_threshold=0.95)
    assert routed("lead-2").state == FeedbackItem.State.TRIAGE
    memory_reset()


# -- the organisation head ---------------------------------------------------------------


def _clusters(n_each, spread, seed=0):
    """Posts around two directions of a 3-d key space: support around x, product around y."""
    rng = np.random.default_rng(seed)
    keys, decisions = [], []
    for axis, dept in ((0, "support"), (1, "product")):
        for _ in range(n_each):
            v = np.zeros(3)
            v[axis] = 1.0
            v += rng.normal(scale=spread, size=3)
            keys.append(v / np.linalg.norm(v))
            decisions.append({dept: 1.0})
    return np.asarray(keys, dtype=np.float32), decisions


def test_the_head_learns_what_the_teams_labels_mean_beyond_near_duplicates():
    keys, decisions = _clusters(20, 0.3)
    # Neighbour votes only for near-duplicates here, so what moves the score is the head.
    settings = replace(SETTINGS, min_similarity=0.999)
    memory = CorrectionMemory(settings)
    memory.replace(list(range(len(keys))), keys, decisions)
    flat = np.full((len(keys), 3), 0.3)  # the model cannot tell them apart
    memory_fit(memory, LABELS, flat, BASE)
    assert memory.head is not None and set(memory.head.labels) == {"support", "product"}
    new = np.vstack([_unit(1, 0.2, 0.1), _unit(0.1, 1, 0.2)])
    scores = [dict(zip(LABELS, (0.3, 0.3, 0.3), strict=True))] * 2
    towards_support, towards_product = memory.apply(new, scores)
    assert not towards_support.neighbours  # no near-duplicate: the head alone
    assert towards_support.scores["support"] > 0.6 > towards_support.scores["product"]
    assert towards_product.scores["product"] > 0.6 > towards_product.scores["support"]
    assert towards_support.head["support"] > 0.8
    # Off (head_weight 0), the same labels leave the scores where the model put them.
    off = CorrectionMemory(replace(settings, head_weight=0.0))
    off.replace(list(range(len(keys))), keys, decisions)
    memory_fit(off, LABELS, flat, BASE)
    assert off.head is None
    assert off.apply(new, scores)[0].scores == scores[0]


def test_the_head_waits_for_enough_labels_and_skips_departments_without_both_kinds():
    keys, decisions = _clusters(10, 0.3)
    few = CorrectionMemory(replace(SETTINGS, head_min_labelled=30))
    few.replace(list(range(20)), keys, decisions)
    memory_fit(few, LABELS, np.full((20, 3), 0.3), BASE)
    assert few.head is None  # 20 labelled posts < 30
    enough = CorrectionMemory(replace(SETTINGS, head_min_labelled=20))
    enough.replace(list(range(20)), keys, decisions)
    memory_fit(enough, LABELS, np.full((20, 3), 0.3), BASE)
    # Noise has no labelled post at all: no head for it, whatever the others have.
    assert enough.head is not None and "noise" not in enough.head.labels


@pytest.mark.django_db
def test_the_head_and_thresholds_are_refitted_at_most_every_few_seconds(alice, monkeypatch):
    from routing import memory as memory_module
    from routing.classification import classifier_active

    fits = []
    real = memory_module.memory_fit
    monkeypatch.setattr(
        memory_module, "memory_fit", lambda *a, **k: fits.append(1) or real(*a, **k)
    )
    memory_reset()
    support = Department.objects.get(slug="support")
    classifier = classifier_active()

    def label_one(body):
        item = FeedbackItemFactory(body=body, state=FeedbackItem.State.TRIAGE)
        case_services.triage_route(item=item, departments=[support], actor=alice)

    label_one("my parcel never arrived")
    memory_module.memory_for(classifier)
    label_one("where is my order")
    memory_module.memory_for(classifier)  # a new label: votes at once, the fit is recent
    assert len(fits) == 1
    assert len(memory_module.memory_for(classifier)) == 2
    memory_module.memory_refit()
    label_one("the courier lost my package")
    memory_module.memory_for(classifier)
    assert len(fits) == 2
    # A burst of labels within the time, then silence: the next call after the time is
    # up refits, with no new label to trigger it.
    label_one("my refund is late")
    memory_module.memory_for(classifier)
    assert len(fits) == 2
    monkeypatch.setattr(memory_module, "REFIT_SECONDS", 0.0)
    memory_module.memory_for(classifier)
    assert len(fits) == 3
    memory_module.memory_for(classifier)  # fitted and nothing changed: no work
    assert len(fits) == 3
    # An erased labelled post the fit learnt from refits at once, however recent the fit.
    monkeypatch.setattr(memory_module, "REFIT_SECONDS", 3600.0)
    RoutingLabel.objects.filter(item__body="my refund is late").delete()
    label_one("the box came damaged")
    memory_module.memory_for(classifier)
    assert len(fits) == 4
    memory_reset()
