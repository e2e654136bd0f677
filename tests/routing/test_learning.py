"""Learning from staff: decisions become labels; a retrain is activated only if not worse;
workers pick up a newly activated version; corrections from an unseen source help."""

import csv
import random
from pathlib import Path

import pytest

from departments.models import Case, Department
from departments.services import case_reroute, case_set_status, case_share, triage_route
from feedback.models import FeedbackItem
from routing import classification
from routing.classification import classifier_activate, classifier_active
from routing.classifier import evaluate_model, train_model
from routing.labels import label_record
from routing.learning import classifier_retrain, labels_from_staff
from routing.models import ClassifierVersion
from tests.factories import FeedbackItemFactory

pytestmark = pytest.mark.django_db
DATASET = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "train_provenance.csv"


def dept(slug):
    return Department.objects.get(slug=slug)


def case_in(slug, body="text", **fields):
    item = FeedbackItemFactory(body=body, state="routed")
    return Case.objects.create(item=item, department=dept(slug), routed_by="model", **fields)


def test_staff_decisions_become_labels(alice, bob):
    rerouted = case_in("support", "The export button crashes the app")
    case_reroute(case=rerouted, to_department=dept("product"), actor=alice)
    shared = case_in("support", "Refund and also your ad was misleading")
    case_share(case=shared, to_department=dept("marketing"), actor=alice)
    resolved = case_in("support", "Where is my parcel")
    case_set_status(case=resolved, status="resolved", actor=alice)
    spam = case_in("support", "WIN a prize now")
    case_set_status(case=spam, status="dismissed", reason="spam", actor=alice)
    wrong = case_in("product", "Wrong place for this")
    case_set_status(case=wrong, status="dismissed", reason="wrong_department", actor=bob)
    triaged = FeedbackItemFactory(body="Are you hiring?", state="triage")
    triage_route(item=triaged, departments=[dept("hr")], actor=alice)
    labels = {(label.text, label.department, label.positive) for label in labels_from_staff()}
    assert labels == {
        ("The export button crashes the app", "product", True),
        ("The export button crashes the app", "support", False),
        ("Refund and also your ad was misleading", "marketing", True),
        ("Where is my parcel", "support", True),
        ("WIN a prize now", "noise", True),
        ("WIN a prize now", "support", False),
        # "wrong department" is a label too: a negative one
        ("Wrong place for this", "product", False),
        ("Are you hiring?", "hr", True),
        ("Are you hiring?", "noise", False),
    }
    weights = {label.text: label.weight for label in labels_from_staff() if label.positive}
    # Resolving what the model routed confirms it; a confirmation weighs less.
    assert weights["Where is my parcel"] < weights["The export button crashes the app"]


def test_model_decisions_are_not_labels():
    case_in("support", "routed by the model only")
    assert labels_from_staff() == []


def write_csv(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "department"])
        writer.writerows(rows)
    return path


SENTENCES = {
    "support": [
        "my order never arrived",
        "I was charged twice for one order",
        "please refund my payment",
        "cannot log in to my account",
        "the delivery is late again",
        "my parcel is missing",
    ],
    "product": [
        "the app crashes on start",
        "please add a dark mode",
        "the search feature is broken",
        "would love an export option",
        "the update broke the settings page",
        "bug when saving a recipe",
    ],
    "hr": [
        "are you hiring in London",
        "my manager never listens to staff",
        "how do I apply for a job",
        "great colleagues but low salary",
        "when is the next payday",
        "interview process was slow",
    ],
    "marketing": [
        "love your brand so much",
        "is there a promo code this week",
        "we would like to partner on a campaign",
        "your new advert is brilliant",
        "influencer collaboration request",
        "best company ever, thank you",
    ],
    "noise": [
        "what is the weather tomorrow",
        "tell me a joke",
        "free prize click here",
        "see you at the pub later",
        "txt WIN to claim your reward",
        "happy birthday mate",
    ],
}


def honest_model_active(tmp_path):
    rows = [(t, d) for d, texts in SENTENCES.items() for t in texts] * 4
    model = train_model([t for t, _ in rows], [d for _, d in rows])
    model.save(tmp_path / "honest.npz")
    version = classification.classifier_version_create(
        model=model, artifact=(tmp_path / "honest.npz").read_bytes()
    )
    classifier_activate(version=version)
    return version


def give_labels(rows, actor=None, prefix="l"):
    """Staff labels through the recorder the case services use, oldest first."""
    for n, (text, department) in enumerate(rows):
        item = FeedbackItemFactory(body=text, external_id=f"{prefix}-{n}", state="routed")
        label_record(item_id=item.pk, actor=actor, action="test", positive=[department])


HONEST = [(t, d) for d, texts in SENTENCES.items() for t in texts]


