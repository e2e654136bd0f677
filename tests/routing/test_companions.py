"""Companion departments: a second department for a post the model routes to another one
(fan-out for posts about two things), fitted on held-out single-label posts."""

import numpy as np
import pytest

from departments.models import Department
from routing.classifier.evaluation import companion_of, routed_sets
from routing.classifier.model import LABELS
from routing.classifier.training import choose_companion_thresholds, companion_figures
from routing.enrichment import signals_compute
from routing.rules import rule_compile
from routing.services import decision_make
from tests.factories import FeedbackItemFactory

THRESHOLDS = {"product": 0.8, "support": 0.8, "hr": 0.8, "marketing": 0.8, "noise": 0.8}
PRODUCT, SUPPORT = LABELS.index("product"), LABELS.index("support")


def held_out(rng, n=1000):
    """Support posts the model is sure of, with a product score that is usually low: on
    the 10 % with a product score over 0.5 it would be wrong to add product."""
    proba = np.full((n, len(LABELS)), 0.05)
    proba[:, SUPPORT] = 0.9
    proba[:, PRODUCT] = np.where(rng.random(n) < 0.1, rng.uniform(0.5, 0.75, n), 0.1)
    return proba, np.full(n, SUPPORT)


def test_companion_thresholds_add_a_wrong_department_to_at_most_the_allowed_share():
    proba, targets = held_out(np.random.default_rng(3))
    companions = choose_companion_thresholds(proba, targets, THRESHOLDS, wrong_share=0.02)
    limit = companions["product"]
    wrong = np.mean(proba[:, PRODUCT] >= limit)
    assert 0.5 < limit < 0.8 and 0.015 <= wrong <= 0.02
    # With no wrong share allowed the companion sits above every wrong score.
    strict = choose_companion_thresholds(proba, targets, THRESHOLDS, wrong_share=0.0)
    assert strict["product"] > proba[:, PRODUCT].max()
    # Every routed post here is support's own: nothing says how support would do as a
    # companion, so it gets none; noise is never one. HR is never wrong here: the floor.
    assert "support" not in strict and "noise" not in companions
    assert strict["hr"] == 0.33


def test_a_companion_threshold_never_falls_below_the_floor():
    proba, targets = held_out(np.random.default_rng(4))
    proba[:, PRODUCT] = 0.1  # never wrong above 0.1: the floor decides
    companions = choose_companion_thresholds(proba, targets, THRESHOLDS, floor=0.33)
    assert companions["product"] == 0.33


def test_one_companion_joins_a_routed_post_only():
    companions = {"product": 0.4, "marketing": 0.4, "hr": 0.4}
    scores = {"support": 0.9, "product": 0.5, "marketing": 0.45, "hr": 0.1, "noise": 0.6}
    assert companion_of(scores, {"support"}, companions) == "product"  # the higher one
    assert companion_of(scores, set(), companions) is None  # nothing routed: triage stays
    assert (
        companion_of({**scores, "product": 0.3, "marketing": 0.3}, {"support"}, companions) is None
    )
    proba = np.array([[scores[label] for label in LABELS]])
    assert routed_sets(proba, LABELS, THRESHOLDS) == [frozenset({"support"})]
    assert routed_sets(proba, LABELS, THRESHOLDS, companions) == [frozenset({"support", "product"})]


def test_companion_figures_count_pairs_routed_to_both():
    rng = np.random.default_rng(5)
    n = 400
    targets = np.where(np.arange(n) % 2, SUPPORT, PRODUCT)
    proba = np.full((n, len(LABELS)), 0.05)
    sure = rng.random(n) < 0.5  # half are sure of their own department, half lean to it
    proba[np.arange(n), targets] = np.where(sure, 0.9, 0.6)
    figures = companion_figures(proba, targets, THRESHOLDS, {"product": 0.5, "support": 0.5})
    # A pair is routed to both when one of its two posts is sure (3 of 4 pairs) with the
    # companion, and only when both are (1 of 4) without it.
    assert figures["both_routed_pairs"] == pytest.approx(0.75, abs=0.06)
    assert figures["both_routed_pairs_without"] == pytest.approx(0.25, abs=0.06)
    assert figures["wrong_extra_single"] == 0.0


@pytest.mark.django_db
def test_routing_adds_the_companion_and_a_rule_can_still_block_it():
    departments = {d.slug: d for d in Department.objects.all()}
    item = FeedbackItemFactory(body="The app crashes at checkout and I want my refund")
    scores = {"product": 0.55, "support": 0.92, "hr": 0.02, "marketing": 0.1, "noise": 0.03}
    common = {
        "scores": scores,
        "signals": signals_compute(text=item.body, followers=None),
        "thresholds": THRESHOLDS,
        "departments": departments,
    }
    alone = decision_make(item, rules=[], **common)
    assert set(alone.targets) == {"support"}
    both = decision_make(item, rules=[], companions={"product": 0.5}, **common)
    assert set(both.targets) == {"support", "product"}
    assert both.targets["product"][0] == "model"
    never = rule_compile(
        pk=1,
        name="no product from the shop",
        match="all",
        conditions=[{"field": "body", "op": "contains_any", "value": ["refund"]}],
        actions=[{"type": "never_route_to", "department": "product"}],
        departments=list(departments),
    )
    blocked = decision_make(item, rules=[never], companions={"product": 0.5}, **common)
    assert set(blocked.targets) == {"support"}


