"""Hypothesis strategies for hostile input, shared by the abuse tests.

Text deliberately includes what real clients send by mistake or on purpose: NUL and other
control characters, lone surrogates (valid in JSON escapes, not encodable as UTF-8),
noncharacters, decomposed accents, bidi overrides, and strings around the length caps.
"""

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Deterministic by default so CI never flakes; ABUSE_RANDOM=1 explores new inputs locally,
# ABUSE_SCALE=10 tries ten times as many.
RANDOM = os.environ.get("ABUSE_RANDOM") == "1"
SCALE = int(os.environ.get("ABUSE_SCALE", "1"))


def abuse_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples * SCALE,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


NASTY_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\ud83d\ude00",  # a surrogate *pair* as two code points (what a naive decoder yields)
    "e\u0301",  # NFD: e + combining acute
    "e\x00\u0301",  # a control character between a base and its combining mark
    "\r\n",
    "\r",
    "\u2028\u2029",
    "\ufeff",
    "\ufffe\uffff",
    "\x85\x9f\x7f",
    "\u202eevil",
    "\t\n\x0b\x0c",
    "' OR 1=1 --",
    "<script>window.__pwned=1</script>",
    "http://[::1",
    "https://[zz]/",
    "javascript:alert(1)",
    " JAVASCRIPT:alert(1)",
    "java\tscript:alert(1)",
    "https://example.com/ok",
    "2026-01-01T00:00:00+15:59",
    "2026-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00-01:00",
    "9999-12-31T23:59:59+00:00",
    "2026-02-30T00:00:00Z",
    "pt-BR",
    "web",
    "../../etc/passwd",
    "%s%s%n",
    "{{7*7}}",
]

characters = st.characters(exclude_categories=())  # every code point, surrogates included
controls = st.sampled_from(
    [chr(c) for c in [*range(0, 32), *range(127, 160)]]
    + ["\ud800", "\udc00", "\ufffe", "\uffff", "\u0301", "\u0308"]
)

texts = st.one_of(
    st.text(characters, max_size=40),
    st.text(st.one_of(controls, st.sampled_from("ae \u00e9\u0301")), max_size=20),
    st.sampled_from(NASTY_STRINGS),
    # Around the 10,000-character body cap (and the 255/2000 caps of other fields).
    st.builds(
        lambda ch, n: ch * n,
        st.sampled_from(["a", "\u00e9", "e\u0301", "\x00", " "]),
        st.sampled_from([254, 255, 256, 1999, 2000, 2001, 9999, 10_000, 10_001, 20_000]),
    ),
)
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(),  # NaN and infinities included: Python's json module reads them
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)
    ),
    max_leaves=12,
)
strict_json_values = st.recursive(  # what a JSON request body can hold (no NaN)
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        texts,
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)
    ),
    max_leaves=12,
)


def _maybe(strategy):
    return st.one_of(strategy, json_values)


urls = st.one_of(
    st.builds(
        lambda scheme, rest: scheme + rest,
        st.sampled_from(
            [
                "http://",
                "https://",
                "HTTP://",
                "javascript:",
                "data:",
                "ftp://",
                "//",
                "http:",
                "https://[",
                "",
            ]
        ),
        texts,
    ),
    texts,
)
datetimes = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    texts,
)
authors = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "handle": _maybe(texts),
            "name": _maybe(texts),
            "url": _maybe(urls),
            "followers": _maybe(numbers),
            "junk": json_values,
        },
    ),
    json_values,
)


def payloads(*, values=json_values, external_ids=None):
    """A post as an integration might send it: usually dict-shaped, every field hostile."""
    external_ids = _maybe(texts) if external_ids is None else external_ids
    shaped = st.fixed_dictionaries(
        {"external_id": external_ids, "body": _maybe(texts)},
        optional={
            "source": _maybe(texts),
            "author": authors,
            "url": _maybe(urls),
            "posted_at": _maybe(datetimes),
            "language": _maybe(texts),
            "in_reply_to": _maybe(texts),
            "raw": st.one_of(st.dictionaries(texts, values, max_size=5), values),
            "unknown": values,
        },
    )
    return st.one_of(shaped, shaped, shaped, values)
