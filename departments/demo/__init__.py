"""The demo's data (YAML files in this folder, written for Switchboard) and the code that
turns it into 90 days of history: `compose` writes the posts, `history` works them through
the case services as the demo staff would have."""

from functools import cache
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).resolve().parent


@cache
def demo_data(name: str) -> dict:
    """One of the data files (company, vocabulary, posts, work), parsed."""
    return yaml.safe_load((DATA_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
