"""Erasing an author on request: nothing of their posts is left anywhere, nobody else's
data moves, a dry run changes nothing, and the admin action does the same as the command.

The world: Quentin (@qwhistle) wrote two posts that were routed to HR and support, noted,
resolved and rerouted (cases, events, notes, labels, webhook deliveries, an access-log
entry); Olga wrote one post that went through the same, and one of her cases cites
Quentin's post as a similar one.
"""

import io

import pytest
from django.apps import apps
from django.contrib.postgres.fields import ArrayField
from django.core.management import CommandError, call_command
from django.db import models
from django.db.models import GeneratedField, TextField
from django.db.models.functions import Cast

from departments import services as case_services
from departments.models import Case, CaseEvent, Department, Note
from feedback.models import Author, FeedbackItem
from privacy.models import Erasure, SealedAccess
from privacy.services import ERASED_KINDS, sealed_access_record
from routing.memory import memory_reset
from routing.models import RoutingLabel
from routing.services import items_route
from tests.factories import FeedbackItemFactory, UserFactory
from webhooks.models import Delivery
from webhooks.selectors import subscription_targets_forget
from webhooks.services import subscription_create

pytestmark = pytest.mark.django_db

QUENTIN_WORD = "Quillonzak"  # in both of his posts, and in a note quoting one
QUENTIN_POSTS = [
    f"{QUENTIN_WORD} here: my supervisor at depot 12 withholds overtime pay and the app crashed",
    f"{QUENTIN_WORD} again: pay slip wrong for March and the app crashed on upload",
]
OLGA_WORD = "Oxtavarin"
OLGA_POST = f"{OLGA_WORD}: pay slip wrong and the app crashed when I opened it"

TEXT_FIELDS = (models.CharField, models.TextField, models.JSONField, ArrayField, GeneratedField)


def columns_containing(text: str) -> set[str]:
    """Every text, JSON, array or generated (search vector) column of every table of the
    project, Django's own included, that holds `text` in any row (ignoring case)."""
    found = set()
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if not isinstance(field, TEXT_FIELDS):
                continue
            rows = model._default_manager.annotate(_as_text=Cast(field.name, TextField()))
            if rows.filter(_as_text__icontains=text).exists():
                found.add(f"{model._meta.label}.{field.name}")
    return found


@pytest.fixture
def world(alice, hana, source):
    Department.objects.update(routing_threshold=1.01)
    Department.objects.filter(slug__in=["hr", "support"]).update(routing_threshold=0.0)
    subscription_targets_forget()
    # Created by a superuser, so the HR tool is approved for HR's events at once.
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    for name, departments in (("everything", []), ("hr tool", ["hr"])):
        subscription_create(
            name=name,
            url=f"https://hooks.example.com/{name.replace(' ', '-')}",
            events=["item.routed", "case.status_changed", "case.rerouted"],
            departments=Department.objects.filter(slug__in=departments),
            created_by=root,
        )
    quentin = Author.objects.create(source=source, handle="@qwhistle", name="Quentin Marsh")
    olga = Author.objects.create(source=source, handle="olga", name="Olga")
    mine = [FeedbackItemFactory(source=source, author=quentin, body=b) for b in QUENTIN_POSTS]
    hers = FeedbackItemFactory(source=source, author=olga, body=OLGA_POST)
    items_route(item_ids=[*(i.pk for i in mine), hers.pk])
    product = Department.objects.get(slug="product")
    for item in [*mine, hers]:
        hr_case = Case.objects.get(item=item, department__slug="hr")
        support_case = Case.objects.get(item=item, department__slug="support")
        case_services.note_add(item=item, actor=hana, body=f"Quoting: {item.body[:40]}")
        case_services.case_set_status(case=hr_case, status="resolved", actor=hana)
        case_services.case_reroute(case=support_case, to_department=product, actor=alice)
        sealed_access_record(viewer=hana, cases=[hr_case], via="page")
    citing = Case.objects.get(item=hers, department__slug="hr")
    citing.explanation = {
        **citing.explanation,
        "similar": [{"item": mine[0].pk, "similarity": 0.9}, {"item": hers.pk, "similarity": 0.5}],
    }
    citing.save(update_fields=["explanation"])
    yield {"quentin": quentin, "olga": olga, "mine": mine, "hers": hers, "citing": citing}
    subscription_targets_forget()


