"""Lexical evidence for the Selector: how much of a task's rare vocabulary a skill's texts use.

Dense embeddings blur the exact words that route a request ("EXPLAIN", "pytest", "postmortem",
"jq"); a lexical signal keeps them. The score is the idf-weighted share of the task's words that
occur in a skill's texts, in [0, 1], so that it adds to a cosine similarity on a fixed scale
whatever the library's size (raw BM25 scores grow with the corpus and the query's length, and
would need a threshold per library). Hand-written rather than a BM25 package because the
Selector needs this bounded coverage, not a ranking score, and it is twenty lines.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[a-z0-9]+")
# Function words and the politeness every request carries: they match every skill alike.
_STOP = frozenset(
    """a an the and or of to for in on at by with from is are be this that these those it its my
    our your me we you i can could would should how what why do does did please help need want
    any some into about as""".split()
)
_SUFFIXES = ("ing", "edly", "ed", "es", "s", "ly")


def words(text: str) -> list[str]:
    """Lowercased word stems without stop words (a light suffix strip: tests/test, queries/query
    are near enough)."""
    out = []
    for word in _WORD.findall(text.lower()):
        if word in _STOP:
            continue
        for suffix in _SUFFIXES:
            if len(word) > len(suffix) + 2 and word.endswith(suffix):
                word = word[: -len(suffix)]
                break
        out.append(word)
    return out


class LexicalStats:
    """Document frequencies over every indexed text (one document per text)."""

    def __init__(self, documents: Iterable[Iterable[str]] = ()) -> None:
        self.df: Counter[str] = Counter()
        self.n = 0
        for doc in documents:
            self.df.update(set(doc))
            self.n += 1

    def idf(self, word: str) -> float:
        # BM25's idf, never negative; a word no skill uses weighs the most, so an off-topic
        # request keeps a low coverage even when it shares a few common words with a skill.
        n = self.df.get(word, 0)
        return math.log(1.0 + (self.n - n + 0.5) / (n + 0.5))

    def coverage(self, query: Sequence[str], vocabulary: set[str] | frozenset[str]) -> float:
        """Share of the query's idf mass found in `vocabulary` (a skill's words), in [0, 1]."""
        terms = set(query)
        total = sum(self.idf(w) for w in terms)
        if total <= 0.0:
            return 0.0
        return sum(self.idf(w) for w in terms if w in vocabulary) / total
