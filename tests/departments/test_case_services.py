"""Case actions: each changes state race-safely, checks permission, and leaves an event."""

import threading

import pytest
from django.db import connection

from departments.models import Case, CaseEvent, Department, Note
from departments.services import (
    ActionError,
    Conflict,
    PermissionDenied,
    case_assign,
    case_claim,
    case_reroute,
    case_set_status,
    case_share,
    case_tag,
    note_add,
    triage_route,
)
from feedback.models import FeedbackItem
from tests.factories import FeedbackItemFactory, UserFactory, case_in, member

pytestmark = pytest.mark.django_db


def dept(slug):
    return Department.objects.get(slug=slug)


@pytest.fixture
def support_case():
    item = FeedbackItemFactory(body="The checkout button does nothing", state="routed")
    return Case.objects.create(item=item, department=dept("support"), routed_by="model")


def events(case, kind):
    return CaseEvent.objects.filter(case=case, kind=kind)


def test_claim_assigns_opens_and_records(support_case, alice):
    case = case_claim(case=support_case, user=alice)
    assert case.assignee == alice and case.status == Case.Status.OPEN
    assert events(case, "claimed").get().actor == alice


def test_second_claim_is_told_who_has_it(support_case, alice):
    maria = UserFactory(username="maria")
    member(maria, "support")
    case_claim(case=support_case, user=alice)
    with pytest.raises(Conflict, match="Already claimed by alice"):
        case_claim(case=support_case, user=maria)


@pytest.mark.django_db(transaction=True)
def test_two_agents_claiming_at_the_same_moment_one_wins():
    item = FeedbackItemFactory(state="routed")
    case = Case.objects.create(item=item, department=dept("support"), routed_by="model")
    agents = [UserFactory(username=f"agent{i}") for i in range(2)]
    for agent in agents:
        member(agent, "support")
    barrier = threading.Barrier(2)
    results = []

    def claim(agent):
        try:
            barrier.wait()
            case_claim(case=case, user=agent)
            results.append("won")
        except Conflict:
            results.append("lost")
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(a,)) for a in agents]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(results) == ["lost", "won"]
    assert CaseEvent.objects.filter(case=case, kind="claimed").count() == 1


def test_assign_only_to_a_member_of_the_department(support_case, alice, bob):
    with pytest.raises(ActionError, match="bob is not in Support"):
        case_assign(case=support_case, assignee=bob, actor=alice)
    case = case_assign(case=support_case, assignee=alice, actor=alice)
    assert case.assignee == alice


def test_status_changes_set_response_and_resolution_times(support_case, alice):
    case = case_set_status(case=support_case, status="waiting", actor=alice)
    assert case.first_response_at and not case.resolved_at
    case = case_set_status(case=case, status="resolved", actor=alice)
    assert case.resolved_at
    case = case_set_status(case=case, status="open", actor=alice)
    assert case.resolved_at is None
    assert events(case, "status_changed").count() == 3


def test_dismiss_needs_a_reason(support_case, alice):
    with pytest.raises(ActionError, match="needs a reason"):
        case_set_status(case=support_case, status="dismissed", actor=alice)
    case = case_set_status(case=support_case, status="dismissed", actor=alice, reason="spam")
    assert events(case, "status_changed").get().data["reason"] == "spam"


def test_reroute_ends_this_case_starts_theirs_and_both_see_the_note(support_case, alice):
    target = case_reroute(
        case=support_case,
        to_department=dept("product"),
        actor=alice,
        note="This is a checkout bug, not a billing question",
    )
    support_case.refresh_from_db()
    assert support_case.status == Case.Status.DISMISSED
    assert target.department.slug == "product" and target.status == Case.Status.NEW
    assert target.routed_by == Case.RoutedBy.PERSON
    for case in (support_case, target):
        event = events(case, "rerouted").get()
        assert event.from_department.slug == "support" and event.to_department.slug == "product"
        assert event.note.startswith("This is a checkout bug")
    assert not Note.objects.filter(item=support_case.item).exists()  # the note is on the event


def test_reroute_of_a_closed_case_is_refused(support_case, alice):
    case_set_status(case=support_case, status="resolved", actor=alice)
    with pytest.raises(Conflict):
        case_reroute(case=support_case, to_department=dept("product"), actor=alice)


def test_reroute_reopens_an_existing_closed_case_in_the_target(support_case, alice, bob):
    product = Case.objects.create(
        item=support_case.item, department=dept("product"), routed_by="model", status="resolved"
    )
    target = case_reroute(case=support_case, to_department=dept("product"), actor=alice)
    assert target.pk == product.pk and target.status == Case.Status.NEW


def test_share_keeps_both_cases(support_case, alice):
    target = case_share(case=support_case, to_department=dept("marketing"), actor=alice)
    support_case.refresh_from_db()
    assert support_case.status == Case.Status.NEW and target.department.slug == "marketing"
    assert events(target, "shared").exists() and events(support_case, "shared").exists()