def test_held_out_scores_take_the_parts_as_routing_does():
    from routing.classifier.features import FeatureConfig
    from routing.classifier.training import _Parts

    texts = [
        "The app crashes when I open it. Also, are you hiring engineers this year?",
        "one two three four five six seven eight nine ten",  # no sentence break: halves
        "short",
    ]
    parts = _Parts.of(texts, FeatureConfig(), None)
    assert set(parts.owner.tolist()) == {0, 1}
    assert not parts.halves[parts.owner == 0].any() and parts.halves[parts.owner == 1].all()
    identity = np.tile(np.array([1.0, 0.0]), (len(LABELS), 1))
    parts.scores = np.full((len(parts.owner), len(LABELS)), 5.0)  # sure of every label
    whole = np.full((3, len(LABELS)), 0.1)
    out = parts.with_parts(whole, identity)
    # Sentences always count; halves only where the post leans two ways (second >= 0.3).
    assert (out[0] > 0.99).all() and (out[1] == 0.1).all() and (out[2] == 0.1).all()
    whole[1, :2] = 0.4
    assert (parts.with_parts(whole, identity)[1] > 0.99).all()


@pytest.mark.django_db
def test_no_companion_for_a_department_whose_threshold_an_admin_set():
    from types import SimpleNamespace

    from routing.services import companions_for

    classifier = SimpleNamespace(
        model=SimpleNamespace(companion_thresholds={"product": 0.5, "marketing": 0.6})
    )
    Department.objects.filter(slug="marketing").update(routing_threshold=1.01)
    departments = {d.slug: d for d in Department.objects.all()}
    thresholds = {**THRESHOLDS, "marketing": 1.01, "product": 0.45}
    # Product's own threshold is already below its companion's; marketing is the admin's.
    assert companions_for(classifier, thresholds, departments) == {}
    assert companions_for(classifier, THRESHOLDS, departments) == {"product": 0.5}


@pytest.mark.django_db
def test_no_open_department_joins_a_sealed_departments_case_as_its_companion():
    # A support case that exists because HR's does would tell support that HR has one.
    departments = {d.slug: d for d in Department.objects.all()}
    assert departments["hr"].sealed
    item = FeedbackItemFactory(body="My manager shouts at me and my last invoice is wrong")
    common = {
        "signals": signals_compute(text=item.body, followers=None),
        "thresholds": THRESHOLDS,
        "departments": departments,
        "rules": [],
        "companions": {"support": 0.5, "hr": 0.5},
    }
    hr_first = {"product": 0.05, "support": 0.6, "hr": 0.9, "marketing": 0.05, "noise": 0.05}
    assert set(decision_make(item, scores=hr_first, **common).targets) == {"hr"}
    # The other way round HR may join: support sees nothing of it.
    support_first = {**hr_first, "support": 0.9, "hr": 0.6}
    assert set(decision_make(item, scores=support_first, **common).targets) == {"support", "hr"}
    assert companion_of({"hr": 0.9, "support": 0.6}, {"hr"}, {"support": 0.5}) == "support"


def test_thresholds_are_chosen_on_held_out_scores_taken_with_the_parts(monkeypatch):
    """Routing takes each label's score as the highest of the post's and its sentences'
    (model.with_segments); the thresholds are chosen on held-out scores taken the same
    way, not on whole posts only (`TrainParams.thresholds_on_parts`)."""
    from routing.classifier import TrainParams, train_model, training
    from tests.routing.test_classifier_lib import CORPUS, SMALL

    texts, labels, groups = [], [], []
    for label in LABELS:
        for index, text in enumerate(CORPUS[label]):
            # Two sentences, so every post has parts; sources to hold out, two per label.
            texts.append(f"{text}. {CORPUS[LABELS[(LABELS.index(label) + 1) % 5]][index]}")
            labels.append(label)
            groups.append(f"{label}-{index % 2}")
    seen: dict[bool, np.ndarray] = {}

    def spy(on_parts):
        def choose(proba, *args, **kwargs):
            seen[on_parts] = proba.copy()
            return real(proba, *args, **kwargs)

        return choose

    real = training.choose_thresholds
    for on_parts in (False, True):
        monkeypatch.setattr(training, "choose_thresholds", spy(on_parts))
        params = TrainParams(
            features=SMALL.features, C=SMALL.C, folds=3, thresholds_on_parts=on_parts
        )
        train_model(texts, labels, groups=groups, params=params)
    whole, with_parts = seen[False], seen[True]
    assert whole.shape == with_parts.shape == (len(texts), len(LABELS))
    # Each label the highest of the post's and its parts': never lower, higher somewhere.
    assert (with_parts >= whole - 1e-12).all()
    assert (with_parts > whole + 1e-6).any()
