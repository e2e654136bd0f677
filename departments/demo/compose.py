"""Composing the demo's posts: several thousand over the last `days` days, with a daily and
weekly rhythm, from the templates and vocabularies in posts.yaml and vocabulary.yaml, plus
the planted complaint wave. Pure Python and deterministic (a fixed random seed), so the
same post always gets the same external id."""

import math
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from departments.demo import demo_data

SEED = 14
ID_PREFIX = "brightloop-"  # the earlier demo's posts were demo-NNN: not mistaken for these
# Share of a day's posts per hour of day (UTC): quiet nights, a lunchtime and an evening peak.
HOURLY = [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3.2, 4, 4.4, 4.6, 5, 4.8, 4.4, 4.2, 4.3, 4.6, 5,
          5.4, 5.2, 4.4, 3.2, 2]  # fmt: skip
WEEKDAY = [1.1, 1.05, 1.0, 1.0, 0.95, 0.7, 0.65]  # Monday first
_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class DemoPost:
    topic: str
    payload: dict  # the ingest payload (feedback.validation's shape)

    @property
    def posted_at(self) -> datetime:
        return datetime.fromisoformat(self.payload["posted_at"])


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.vocab = demo_data("vocabulary")
        self.company = demo_data("company")["company"]
        self.sources = demo_data("company")["sources"]
        self.authors: dict[str, list[dict]] = {s["slug"]: [] for s in self.sources}

    def fill(self, template: str) -> str:
        def slot(match: re.Match) -> str:
            name = match.group(1)
            if name == "company":
                return self.company["name"]
            if name == "company_handle":
                return self.company["handle"]
            if name == "order":
                return str(self.rng.randint(10000, 99999))
            return self.rng.choice(self.vocab[name])

        return _SLOT.sub(slot, template)

    def author(self, source: dict) -> dict:
        """A new author now and then; mostly someone who posted before (a few post a lot)."""
        pool = self.authors[source["slug"]]
        if pool and self.rng.random() < 0.55:
            return pool[min(int(self.rng.paretovariate(1.2)) - 1, len(pool) - 1)]
        first, last = (
            self.rng.choice(self.vocab["first_names"]),
            self.rng.choice(self.vocab["last_names"]),
        )
        n = len(pool) + 1
        style = source["authors"]
        if style == "handle":
            handle = f"{self.rng.choice(self.vocab['handle_words'])}_{first.lower()}{n}"
        elif style == "email":
            handle = f"{first.lower()}.{last.lower()}{n}@example.net"
        elif style == "nickname":
            handle = f"{first}{last[0]}{n}"
        else:
            handle = f"{first.lower()}-{last.lower()}-{n}"
        followers = None
        if source["slug"] in ("x", "reddit"):
            followers = int(self.rng.lognormvariate(5, 1.6))
            if self.rng.random() < 0.01:
                followers = self.rng.randint(50_000, 250_000)  # the odd big account
        author = {"handle": handle, "name": f"{first} {last}", "followers": followers}
        pool.append(author)
        return author

    def source_for(self, allowed: list[str] | dict | None) -> dict:
        if isinstance(allowed, dict):  # weights of its own
            slugs, weights = list(allowed), list(allowed.values())
        else:
            candidates = [s for s in self.sources if not allowed or s["slug"] in allowed]
            slugs, weights = [s["slug"] for s in candidates], [s["weight"] for s in candidates]
        slug = self.rng.choices(slugs, weights)[0]
        return next(s for s in self.sources if s["slug"] == slug)

    def post(self, number: int, topic: str, when: datetime, templates, sources) -> DemoPost:
        source = self.source_for(sources)
        author = self.author(source)
        external_id = f"{ID_PREFIX}{number:05d}"
        url = ""
        if source["slug"] == "x":
            url = f"https://x.com/{author['handle']}/status/{1_800_000_000 + number}"
        elif source["slug"] == "reddit":
            url = f"https://www.reddit.com/r/smarthome/comments/demo{number}/"
        payload = {
            "source": source["slug"],
            "external_id": external_id,
            "posted_at": when.isoformat(),
            "author": author,
            "url": url,
            "body": self.fill(self.rng.choice(templates)),
            "raw": {"demo": {"topic": topic}},
        }
        return DemoPost(topic=topic, payload=payload)


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def wave_window(now: datetime) -> tuple[datetime, datetime]:
    wave = demo_data("posts")["wave"]
    return now - timedelta(hours=wave["start_hours_ago"]), now - timedelta(
        hours=wave["end_hours_ago"]
    )


def posts_compose(*, now: datetime, days: int = 90, per_day: float = 40) -> list[DemoPost]:
    """The demo's posts, oldest first, posted between `now - days` and `now`: `per_day` on
    an average weekday (growing a little over the period), and the wave."""
    rng = random.Random(SEED)
    writer = _Writer(rng)
    data = demo_data("posts")
    topics = data["topics"]
    names = list(topics)
    weights = [topics[t]["weight"] for t in names]
    # Topics with `recent_hours` exist only at the end (a launch); before that, the others.
    usual = [
        w if "recent_hours" not in topics[t] else 0 for t, w in zip(names, weights, strict=True)
    ]
    mean_hour = sum(HOURLY) / 24
    timeline: list[tuple[datetime, str]] = []
    for hours_ago in range(days * 24, 0, -1):
        start = now - timedelta(hours=hours_ago)
        trend = 0.85 + 0.3 * (1 - hours_ago / (days * 24))
        mean = per_day / 24 * HOURLY[start.hour] / mean_hour * WEEKDAY[start.weekday()] * trend
        for _ in range(_poisson(rng, mean)):
            timeline.append((start + timedelta(seconds=rng.randrange(3600)), ""))
    wave = data["wave"]
    begin, end = wave_window(now)
    span = (end - begin).total_seconds() / 3600
    for h in range(int(span)):
        # A quick rise and a slow fade: the peak a quarter of the way in.
        x = h / span
        shape = x / 0.25 if x < 0.25 else max(0.0, (1 - x) / 0.75) ** 1.5
        for _ in range(_poisson(rng, wave["peak"] * shape)):
            when = begin + timedelta(hours=h, seconds=rng.randrange(3600))
            timeline.append((when, "wave"))
    timeline.sort()
    posts = []
    for number, (when, kind) in enumerate(timeline, start=1):
        if kind == "wave":
            posts.append(writer.post(number, "wave", when, wave["templates"], wave["sources"]))
            continue
        recent = [
            w if now - when <= timedelta(hours=topics[t].get("recent_hours", 0)) else 0
            for t, w in zip(names, weights, strict=True)
        ]
        topic = rng.choices(names, [u + r for u, r in zip(usual, recent, strict=True)])[0]
        spec = topics[topic]
        posts.append(writer.post(number, topic, when, spec["templates"], spec.get("sources")))
    return posts