def olgas_rows() -> dict[str, list]:
    """Everything that belongs to Olga's post, as comparable values."""
    item = FeedbackItem.objects.get(author__handle="olga")
    return {
        "item": list(FeedbackItem.objects.filter(pk=item.pk).values()),
        "cases": list(Case.objects.filter(item=item).order_by("pk").values()),
        "events": list(CaseEvent.objects.filter(item=item).order_by("pk").values()),
        "notes": list(Note.objects.filter(item=item).order_by("pk").values()),
        "labels": list(RoutingLabel.objects.filter(item=item).order_by("pk").values()),
        "deliveries": list(
            Delivery.objects.filter(payload__data__item__id=item.pk).order_by("pk").values()
        ),
        "access": list(SealedAccess.objects.filter(item=item).values()),
    }


def erase(*args) -> str:
    out = io.StringIO()
    call_command("erase_author", *args, stdout=out)
    return out.getvalue()


def test_after_erasure_no_row_anywhere_holds_the_authors_posts(world):
    # The positive control: the scan does find the posts wherever the product put them.
    assert {
        "feedback.FeedbackItem.body",
        "feedback.FeedbackItem.search_vector",
        "departments.Note.body",
        "departments.CaseEvent.note",
        "webhooks.Delivery.payload",
    } <= columns_containing(QUENTIN_WORD)
    assert "feedback.Author.handle" in columns_containing("qwhistle")
    assert RoutingLabel.objects.filter(item__in=world["mine"]).exists()
    olga_before, olga_columns = olgas_rows(), columns_containing(OLGA_WORD)
    erased_ids = [i.pk for i in world["mine"]]

    output = erase("--handle", "qwhistle")

    for text in (QUENTIN_WORD, "qwhistle", "Quentin Marsh"):
        assert columns_containing(text) == set(), text
    assert not Author.objects.filter(pk=world["quentin"].pk).exists()
    assert not FeedbackItem.objects.filter(pk__in=erased_ids).exists()
    assert not RoutingLabel.objects.filter(item_id__in=erased_ids).exists()
    assert not Delivery.objects.filter(payload__data__item__id__in=erased_ids).exists()
    # Who looked stays in HR's access log; what they looked at does not.
    assert SealedAccess.objects.filter(item=None, case=None).count() == 2
    # Olga's case no longer cites Quentin's post; its other citation stays.
    world["citing"].refresh_from_db()
    assert world["citing"].explanation["similar"] == [{"item": world["hers"].pk, "similarity": 0.5}]

    # Nobody else's data moved (but for that one citation).
    olga_after = olgas_rows()
    for case in olga_before["cases"]:
        if case["id"] == world["citing"].pk:
            case["explanation"] = world["citing"].explanation
    assert olga_after == olga_before
    assert columns_containing(OLGA_WORD) == olga_columns

    # The record says that it happened and how much, not what.
    erasure = Erasure.objects.get()
    assert erasure.via == "command" and erasure.requested_by is None
    assert erasure.counts == {
        "access_log_unlinked": 2,
        "similar_links": 1,
        "webhook_deliveries": erasure.counts["webhook_deliveries"],
        "routing_labels": erasure.counts["routing_labels"],
        "case_events": erasure.counts["case_events"],
        "notes": 2,
        "cases": 6,  # HR and support for each post, and product's after the reroute
        "items": 2,
        "authors": 1,
    }
    assert erasure.counts["webhook_deliveries"] >= 6 and erasure.counts["routing_labels"] >= 4
    assert "Erased 1 author(s)" in output and f"erasure #{erasure.pk}" in output
    assert any(line.split() == ["cases", "6"] for line in output.splitlines())


