"""Per-item signals besides the department scores: sentiment, language, priority, intents.

All of them are cheap, deterministic and explainable; the department model is the only
learned part of routing.
"""

import re
from dataclasses import dataclass, field
from functools import lru_cache

URGENT_PATTERNS = [
    r"\boutage\b",
    r"\bdown for (everyone|hours|days)\b",
    r"\blaws?uits?\b",
    r"\bsu(e|ing)\b",
    r"\blawyers?\b",
    r"\blegal action\b",
    r"\bsafety\b",
    r"\bunsafe\b",
    r"\binjur(y|ed|ies)\b",
    r"\bbreach\b",
    r"\bdata leak\b",
    r"\bhacked\b",
    r"\bfraud\b",
    r"\bstolen\b",
    r"\bcancel (my|our) (account|subscription|membership)\b",
    r"\bchargeback\b",
    r"\bfire\b",
    r"\bpoison",
    r"\bdiscriminat",
    r"\bharass",
]
_URGENT = re.compile("|".join(URGENT_PATTERNS), re.IGNORECASE)

# Intent tags: plain keyword cues, so a tag always has a visible reason.
INTENT_PATTERNS: dict[str, str] = {
    "bug": r"\b(bug|crash(es|ed|ing)?|broken|error|doesn'?t work|not working|won'?t (load|open)"
    r"|freez(es|ing)|glitch)\b",
    "feature_request": r"\b(please add|would (love|like) (it|to see|if)|feature request|"
    r"wish (it|you|there)|should (add|have|support)|can you add|it would be (nice|great))\b",
    "question": r"(\?\s*$|^(how|what|when|where|why|can|could|is|are|do|does)\b)",
    "complaint": r"\b(terrible|awful|worst|disappointed|unacceptable|ridiculous|rude|"
    r"complain(t)?|refund|never again|waste)\b",
    "praise": r"\b(love|great|awesome|amazing|thank(s| you)|excellent|fantastic|best)\b",
    "job_inquiry": r"\b(hiring|job|jobs|career|careers|position|apply|applied|application|"
    r"internship|resume|cv|interview|work (for|at) you)\b",
    "partnership": r"\b(partner(ship)?|collab(oration)?|sponsor(ship)?|influencer|"
    r"affiliate|press (inquiry|enquiry)|media kit|wholesale)\b",
    "spam": r"\b(free (money|gift|entry|prize)|click (here|the link)|win(ner)? (a|cash)|"
    r"crypto giveaway|txt|urgent! you)\b",
}
_INTENTS = {
    name: re.compile(p, re.IGNORECASE | re.MULTILINE) for name, p in INTENT_PATTERNS.items()
}

HIGH_REACH_FOLLOWERS = 10_000


@dataclass
class Signals:
    sentiment: float
    sentiment_label: str
    sentiment_confidence: float
    language: str
    priority: str
    intents: list[str] = field(default_factory=list)
    priority_reasons: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=1)
def _langid():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def warm_up() -> None:
    """Load the lexicon and the language model now rather than on the first item."""
    _vader()
    _langid()


def sentiment_score(text: str) -> tuple[float, str, float]:
    """VADER compound score in [-1, 1], its label, and a confidence in [0, 1]."""
    scores = _vader().polarity_scores(text[:2000])
    compound = scores["compound"]
    # VADER's own recommended cut-offs for social text.
    if compound >= 0.05:
        label = "positive"
    elif compound <= -0.05:
        label = "negative"
    else:
        label = "neutral"
    confidence = abs(compound) if label != "neutral" else scores["neu"]
    return compound, label, round(confidence, 3)


def language_detect(text: str) -> str:
    """ISO 639-1 code, or '' when the text is too short or the guess too weak to trust."""
    if len(text.strip()) < 12:
        return ""
    lang, prob = _langid().classify(text[:1000])
    return lang if prob >= 0.5 else ""


def intents_detect(text: str) -> list[str]:
    return [name for name, pattern in _INTENTS.items() if pattern.search(text)]


def priority_decide(*, text: str, sentiment: float, followers: int | None) -> tuple[str, list[str]]:
    reasons: list[str] = []
    urgent = _URGENT.search(text)
    if urgent:
        reasons.append(f"urgency word '{urgent.group(0).lower()}'")
    if sentiment <= -0.6:
        reasons.append("very negative")
    if followers and followers >= HIGH_REACH_FOLLOWERS:
        reasons.append(f"author reach {followers}")
    if urgent and (sentiment < 0 or (followers or 0) >= HIGH_REACH_FOLLOWERS):
        return "urgent", reasons
    if urgent or (sentiment <= -0.6 and (followers or 0) >= HIGH_REACH_FOLLOWERS):
        return "high", reasons
    if sentiment <= -0.6 or (followers or 0) >= HIGH_REACH_FOLLOWERS:
        return "high" if sentiment < 0 else "normal", reasons
    if sentiment >= 0.5 and not reasons:
        return "low", reasons
    return "normal", reasons


# The learned head's probability of "positive" maps to [-1, 1]; inside this band around
# 0 a post is neutral (questions, statements).
LEARNED_NEUTRAL_BAND = 0.3


def learned_sentiment(positive: float) -> tuple[float, str, float]:
    """(score in [-1, 1], label, confidence) from the model's sentiment head."""
    score = 2.0 * float(positive) - 1.0
    if score >= LEARNED_NEUTRAL_BAND:
        label = "positive"
    elif score <= -LEARNED_NEUTRAL_BAND:
        label = "negative"
    else:
        label = "neutral"
    return round(score, 4), label, round(abs(score), 3)


def signals_compute(
    *, text: str, followers: int | None, language: str = "", positive: float | None = None
) -> Signals:
    """Signals for one post. `positive` is the model's sentiment head (probability the
    post is praise rather than a complaint); without one VADER decides."""
    if positive is None:
        compound, label, confidence = sentiment_score(text)
    else:
        compound, label, confidence = learned_sentiment(positive)
    priority, reasons = priority_decide(text=text, sentiment=compound, followers=followers)
    return Signals(
        sentiment=round(compound, 4),
        sentiment_label=label,
        sentiment_confidence=confidence,
        language=language or language_detect(text),
        priority=priority,
        intents=intents_detect(text),
        priority_reasons=reasons,
    )