def test_retrain_that_scores_worse_is_not_activated(tmp_path):
    active = honest_model_active(tmp_path)
    rng = random.Random(1)
    garbage = [(text, rng.choice(list(SENTENCES))) for text, _ in HONEST] * 3
    give_labels(garbage, prefix="old")  # older labels, shuffled: what it learns is worse
    give_labels(HONEST, prefix="new")  # the newest labels: the test set
    result = classifier_retrain(holdout=0.25)
    assert result.test_labels == len(HONEST)
    assert result.candidate_f1 < result.active_f1, result.reason
    assert not result.activated, result.reason
    assert classifier_active().version == active.version
    stored = ClassifierVersion.objects.get(version=result.version)
    assert not stored.active
    assert stored.metrics["retrain_holdout"]["macro_f1"] == pytest.approx(result.candidate_f1)


def test_retrain_that_is_not_worse_is_activated_on_top_of_the_frozen_base(tmp_path):
    base = honest_model_active(tmp_path)
    give_labels(HONEST * 3, prefix="a")
    give_labels(HONEST, prefix="b")
    result = classifier_retrain(holdout=0.2)
    assert result.activated, result.reason
    active = classifier_active()
    assert active.version == result.version
    summary = ClassifierVersion.objects.get(version=result.version).training_summary
    assert summary["base_version"] == base.version
    # The next retrain may only compare on labels neither version trained on: the 24 the
    # first one held out (of which the newest 10, the minimum, are held out again).
    again = classifier_retrain(holdout=0.2)
    assert again.test_labels == 10, again.reason


def test_retrain_waits_for_enough_new_labels(tmp_path):
    honest_model_active(tmp_path)
    give_labels(HONEST[:5], prefix="few")
    result = classifier_retrain(holdout=0.2)
    assert not result.version and "needed to compare" in result.reason


def test_retraining_reads_no_data_file(tmp_path, monkeypatch):
    import builtins

    honest_model_active(tmp_path)
    give_labels(HONEST * 2, prefix="c")
    opened = []
    real_open = builtins.open

    def watching_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", watching_open)
    result = classifier_retrain(holdout=0.2)
    assert result.version
    assert not [path for path in opened if "datasets" in path or path.endswith(".csv")]


def test_workers_load_a_newly_activated_version_without_restart(tmp_path):
    first = classifier_active()
    rows = [(t, d) for d, texts in SENTENCES.items() for t in texts] * 4
    model = train_model([t for t, _ in rows], [d for _, d in rows])
    model.save(tmp_path / "m.npz")
    version = classification.classifier_version_create(
        model=model, artifact=(tmp_path / "m.npz").read_bytes()
    )
    classifier_activate(version=version)
    assert classifier_active().version == version.version != first.version
    assert ClassifierVersion.objects.filter(active=True).count() == 1
    classifier_activate(version=ClassifierVersion.objects.get(version=first.version))  # rollback
    assert classifier_active().version == first.version


@pytest.mark.slow
def test_corrections_from_an_unseen_source_raise_its_macro_f1(tmp_path, alice):
    """Train without one source; staff correct 300 of its posts; the organisation layer
    fitted on those corrections classifies the rest of that source better."""
    assert DATASET.exists(), f"labelled data expected at {DATASET}"
    with open(DATASET, newline="") as handle:
        rows = list(csv.DictReader(handle))
    unseen = "nlbse24_github_issues"  # GitHub issues: product (bug/feature) and support
    rng = random.Random(7)
    base = [r for r in rows if r["source"] != unseen]
    rng.shuffle(base)
    base = base[:4000]
    target = [r for r in rows if r["source"] == unseen]
    rng.shuffle(target)
    corrections, rest = target[:300], target[300:]

    initial = train_model([r["text"] for r in base], [r["department"] for r in base])
    initial.save(tmp_path / "initial.npz")
    version = classification.classifier_version_create(
        model=initial, artifact=(tmp_path / "initial.npz").read_bytes()
    )
    classifier_activate(version=version)
    rest_texts, rest_labels = [r["text"] for r in rest], [r["department"] for r in rest]
    before = evaluate_model(initial, rest_texts, rest_labels)["macro_f1"]

    # Staff correct the model: every post lands in the department the model picked and is
    # rerouted by a person when that was wrong, or resolved when it was right.
    for department in Department.objects.all():
        alice.memberships.get_or_create(department=department)
    predicted = initial.predict([r["text"] for r in corrections])
    for row, guess in zip(corrections, predicted, strict=True):
        guess = guess if guess != "noise" else "support"
        item = FeedbackItem.objects.create(
            source_id=FeedbackItemFactory().source_id,
            external_id=f"c-{rng.random()}",
            body=row["text"],
            state="routed",
        )
        case = Case.objects.create(item=item, department=dept(guess), routed_by="model")
        if guess == row["department"]:
            case_set_status(case=case, status="resolved", actor=alice)
        else:
            case_reroute(case=case, to_department=dept(row["department"]), actor=alice)

    result = classifier_retrain(holdout=0.2)
    retrained = classification.model_from_bytes(
        ClassifierVersion.objects.get(version=result.version).artifact
    )
    after = evaluate_model(retrained, rest_texts, rest_labels)["macro_f1"]
    assert result.staff_labels >= 200
    assert after > before + 0.03, (before, after)
