"""Social-text normalization shared by training, prediction and explanations.

The training data comes from tweets, app reviews, GitHub issues, SMS and assistant
queries. Each source carries surface habits (a leading airline handle, `{link}` and
`@mention` placeholders, `headline. text` layouts, phone numbers) that a model latches
onto and that never appear in other sources. Normalizing them to a few shared tokens
makes the model learn what a message is *about* instead of where it came from.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Placeholder tokens. They are plain word tokens (letters and underscores) so the word
# tokenizer keeps them whole and explanations can show them as-is. (Ruff's S105 takes
# "_TOKEN" names for secrets; these are not.)
URL_TOKEN = "_url_"  # noqa: S105
USER_TOKEN = "_user_"  # noqa: S105
EMAIL_TOKEN = "_email_"  # noqa: S105
NUMBER_TOKEN = "_num_"  # noqa: S105
PHONE_TOKEN = "_phone_"  # noqa: S105
MONEY_TOKEN = "_money_"  # noqa: S105
EMOJI_TOKEN = "_emoji_"  # noqa: S105
SMILE_TOKEN = "_smile_"  # noqa: S105
FROWN_TOKEN = "_frown_"  # noqa: S105
SUPPORT_HANDLE_TOKEN = "_support_handle_"  # noqa: S105

PLACEHOLDER_TOKENS = frozenset(
    {
        URL_TOKEN,
        USER_TOKEN,
        EMAIL_TOKEN,
        NUMBER_TOKEN,
        PHONE_TOKEN,
        MONEY_TOKEN,
        EMOJI_TOKEN,
        SMILE_TOKEN,
        FROWN_TOKEN,
        SUPPORT_HANDLE_TOKEN,
    }
)

# Dataset placeholders are mapped to the same tokens as the real thing, otherwise the
# model learns "{link}" as a marketing word that no live tweet will ever contain.
_PLACEHOLDER_URL = re.compile(r"\{link\}|\[link\]|<link>|\{url\}", re.IGNORECASE)
_PLACEHOLDER_USER = re.compile(r"@mention\b|\{mention\}", re.IGNORECASE)

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|org|net|io|co\.uk|ly)(?:/\S*)?\b")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
# A run of @handles at the very start is the addressee of a reply ("@united my bag ...");
# it names the company being written to, which is not evidence of a department.
_LEADING_HANDLES = re.compile(r"^(?:\s*(?:rt\s+)?[.@]?@\w+[:,]?)+\s*", re.IGNORECASE)
# ... unless the addressee is a help desk (@AppleSupport, @AmazonHelp, @SpotifyCares,
# @Uber_Support): writing to one is itself evidence of a support request, on any brand.
_SUPPORT_HANDLE = re.compile(r"@\w*(?:support|help|care|cares|service|assist)\w*", re.IGNORECASE)
_HANDLE = re.compile(r"(?<!\w)@\w+")
# Redaction and template slots ("XXXX", "XX/XX/2024", "{{Order Number}}", "<name>") keep
# their words where they have any and lose the marks; a run of X's is no word at all.
_REDACTED = re.compile(r"\bX{2,}\b")
_RETWEET = re.compile(r"^\s*rt\b\s*:?", re.IGNORECASE)
_HASHTAG = re.compile(r"#(\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_MONEY = re.compile(
    r"[$£€]\s?\d[\d,]*(?:\.\d+)?|\b\d[\d,]*(?:\.\d+)?\s?(?:usd|eur|gbp|dollars|pounds)\b"
)
# Seven or more digits (optionally grouped) reads as a phone or account number: SMS spam
# and chat support both use them, and a generic number token would hide the difference.
_PHONE = re.compile(r"\+?\d[\d\s-]{5,}\d")
_NUMBER = re.compile(r"\d+(?:[.,:/]\d+)*(?:st|nd|rd|th)?")
_SMILE = re.compile(r"(?:[:;=]-?[)\]dp]|<3)(?!\w)", re.IGNORECASE)
_FROWN = re.compile(r"[:;=]'?-?[(\[/\\](?!\w)")
_REPEATS = re.compile(r"(\w)\1{2,}")
_REPEATED_PUNCT = re.compile(r"([?!])[?!]+")
# Everything that is not a word character, a placeholder underscore, ? or ! becomes a
# space: bullets, "headline. text" full stops and markdown never carry meaning alone.
_NON_TOKEN = re.compile(r"[^\w?!]+")
_APOSTROPHE = re.compile(r"(?<=\w)['’](?=\w)")
_SPACES = re.compile(r"\s+")


def _is_emoji(char: str) -> bool:
    code = ord(char)
    return (
        0x1F000 <= code <= 0x1FAFF  # emoticons, pictographs, transport, flags, ...
        or 0x2600 <= code <= 0x27BF  # misc symbols and dingbats (hearts, stars, ...)
        or 0x2B00 <= code <= 0x2BFF
    )


def _replace_emoji(text: str) -> str:
    if text.isascii():
        return text
    parts: list[str] = []
    for char in text:
        if _is_emoji(char):
            parts.append(f" {EMOJI_TOKEN} ")
        elif unicodedata.category(char) in {"Mn", "Cf"}:
            # Variation selectors and zero-width joiners glue emoji together; drop them.
            continue
        else:
            parts.append(char)
    return "".join(parts)


def _split_hashtag(match: re.Match[str]) -> str:
    # "#NoMoreDelays" carries the words "no more delays"; "#sxsw" stays one word.
    return " " + _CAMEL.sub(" ", match.group(1)) + " "


def _drop_addressee(match: re.Match[str]) -> str:
    return f" {SUPPORT_HANDLE_TOKEN} " if _SUPPORT_HANDLE.search(match.group(0)) else " "


def normalize_text(text: str) -> str:
    """Return a lower-cased, space-separated token string with source artefacts removed."""
    text = html.unescape(text or "")
    text = _PLACEHOLDER_URL.sub(f" {URL_TOKEN} ", text)
    text = _EMAIL.sub(f" {EMAIL_TOKEN} ", text)
    text = _URL.sub(f" {URL_TOKEN} ", text)
    text = _RETWEET.sub(" ", text)
    text = _LEADING_HANDLES.sub(_drop_addressee, text)
    text = _REDACTED.sub(" ", text)
    text = _PLACEHOLDER_USER.sub(f" {USER_TOKEN} ", text)
    text = _HANDLE.sub(f" {USER_TOKEN} ", text)
    text = _HASHTAG.sub(_split_hashtag, text)
    text = _SMILE.sub(f" {SMILE_TOKEN} ", text)
    text = _FROWN.sub(f" {FROWN_TOKEN} ", text)
    text = _replace_emoji(text)
    text = text.lower()
    text = _MONEY.sub(f" {MONEY_TOKEN} ", text)
    text = _PHONE.sub(f" {PHONE_TOKEN} ", text)
    text = _NUMBER.sub(f" {NUMBER_TOKEN} ", text)
    text = _APOSTROPHE.sub("", text)
    text = _REPEATS.sub(r"\1\1", text)
    text = _REPEATED_PUNCT.sub(r"\1", text)
    text = _NON_TOKEN.sub(" ", text)
    # "?" and "!" are kept as their own tokens: a question mark is evidence of a request.
    text = re.sub(r"([?!])", r" \1 ", text)
    return _SPACES.sub(" ", text).strip()


def word_tokens(normalized: str) -> list[str]:
    """Split a normalized string into the word tokens the model and explanations use."""
    return normalized.split()


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)|\n+")
MIN_SEGMENT_WORDS = 4
MAX_SEGMENTS = 6


def split_segments(text: str) -> list[str]:
    """The sentences of a post that are long enough to be scored on their own (at least
    MIN_SEGMENT_WORDS words; at most MAX_SEGMENTS, the longest). Empty for a post of one
    sentence: a post is scored whole, and its sentences too only when it has several."""
    parts = [p.strip() for p in _SENTENCE_END.split(text or "") if p and p.strip()]
    parts = [p for p in parts if len(p.split()) >= MIN_SEGMENT_WORDS]
    if len(parts) < 2:
        return []
    return sorted(parts, key=len, reverse=True)[:MAX_SEGMENTS]


def split_halves(text: str) -> list[str]:
    """Both sides of the post cut after a third, a half and two thirds of its words (each
    side at least MIN_SEGMENT_WORDS words), for posts that run two topics together without
    a sentence break. Empty for a post too short to have two such sides."""
    words = (text or "").split()
    if len(words) < 2 * MIN_SEGMENT_WORDS:
        return []
    cuts = sorted({len(words) // 3, len(words) // 2, (2 * len(words)) // 3})
    parts = []
    for cut in cuts:
        if cut >= MIN_SEGMENT_WORDS and len(words) - cut >= MIN_SEGMENT_WORDS:
            parts += [" ".join(words[:cut]), " ".join(words[cut:])]
    return parts
