"""Template-built short stories: the demo model's whole training corpus.

The templates and word lists are data (``toolchain/data/demo_stories.yaml``);
this module only fills the slots with a seeded ``random.Random``, so the
same seed always gives the same corpus and the model can be rebuilt
exactly.  Stories are single paragraphs of 7-bit ASCII with single spaces,
which keeps the tokenizer simple (no merges across words).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import yaml

from toolchain import paths

STORY_FILE = paths.DATA_DIR / "demo_stories.yaml"
_SLOT = re.compile(r"\{(\w+?)(2?)\}")
_PRONOUNS = {
    "girl": {"he": "she", "his": "her", "him": "her"},
    "boy": {"he": "he", "his": "his", "him": "him"},
}


def load(path: Path = STORY_FILE) -> dict:
    """The templates and word lists."""
    return yaml.safe_load(path.read_text(encoding="ascii"))


def story(data: dict, rng: random.Random) -> str:
    """One story: a random template with every slot filled."""
    template = rng.choice(data["templates"])
    hero = rng.choice(data["heroes"])
    picks: dict[str, list[str]] = {}

    def fill(m: re.Match[str]) -> str:
        word, second = m.group(1), m.group(2)
        lower = word.lower()
        if lower in ("he", "his", "him"):
            value = _PRONOUNS[hero["kind"]][lower]
            return value.capitalize() if word[0].isupper() else value
        if word in ("name", "kind"):
            return str(hero[word])
        if word not in picks:
            picks[word] = rng.sample(list(data[word]), 2)
        return picks[word][1 if second else 0]

    text = _SLOT.sub(fill, template)
    return " ".join(text.split())


def stories(n: int, seed: int, data: dict | None = None) -> list[str]:
    """``n`` stories from ``seed``."""
    data = data or load()
    rng = random.Random(seed)
    return [story(data, rng) for _ in range(n)]
