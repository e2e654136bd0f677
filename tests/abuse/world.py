"""One small world for the authorization tests: every persona, and an item of each kind the
access rules treat differently (support, product, HR-only, shared with HR, in triage, from
another source), with HR's secrets marked by words that appear nowhere else.

Personas (tests/conftest.py, plus the ones the matrix needs):
- anonymous;  alice: support agent;  bob: product agent;  hana: HR agent (HR is sealed);
- maria: support manager;  charlie: logged in, in no department;  admin: superuser;
- API keys on the `web` source: ingest-only, read-only, read+write acting as alice, and
  read+write+webhooks linked to no user (the integration that owns `subscription` and
  `hr_subscription`).
- Not a persona: another integration's key, owning `other_subscription` (HR, approved by
  a superuser) and its delivery, which carries HR's secrets; no persona but admin may
  see or touch them.
"""

from dataclasses import dataclass, field

from django.db import transaction
from django.test import Client

from departments.models import Case, Department, Membership, SavedView
from departments.services import case_share, note_add
from feedback.models import Author, FeedbackItem, Source
from feedback.services import apikey_create
from notifications.models import Notification
from routing.models import ClassifierVersion, Rule
from tests.factories import UserFactory, member
from webhooks.models import Delivery, Subscription

PEOPLE = ("anonymous", "alice", "bob", "hana", "maria", "charlie", "admin")
KEYS = ("key_ingest", "key_read", "key_write_alice", "key_write_unlinked")
PERSONAS = PEOPLE + KEYS
NON_HR_PEOPLE = ("alice", "bob", "maria", "charlie")

# Words that exist only in HR's sealed data; any of them reaching a non-HR persona is a leak.
HR_BODY = "Quillfeather reported harassment by the depot shift lead"
HR_WORD = "quillfeather"
HR_NOTE = "Zephyrine sealed interview notes"
HR_REASON = "Marmaduke sealed routing reason"
HR_TAG = "sealedtag"
HR_SECRETS = (HR_NOTE, HR_REASON, HR_TAG)  # never outside HR, not even to the posting source