def test_a_dry_run_counts_the_same_and_deletes_nothing(world):
    def snapshot():
        return {
            model._meta.label: model._default_manager.count()
            for model in (Author, FeedbackItem, Case, CaseEvent, Note, RoutingLabel, Delivery)
        } | {"unlinked": SealedAccess.objects.filter(item=None).count()}

    before = snapshot()
    output = erase("--handle", "@QWhistle", "--source", "web", "--dry-run")
    assert snapshot() == before and not Erasure.objects.exists()
    assert "Would erase 1 author(s)" in output and "Dry run: nothing was changed." in output
    dry = {
        line.rsplit(maxsplit=1)[0].strip(): int(line.split()[-1])
        for line in output.splitlines()
        if line.startswith("  ") and not line.startswith("  #")
    }
    erase("--author", str(world["quentin"].pk))
    real = Erasure.objects.get().counts
    assert dry == {label: real[kind] for kind, label in ERASED_KINDS.items()}
    assert real["items"] == 2


def test_an_unknown_author_is_a_clear_error(world):
    with pytest.raises(CommandError, match="No author #999999"):
        erase("--author", "999999")
    with pytest.raises(CommandError, match="No author '@nobody'"):
        erase("--handle", "@nobody")
    with pytest.raises(CommandError, match="No author '@qwhistle' on source 'reddit'"):
        from feedback.models import Source

        Source.objects.create(slug="reddit", name="Reddit")
        erase("--handle", "@qwhistle", "--source", "reddit")
    with pytest.raises(CommandError, match="No source 'nope'"):
        erase("--handle", "@qwhistle", "--source", "nope")
    with pytest.raises(CommandError, match="one of the arguments --author --handle"):
        erase()
    assert FeedbackItem.objects.filter(author=world["quentin"]).count() == 2


def test_the_admin_action_confirms_then_erases(client, root, world):
    client.force_login(root)
    url = "/admin/feedback/author/"
    selected = {"action": "erase_posts", "_selected_action": [world["quentin"].pk]}
    confirm = client.post(url, selected)
    html = confirm.content.decode()
    assert confirm.status_code == 200 and "Yes, erase them" in html
    assert "@qwhistle" in html and '<th scope="row">Posts</th><td>2</td>' in html
    assert FeedbackItem.objects.filter(author=world["quentin"]).count() == 2  # not yet

    done = client.post(url, {**selected, "post": "yes"}, follow=True)
    assert "6 cases, 2 posts, 1 authors." in done.content.decode()
    assert columns_containing(QUENTIN_WORD) == set()
    erasure = Erasure.objects.get()
    assert (erasure.via, erasure.requested_by) == ("admin", root)
    assert FeedbackItem.objects.filter(author__handle="olga").count() == 1


def test_the_admin_offers_no_plain_delete_that_would_keep_the_posts(client, root, world):
    client.force_login(root)
    page = client.get("/admin/feedback/author/").content.decode()
    assert "erase_posts" in page and "delete_selected" not in page
    delete = f"/admin/feedback/author/{world['quentin'].pk}/delete/"
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert Author.objects.filter(pk=world["quentin"].pk).exists()


def test_the_correction_memory_forgets_an_erased_post(alice, source):
    """tests/routing/test_memory.py shows a near-duplicate following a correction; after
    its author is erased, the same correction no longer moves anything."""
    memory_reset()
    Department.objects.update(routing_threshold=1.01)  # the model alone routes nothing
    text = "The lamp in the hotel lobby keeps flickering every evening"
    first = FeedbackItemFactory(body=text, source=source)
    items_route(item_ids=[first.pk])
    first.refresh_from_db()
    marketing = Department.objects.get(slug="marketing")
    case_services.triage_route(item=first, departments=[marketing], actor=alice)
    erase("--author", str(first.author_id))

    again = FeedbackItemFactory(body=text + "!", source=source)
    items_route(item_ids=[again.pk])
    again.refresh_from_db()
    assert again.state == FeedbackItem.State.TRIAGE
    assert not Case.objects.filter(item=again).exists()
    memory_reset()
