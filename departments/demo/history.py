"""Working the demo's history: the demo staff claim, note, reroute, share, tag and resolve
its cases through the case services (departments.services), each action at the time it
happened (the services' `now`). Staff act only in working hours, so posts that arrive at
night wait and some first responses miss their SLA; what would happen after `now` has
not happened yet and stays open.

Deterministic (a fixed random seed) for the same posts and `now`."""

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction

from departments.demo import demo_data
from departments.models import Case, Department
from departments.services import (
    case_claim,
    case_reroute,
    case_set_status,
    case_share,
    case_tag,
    note_add,
    triage_mark_noise,
    triage_route,
)
from feedback.models import FeedbackItem

SEED = 90
# Mean hours from a case's arrival (in working hours) to the first answer, and from the claim
# to the resolution, per department: support is quick, product slow (many misses of the
# 4-hour first-response SLA), HR careful.
RESPONSE_HOURS = {"support": 1.0, "product": 3.5, "marketing": 2.0, "hr": 4.0}
RESOLVE_HOURS = {"support": 5.0, "product": 40.0, "marketing": 14.0, "hr": 60.0}
# Posts still in the triage inbox at the end: the ones that came in over the last hours.
TRIAGE_WAITS_HOURS = 20
MAX_PING_PONGS = 3
# The newest cases have not been looked at yet: the queues' last hours are still open.
UNTOUCHED_HOURS = 3
PING_PONG_TOPICS = {"billing", "account_help", "app_bug"}