@dataclass
class World:
    ids: dict = field(default_factory=dict)
    users: dict = field(default_factory=dict)
    keys: dict = field(default_factory=dict)

    def __getattr__(self, name):
        try:
            return self.__dict__["ids"][name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    def client(self, persona: str) -> Client:
        client = Client(raise_request_exception=False)  # a 500 is an outcome to report
        if persona in self.keys:
            client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {self.keys[persona]}"
        elif persona != "anonymous":
            client.force_login(self.users[persona])
        return client


def fetch_pages(world: World, persona: str, urls) -> dict[str, str]:
    """GET each url (formatted with the world's ids) as `persona`: url -> "status\nbody".
    A 500 fails at once: it is never an acceptable answer. Each GET runs in a savepoint
    that is rolled back, so every page is read in the same world: opening a notification
    (GET, it marks it read) must not change what the pages fetched after it show."""
    client = world.client(persona)
    pages = {}
    for url in urls:
        url = url.format(**world.ids)
        sid = transaction.savepoint_create()
        try:
            response = client.get(url)
        finally:
            transaction.savepoint_rollback(sid)
        assert response.status_code < 500, (persona, url, response.status_code)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        pages[url] = f"{response.status_code}\n{body.decode(errors='replace')}"
    return pages


def dept(slug: str) -> Department:
    return Department.objects.get(slug=slug)


def world_build() -> World:
    w = World()
    web = Source.objects.create(slug="web", name="Website form", kind=Source.Kind.WEB_FORM)
    reddit = Source.objects.create(slug="reddit", name="Reddit", kind=Source.Kind.REDDIT)
    for username, slug, role in (
        ("alice", "support", "agent"),
        ("bob", "product", "agent"),
        ("hana", "hr", "agent"),
        ("maria", "support", "manager"),
    ):
        w.users[username] = UserFactory(username=username, first_name=username.title())
        member(w.users[username], slug, role=role)
    w.users["charlie"] = UserFactory(username="charlie", first_name="Charlie")
    w.users["admin"] = UserFactory(username="admin", is_staff=True, is_superuser=True)
    for name, scopes, acts_as in (
        ("key_ingest", ["ingest"], None),
        ("key_read", ["read"], None),
        ("key_write_alice", ["read", "write"], w.users["alice"]),
        ("key_write_unlinked", ["read", "write", "webhooks"], None),
    ):
        key, w.keys[name] = apikey_create(name=name, source=web, scopes=scopes, acts_as=acts_as)
        w.ids[f"{name}_id"] = key.pk
    other_key, _ = apikey_create(name="other integration", source=web, scopes=["webhooks"])

    dana = Author.objects.create(source=web, handle="dana", name="Dana")

    def item(ext, body, source=web, state="routed", author=dana):
        return FeedbackItem.objects.create(
            source=source, external_id=ext, body=body, author=author, state=state
        )

    def case(it, slug, **fields):
        return Case.objects.create(item=it, department=dept(slug), routed_by="model", **fields)

    support_item = item("s-1", "My parcel is late again, order 1182")
    product_item = item("p-1", "Please add dark mode to the app")
    hr_item = item("h-1", HR_BODY)
    shared_item = item("sh-1", "A candidate asks about the product roadmap")
    triage_item = item("t-1", "Not sure who should read this", state="triage")
    # What the model leaned to (the triage inbox suggests it; world B adds an HR score).
    FeedbackItem.objects.filter(pk=triage_item.pk).update(scores={"support": 0.3, "product": 0.2})
    reddit_item = item(
        "r-1",
        "Refund still missing after three weeks",
        source=reddit,
        author=Author.objects.create(source=reddit, handle="u_rex"),
    )
    support_case = case(support_item, "support")
    product_case = case(product_item, "product")
    hr_case = case(hr_item, "hr", reason=HR_REASON, tags=[HR_TAG])
    note_add(item=hr_item, actor=w.users["hana"], body=HR_NOTE)
    shared_hr_case = case(shared_item, "hr", reason=HR_REASON, tags=[HR_TAG])
    note_add(item=shared_item, actor=w.users["hana"], body=HR_NOTE)
    shared_support_case = case_share(
        case=shared_hr_case,
        to_department=dept("support"),
        actor=w.users["hana"],
        note="Over to support",
    )
    note_add(item=shared_item, actor=w.users["alice"], body="Support called the candidate")
    reddit_case = case(reddit_item, "support")

    alice_view = SavedView.objects.create(
        user=w.users["alice"], name="Urgent", department=dept("support"), query="priority=urgent"
    )
    rule = Rule.objects.create(
        name="jobs to HR",
        position=10,
        match="any",
        conditions=[{"field": "body", "op": "contains_any", "value": ["hiring"]}],
        actions=[{"type": "route_to", "department": "hr"}],
    )
    version = ClassifierVersion.objects.create(version="abuse-v1", artifact=b"", labels=[])
    subscription = Subscription.objects.create(
        name="ops",
        url="http://127.0.0.1:9/hook",
        events=["item.routed"],
        owner_key_id=w.ids["key_write_unlinked_id"],
    )
    delivery = Delivery.objects.create(
        subscription=subscription,
        event="item.routed",
        event_id="00000000-0000-4000-8000-000000000001",
        payload={"event": "item.routed"},
        status="failed",
    )
    hr_subscription = Subscription.objects.create(
        name="ops hr",
        url="http://127.0.0.1:9/hr",
        events=["item.routed"],
        owner_key_id=w.ids["key_write_unlinked_id"],
    )
    hr_subscription.departments.set([dept("hr")])
    other_subscription = Subscription.objects.create(
        name="other hr",
        url="http://127.0.0.1:9/other",
        events=["item.routed"],
        owner_key=other_key,
        sealed_approved_for=["hr"],
        sealed_approved_by=w.users["admin"],
    )
    other_subscription.departments.set([dept("hr")])
    other_delivery = Delivery.objects.create(
        subscription=other_subscription,
        event="item.routed",
        event_id="00000000-0000-4000-8000-000000000002",
        payload={"event": "item.routed", "data": {"body": HR_BODY, "reason": HR_REASON}},
        sealed=["hr"],
        status="failed",
    )
    assert Membership.objects.count() == 4
    w.ids.update(
        web=web.pk,
        reddit=reddit.pk,
        support_item=support_item.pk,
        product_item=product_item.pk,
        hr_item=hr_item.pk,
        shared_item=shared_item.pk,
        triage_item=triage_item.pk,
        reddit_item=reddit_item.pk,
        support_case=support_case.pk,
        product_case=product_case.pk,
        hr_case=hr_case.pk,
        shared_hr_case=shared_hr_case.pk,
        shared_support_case=shared_support_case.pk,
        reddit_case=reddit_case.pk,
        alice_view=alice_view.pk,
        # Support hears of HR's share as a new case (the handoff itself is sealed).
        alice_notification=Notification.objects.get(
            recipient=w.users["alice"], case=shared_support_case
        ).pk,
        rule=rule.pk,
        version=version.version,
        subscription=subscription.pk,
        delivery=delivery.pk,
        hr_subscription=hr_subscription.pk,
        other_subscription=other_subscription.pk,
        other_delivery=other_delivery.pk,
        other_secret=other_subscription.secret,
        alice_id=w.users["alice"].pk,
        hana_id=w.users["hana"].pk,
        admin_id=w.users["admin"].pk,
        support_dept=dept("support").pk,
    )
    return w