def test_triage_route_by_any_staff_member(alice, charlie):
    item = FeedbackItemFactory(state=FeedbackItem.State.TRIAGE)
    with pytest.raises(PermissionDenied):
        triage_route(item=item, departments=[dept("product")], actor=charlie)
    cases = triage_route(item=item, departments=[dept("product"), dept("support")], actor=alice)
    item.refresh_from_db()
    assert item.state == "routed" and {c.department.slug for c in cases} == {"product", "support"}
    with pytest.raises(Conflict):
        triage_route(item=item, departments=[dept("hr")], actor=alice)


def test_notes_and_tags(support_case, alice):
    note = note_add(item=support_case.item, actor=alice, body="Customer called too")
    assert note.department.slug == "support"
    with pytest.raises(ActionError):
        note_add(item=support_case.item, actor=alice, body="   ")
    case = case_tag(case=support_case, actor=alice, add=["Checkout", "billing"])
    assert case.tags == ["checkout", "billing"]
    case = case_tag(case=case, actor=alice, remove=["billing"])
    assert case.tags == ["checkout"]


ACTIONS = {
    "claim": lambda case, user: case_claim(case=case, user=user),
    "assign": lambda case, user: case_assign(case=case, assignee=None, actor=user),
    "status": lambda case, user: case_set_status(case=case, status="waiting", actor=user),
    "reroute": lambda case, user: case_reroute(
        case=case, to_department=dept("marketing"), actor=user
    ),
    "share": lambda case, user: case_share(case=case, to_department=dept("marketing"), actor=user),
    "tag": lambda case, user: case_tag(case=case, actor=user, add=["x"]),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize(
    ("persona", "case_department", "allowed"),
    [
        ("alice", "support", True),  # own department
        ("alice", "product", False),  # another department
        ("alice", "hr", False),  # a sealed department
        ("hana", "hr", True),
        ("manager", "support", True),
        ("manager", "hr", False),
        ("charlie", "support", False),  # in no department
        ("admin", "hr", True),
    ],
)
def test_permission_matrix(action, persona, case_department, allowed, alice, hana, charlie):
    users = {"alice": alice, "hana": hana, "charlie": charlie}
    manager = UserFactory(username="maria")
    member(manager, "support", role="manager")
    users["manager"] = manager
    users["admin"] = UserFactory(username="root", is_staff=True, is_superuser=True)
    item = FeedbackItemFactory(state="routed")
    case = Case.objects.create(item=item, department=dept(case_department), routed_by="model")
    if allowed:
        ACTIONS[action](case, users[persona])
    else:
        with pytest.raises(PermissionDenied):
            ACTIONS[action](case, users[persona])
        assert not CaseEvent.objects.filter(case=case).exists()


def test_a_case_shared_out_of_hr_does_not_say_so_on_the_page(client, alice, hana):
    hr_case = case_in("hr", body="Complaint about the shift lead")
    target = case_share(case=hr_case, to_department=dept("support"), actor=hana)
    client.force_login(alice)
    html = client.get(f"/items/{target.item_id}/").content.decode()
    assert target.reason == "routed by a person"
    assert "from HR" not in html and "hana" not in html


# --- the time an action happens at (the demo seed replays history with it) -------------------


def test_actions_stamp_the_time_they_are_given(support_case, alice):
    from datetime import timedelta

    from django.utils import timezone

    from routing.models import RoutingLabel

    then = timezone.now() - timedelta(days=30)
    case_claim(case=support_case, user=alice, now=then)
    note_add(item=support_case.item, actor=alice, body="Looking", now=then + timedelta(minutes=5))
    case = case_set_status(
        case=support_case, status="resolved", actor=alice, now=then + timedelta(hours=2)
    )
    other = case_share(
        case=case, to_department=dept("product"), actor=alice, now=then + timedelta(hours=3)
    )

    assert case.first_response_at == case.resolved_at == then + timedelta(hours=2)
    assert events(case, "claimed").get().created_at == then
    assert Note.objects.get(item=case.item).created_at == then + timedelta(minutes=5)
    assert other.created_at == then + timedelta(hours=3)
    assert other.due_at == then + timedelta(hours=3) + dept("product").first_response_sla
    stamps = set(CaseEvent.objects.filter(item=case.item).values_list("created_at", flat=True))
    assert max(stamps) == then + timedelta(hours=3)
    label = RoutingLabel.objects.get(item_id=case.item_id, department="product")
    assert label.created_at == then + timedelta(hours=3)


def test_actions_without_a_time_happen_now(support_case, alice):
    from django.utils import timezone

    before = timezone.now()
    case_claim(case=support_case, user=alice)
    assert events(support_case, "claimed").get().created_at >= before
