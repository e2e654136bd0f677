"""Notifications: who each trigger tells (and never the actor), sealed departments, email
by preference, the breach-soon sweep, and the pages."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from departments.models import Case, Department, Membership
from departments.services import (
    case_assign,
    case_claim,
    case_reroute,
    case_share,
    cases_auto_assign,
    note_add,
)
from notifications.models import Notification, NotificationPreference
from notifications.selectors import notifications_page, unread_count
from notifications.services import mentioned_usernames, notifications_breach_soon
from notifications.tasks import notify_breach_soon
from tests.factories import UserFactory, case_in, member

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def dept(slug):
    return Department.objects.get(slug=slug)


def told(user=None, **filters):
    qs = Notification.objects.all()
    if user is not None:
        qs = qs.filter(recipient=user)
    return list(qs.filter(**filters).values_list("recipient__username", "kind", "actor__username"))


@pytest.fixture
def maria(db):
    user = UserFactory(username="maria", first_name="Maria")
    member(user, "support", role=Membership.Role.MANAGER)
    return user


# --- assigned to me --------------------------------------------------------------------


def test_assigning_tells_the_assignee_only(alice, maria):
    case = case_in("support")
    case_assign(case=case, assignee=alice, actor=maria)
    assert told() == [("alice", "assigned", "maria")]
    case_assign(case=case, assignee=alice, actor=maria)  # no change, no second notice
    assert len(told()) == 1


def test_claiming_or_assigning_yourself_tells_nobody(alice):
    case_claim(case=case_in("support"), user=alice)
    case_assign(case=case_in("support"), assignee=alice, actor=alice)
    assert told() == []


def test_automatic_assignment_tells_the_agent_without_an_actor(alice):
    support = dept("support")
    support.auto_assign = True
    support.save()
    case_in("support")
    assert cases_auto_assign(department=support) == 1
    assert told() == [("alice", "assigned", None)]
    [shown] = notifications_page(alice)
    assert shown.title == "A Support case was assigned to you automatically"


# --- shared or rerouted to my department -----------------------------------------------


def test_share_tells_the_target_department_but_not_the_actor(alice, bob, maria):
    product_agent = UserFactory(username="pat")
    member(product_agent, "product")
    member(maria, "product")  # the actor is in the target department too
    case_share(case=case_in("support"), to_department=dept("product"), actor=maria)
    assert sorted(told()) == [("bob", "shared", "maria"), ("pat", "shared", "maria")]


def test_reroute_into_hr_tells_hr_and_reads_as_a_reroute(alice, hana):
    case_reroute(case=case_in("support"), to_department=dept("hr"), actor=alice)
    assert told() == [("hana", "rerouted", "alice")]
    [shown] = notifications_page(hana)
    assert shown.title == "Alice rerouted a case to HR"


def test_handoff_out_of_hr_is_a_new_case_without_the_actor_for_outsiders(alice, hana):
    hr_case = case_in("hr", body="Complaint about the shift lead")
    case_share(case=hr_case, to_department=dept("support"), actor=hana)
    assert told() == [("alice", "routed", None)]
    [shown] = notifications_page(alice)
    assert shown.title == "New case in Support"
    assert "hana" not in shown.title.lower() and "hr" not in shown.title.lower()


def test_a_big_department_tells_only_its_watchers(alice, settings, monkeypatch):
    from notifications import services

    monkeypatch.setattr(services, "HANDOFF_NOTIFY_ALL_UP_TO", 2)
    crowd = [UserFactory(username=f"agent{i}") for i in range(3)]
    for user in crowd:
        member(user, "product")
    watcher = NotificationPreference.objects.create(user=crowd[1])
    watcher.watched.set([dept("product")])
    case_share(case=case_in("support"), to_department=dept("product"), actor=alice)
    assert told() == [("agent1", "shared", "alice")]


# --- @mentioned in a note --------------------------------------------------------------


def test_mentions_are_parsed_as_usernames():
    body = "@bob and @Maria. please; not jo@example.com, @bob again, (@hana)"
    assert mentioned_usernames(body) == ["bob", "Maria", "hana"]


def test_a_mention_tells_who_can_read_the_note(alice, bob, maria):
    case = case_in("support")
    note_add(
        item=case.item, actor=alice, body="@bob is this a product bug? cc @maria @alice @ghost"
    )
    assert sorted(told()) == [("bob", "mentioned", "alice"), ("maria", "mentioned", "alice")]
    [shown] = notifications_page(bob)
    assert shown.title == "Alice mentioned you in a note (Support)"
    assert shown.excerpt.startswith("@bob is this a product bug?")


def test_mentioning_an_outsider_in_hr_tells_nobody(alice, hana):
    hr_case = case_in("hr", body="Quillfeather reported harassment")
    note_add(item=hr_case.item, actor=hana, body="@alice should never hear of this")
    # A shared item alice sees, but HR's note on it stays inside HR.
    shared = case_in("support", body="A candidate asks about the roadmap")
    Case.objects.create(item=shared.item, department=dept("hr"), routed_by="model")
    note_add(item=shared.item, actor=hana, body="@alice neither of this", department=dept("hr"))
    assert told() == []


# --- email -----------------------------------------------------------------------------


def test_email_is_sent_after_commit_when_turned_on(
    alice, maria, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://switchboard.example"
    NotificationPreference.objects.create(user=alice, email=True)
    case = case_in("support", body=f"Order 1182 {XSS}")
    with django_capture_on_commit_callbacks(execute=True):
        case_assign(case=case, assignee=alice, actor=maria)
    [message] = mail.outbox
    notification = Notification.objects.get()
    assert message.to == ["alice@example.com"]
    assert message.subject == "[Switchboard] Maria assigned you a Support case"
    assert f"https://switchboard.example/notifications/{notification.pk}/" in message.body
    assert "Order 1182" in message.body
    assert notification.emailed_at is not None and not notification.email_pending


def test_no_email_when_off(alice, maria, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        case_assign(case=case_in("support"), assignee=alice, actor=maria)
    assert mail.outbox == [] and Notification.objects.get().email_pending is False


# --- about to breach -------------------------------------------------------------------


def test_breach_soon_tells_the_assignee_once(alice, bob):
    now = timezone.now()
    soon = case_in("support", assignee=alice, status="open", due_at=now + timedelta(minutes=10))
    case_in("support", assignee=alice, status="open", due_at=now + timedelta(hours=3))
    case_in("support", status="open", due_at=now + timedelta(minutes=5))  # nobody's
    case_in(
        "product",
        assignee=bob,
        status="open",
        due_at=now + timedelta(minutes=5),
        first_response_at=now,  # answered already
    )
    assert notify_breach_soon() == 1
    assert notify_breach_soon() == 0
    assert notifications_breach_soon(now=now + timedelta(minutes=1)) == 0
    assert told() == [("alice", "breach_soon", None)]
    [shown] = notifications_page(alice)
    assert shown.title.startswith("Your Support case is due for a first response in ")
    assert Notification.objects.get().case_id == soon.pk


def test_breach_soon_emails_who_asked(alice):
    NotificationPreference.objects.create(user=alice, email=True)
    case_in("support", assignee=alice, status="open", due_at=timezone.now() + timedelta(minutes=3))
    notify_breach_soon()
    [message] = mail.outbox
    assert message.subject.startswith("[Switchboard] Your Support case is due")


# --- reading ---------------------------------------------------------------------------


def test_listing_rechecks_visibility(alice, hana):
    case_reroute(case=case_in("support"), to_department=dept("hr"), actor=alice)
    assert unread_count(hana) == (1, False)
    Membership.objects.filter(user=hana).delete()
    member(hana, "product")  # moved out of HR
    hana = type(hana).objects.get(pk=hana.pk)  # a fresh user: no cached viewer
    assert unread_count(hana) == (0, False) and notifications_page(hana) == []


def test_the_bell_opening_and_mark_all_read(client, alice, bob, maria):
    case = case_in("support", body=XSS)
    case_assign(case=case, assignee=alice, actor=maria)
    case_share(case=case_in("product"), to_department=dept("support"), actor=bob)
    client.force_login(alice)
    html = client.get("/queue/support/").content.decode()
    # The page asks for the count once loaded (and every minute after).
    assert 'id="bell-count"' in html and 'hx-get="/notifications/count/"' in html
    count = client.get("/notifications/count/").content.decode()
    assert 'title="2 unread"' in count and ">2</span>" in count
    panel = client.get("/notifications/?panel=1").content.decode()
    assert "<html" not in panel and "Maria assigned you a Support case" in panel
    assert XSS not in panel and "&lt;script&gt;" in panel
    first = Notification.objects.filter(case=case).get()
    response = client.get(reverse("notifications:open", args=[first.pk]))
    assert response.status_code == 302 and response["Location"] == f"/items/{case.item_id}/"
    assert unread_count(alice) == (1, False)
    client.post("/notifications/read-all/")
    assert unread_count(alice) == (0, False)
    client.force_login(maria)
    assert client.get(reverse("notifications:open", args=[first.pk])).status_code == 404


def test_settings_save_and_refuse_bad_input(client, alice):
    client.force_login(alice)
    response = client.post(
        "/notifications/settings/", {"email": "on", "watched": [dept("support").pk]}
    )
    assert response.status_code == 302
    preference = NotificationPreference.objects.get(user=alice)
    assert preference.email and list(preference.watched.all()) == [dept("support")]
    # HR is not alice's to watch; an id that is not a number is a field error too.
    for bad in (dept("hr").pk, "x'; drop"):
        response = client.post("/notifications/settings/", {"watched": [bad]})
        assert response.status_code == 400 and "errorlist" in response.content.decode()
    assert NotificationPreference.objects.get(user=alice).email


def test_the_sweep_mails_what_the_broker_missed_as_the_recipient_sees_it_now(alice, hana):
    NotificationPreference.objects.create(user=alice, email=True)
    NotificationPreference.objects.create(user=hana, email=True)
    earlier = timezone.now() - timedelta(minutes=5)
    case = case_in("support", body="Order 77 never arrived")
    hr_case = case_in("hr", body="Quillfeather reported harassment")
    Notification.objects.create(
        recipient=alice,
        kind="assigned",
        item=case.item,
        case=case,
        email_pending=True,
        created_at=earlier,
    )
    Notification.objects.create(
        recipient=hana,
        kind="assigned",
        item=hr_case.item,
        case=hr_case,
        email_pending=True,
        created_at=earlier,
    )
    Membership.objects.filter(user=hana).delete()  # moved out of HR before the mail went
    member(hana, "product")
    notify_breach_soon()
    [message] = mail.outbox
    assert message.to == ["alice@example.com"] and "Order 77" in message.body
    assert not Notification.objects.filter(email_pending=True).exists()
    notify_breach_soon()
    assert len(mail.outbox) == 1