class HistoryWorker:
    def __init__(self, *, now: datetime, staff: dict[str, object]) -> None:
        self.now = now
        self.rng = random.Random(SEED)
        self.staff = staff
        self.departments = {d.slug: d for d in Department.objects.all()}
        self.work = demo_data("work")
        self.topics = demo_data("posts")["topics"]
        self.wave_owner = demo_data("posts")["wave"]["owner"]
        hours = demo_data("company")["working_hours"]
        self.shift = {False: (hours["start"], hours["end"]), True: (hours["weekend_start"],
                      hours["weekend_end"])}  # fmt: skip
        self.done = Counter()

    # --- time ----------------------------------------------------------------------------

    def on_shift(self, t: datetime) -> datetime:
        """`t`, or the start of the next shift (plus a coffee) when nobody is in."""
        for _ in range(8):
            start, end = self.shift[t.weekday() >= 5]
            if start <= t.hour < end:
                return t
            if t.hour < start:
                return t.replace(hour=start, minute=0, second=0) + self._minutes(40)
            t = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0)
        return t

    def _minutes(self, mean: float) -> timedelta:
        return timedelta(minutes=self.rng.expovariate(1 / mean))

    def later(self, t: datetime, mean_hours: float) -> datetime:
        return self.on_shift(t + self._minutes(mean_hours * 60))

    # --- people --------------------------------------------------------------------------

    def actor(self, slug: str):
        role = "manager" if self.rng.random() < 0.15 else "agent"
        return self.staff[f"{slug}-{role}"]

    def owner_of(self, topic: str) -> str | None:
        if topic == "wave":
            return self.wave_owner
        return self.topics.get(topic, {}).get("owner")

    # --- the work ------------------------------------------------------------------------

    def items_work(self, items: Sequence[FeedbackItem]) -> Counter:
        """Work every item (oldest first) as the staff would have. Returns what was done."""
        cases = defaultdict(list)
        for case in (
            Case.objects.unscoped()
            .filter(item__in=items)
            .select_related("department", "item")
            .order_by("pk")
        ):
            cases[case.item_id].append(case)
        for item in sorted(items, key=lambda i: (i.received_at, i.pk)):
            topic = ((item.raw or {}).get("demo") or {}).get("topic", "")
            # A transaction per item: every action is a savepoint in it, and thousands of
            # savepoints in one transaction slow PostgreSQL down (its subtransaction cache
            # overflows), so the history is not one transaction.
            with transaction.atomic():
                if item.state == FeedbackItem.State.TRIAGE:
                    self._triage(item, topic)
                elif item.state == FeedbackItem.State.ROUTED:
                    worked: set[int] = set()
                    for case in cases[item.pk]:
                        self._case(case, topic, self.owner_of(topic), item.received_at, worked)
        return self.done

    def _triage(self, item: FeedbackItem, topic: str) -> None:
        if self.now - item.received_at < timedelta(hours=TRIAGE_WAITS_HOURS):
            return  # still waiting in the inbox
        t = self.later(item.received_at, 2.0)
        if t >= self.now:
            return
        owner = self.owner_of(topic)
        if owner is None:
            triage_mark_noise(item=item, actor=self.staff["support-agent"], now=t)
            self.done["marked noise"] += 1
            return
        # A post waiting in a sealed department's own triage is that department's to route.
        by = item.triage_department.slug if item.triage_department_id else owner
        routed = triage_route(
            item=item, departments=[self.departments[owner]], actor=self.actor(by), now=t
        )
        self.done["routed from triage"] += 1
        worked: set[int] = set()
        for case in routed:
            self._case(case, topic, owner, t, worked)

    def _case(self, case: Case, topic: str, owner: str | None, since, worked: set) -> None:
        if case.pk in worked:
            return
        worked.add(case.pk)
        if self.now - since < timedelta(hours=UNTOUCHED_HOURS):
            return
        slug = case.department.slug
        urgent = case.priority in ("urgent", "high")
        t = self.later(since, RESPONSE_HOURS[slug] * (0.4 if urgent else 1.0))
        if t >= self.now:
            return  # not looked at yet
        if owner is None:  # spam or chatter the model sent to a queue
            reason = "spam" if topic == "spam" else "no_action"
            case_set_status(
                case=case, status="dismissed", reason=reason, actor=self.actor(slug), now=t
            )
            self.done[f"dismissed ({reason})"] += 1
            return
        if slug != owner:
            self._misrouted(case, topic, owner, t, worked)
            return
        self._resolve(case, topic, t)

    def _misrouted(self, case: Case, topic: str, owner: str, t: datetime, worked: set) -> None:
        slug = case.department.slug
        others = set(
            Case.objects.unscoped()
            .filter(item_id=case.item_id)
            .exclude(pk=case.pk)
            .values_list("department__slug", flat=True)
        )
        if owner in others:
            case_set_status(
                case=case,
                status="dismissed",
                reason="wrong_department",
                actor=self.actor(slug),
                now=t,
            )
            self.done["dismissed (wrong department)"] += 1
            return
        note = self.rng.choice(self.work["reroute"])
        target = case_reroute(
            case=case, to_department=self.departments[owner], actor=self.actor(slug), note=note,
            now=t,
        )  # fmt: skip
        self.done["rerouted"] += 1
        if topic in PING_PONG_TOPICS and self.done["ping-pong"] < MAX_PING_PONGS:
            # Neither side thinks it is theirs at first: back, then over again.
            back = self.later(t, 0.7)
            if back < self.now:
                mine = case_reroute(
                    case=target, to_department=case.department, actor=self.actor(owner),
                    note=self.work["ping_pong"][0], now=back,
                )  # fmt: skip
                again = self.later(back, 0.7)
                if again >= self.now:
                    return
                target = case_reroute(
                    case=mine, to_department=self.departments[owner], actor=self.actor(slug),
                    note=self.work["ping_pong"][1], now=again,
                )  # fmt: skip
                self.done["ping-pong"] += 1
                t = again
        worked.add(target.pk)
        self._resolve(target, topic, t)

    def _resolve(self, case: Case, topic: str, t: datetime) -> None:
        """Claim, perhaps note, tag, share and answer, then resolve, as far as `now` allows.
        A third of the cases are simple: answered and closed at once, unclaimed."""
        if t >= self.now:
            return
        slug = case.department.slug
        agent = self.actor(slug)
        if case.assignee_id is not None:
            return  # someone has it already (a case reopened by a second handoff)
        if topic != "wave" and self.rng.random() < 0.35:
            done = self.later(t, RESOLVE_HOURS[slug] / 6)
            if done < self.now:
                case_set_status(case=case, status="resolved", actor=agent, now=done)
                self.done["resolved"] += 1
            return
        case_claim(case=case, user=agent, now=t)
        self.done["claimed"] += 1
        if topic == "wave" and self.rng.random() < 0.8:
            case_tag(case=case, actor=agent, add=["double-charge"], now=t + timedelta(minutes=1))
        notes = self.work["notes"]["wave" if topic == "wave" else slug]
        if self.rng.random() < 0.15:
            at = t + self._minutes(15)
            if at < self.now:
                note_add(
                    item=case.item, actor=agent, body=self.rng.choice(notes),
                    department=case.department, now=at,
                )  # fmt: skip
                self.done["notes"] += 1
        share = self.topics.get(topic, {}).get("share")
        if share and self.rng.random() < 0.5:
            at = t + self._minutes(20)
            if at < self.now:
                shared = case_share(
                    case=case, to_department=self.departments[share], actor=agent,
                    note=self.rng.choice(self.work["share"]), now=at,
                )  # fmt: skip
                self.done["shared"] += 1
                self._resolve(shared, "", self.later(at, RESPONSE_HOURS[share]))
        wave = topic == "wave"
        if wave or self.rng.random() < 0.25:  # an answer first, then the customer's reply
            t = t + self._minutes(25)
            if t >= self.now:
                return
            case_set_status(case=case, status="waiting", actor=agent, now=t)
            if wave and self.rng.random() < 0.4:
                return  # the refund is in billing's next batch: still waiting
        done = self.later(t, RESOLVE_HOURS[slug])
        if done >= self.now:
            return
        case_set_status(case=case, status="resolved", actor=agent, now=done)
        self.done["resolved"] += 1
