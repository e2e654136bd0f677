"""Per-source weight corrections for the public training files, by department definition.

Each entry multiplies the weight of one (source, department) cell after the usual balancing
(every department weighs the same, every source within it about the same; see
`training.balanced_weights`). They fix label mappings that contradict what the departments
mean here, and sources whose labels are known to be noisy (the dataset README's spot
checks). Nothing here was fitted to `validation.csv`: each line states its reason.

Only sources named here are touched; a file without a `source` column gets no correction.
"""

from __future__ import annotations

SOURCE_WEIGHTS: dict[tuple[str, str], tuple[float, str]] = {
    ("clinc150", "noise"): (
        0.3,
        "CLINC150's out-of-scope queries are requests an assistant could not serve ('I need "
        "to talk to someone about my order'); many are support in our sense, so as noise "
        "they teach that short chat requests are noise.",
    ),
    ("ibm_twitter_care", "support"): (
        0.6,
        "~25 % wrong department by the README's spot check (bug reports, fan chatter).",
    ),
    ("complaints_tweets", "support"): (0.6, "~25-30 % wrong department (README spot check)."),
    ("complaints_tweets", "product"): (0.6, "~25-30 % wrong department (README spot check)."),
    ("reddit_antiwork", "hr"): (0.6, "~20 % political or meme posts (README spot check)."),
    ("coachella_tweets", "marketing"): (
        0.6,
        "~15 % excitement about a line-up, not about a company (README spot check).",
    ),
}


# Estimated share of each source's rows whose department is wrong: the dataset README's
# spot checks ("Label-noise estimate", 10-20 random rows per source; a range is taken at its
# midpoint, "< 5 %" as 2.5 %). Sources it gives no figure for count as clean. Thresholds
# use these so a noisy source's wrong labels are not all charged to the model
# (training.choose_thresholds); none of them was fitted to validation.csv.
SOURCE_LABEL_NOISE: dict[str, float] = {
    "ibm_twitter_care": 0.25,
    "complaints_tweets": 0.275,
    "amazon_qa_appliances": 0.20,
    "reddit_antiwork": 0.20,
    "coachella_tweets": 0.15,
    "k8_phone_reviews": 0.10,
    "xdailydialog": 0.10,
    "uci_sentiment_sentences": 0.05,
    "crowdflower_disasters": 0.05,
    "crowdflower_text_emotion": 0.05,
    "indeed_bank_reviews": 0.025,
    "glassdoor_company1": 0.025,
}


def source_weight(source: str, department: str) -> float:
    entry = SOURCE_WEIGHTS.get((source, department))
    return entry[0] if entry else 1.0


def curated_weights(sources: list[str], departments: list[str]) -> list[float]:
    return [source_weight(s, d) for s, d in zip(sources, departments, strict=True)]
