"""Lexical evidence for the Selector: BM25 of a task against each skill's texts, bounded.

Dense embeddings blur the exact words that route a request ("EXPLAIN", "pytest", "postmortem",
"jq"); a lexical signal keeps them. Each skill is one document (its description sentences and
example requests together) and the task is scored against it with Okapi BM25, divided by the
score a document would reach if it used every query word without end (sum of idf x (k1 + 1)).
So the score lies in [0, 1) and adds to a cosine similarity on a fixed scale whatever the
library's size (raw BM25 grows with the corpus and the query's length, and would need a cut per
library). Cross-validated on the Selector's tuning tasks, BM25 routed better than the plain
share of the task's rare words a skill uses (what this module scored before); on the held-out
task sets the two tie (README, Skill Selector benchmark). Hand-written rather than a BM25
package because the Selector scores a few candidates against statistics kept in memory, not a
whole corpus per query.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

_WORD = re.compile(r"[a-z0-9]+")
# Function words and the politeness every request carries: they match every skill alike.
_STOP = frozenset(
    """a an the and or of to for in on at by with from is are be this that these those it its my
    our your me we you i can could would should how what why do does did please help need want
    any some into about as""".split()
)
_SUFFIXES = ("ing", "edly", "ed", "es", "s", "ly")
K1 = 1.2  # term-frequency saturation (Okapi's usual value)
B = 0.75  # document-length normalisation (Okapi's usual value)


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
    """Document frequencies and the mean length over the skills (one document per skill)."""

    def __init__(self, documents: Iterable[Mapping[str, int]] = ()) -> None:
        self.df: Counter[str] = Counter()
        self.n = 0
        total = 0
        for doc in documents:
            self.df.update(doc.keys())
            total += sum(doc.values())
            self.n += 1
        self.mean_length = total / self.n if self.n else 0.0

    def idf(self, word: str) -> float:
        # BM25's idf, never negative; a word no skill uses weighs the most, so an off-topic
        # request keeps a low score even when it shares a few common words with a skill.
        n = self.df.get(word, 0)
        return math.log(1.0 + (self.n - n + 0.5) / (n + 0.5))

    def bm25(self, query: Sequence[str], document: Mapping[str, int]) -> float:
        """Okapi BM25 of `query` (its distinct words) against `document` (a skill's word
        counts), divided by its upper bound: in [0, 1)."""
        idf = {word: self.idf(word) for word in set(query)}
        bound = sum(idf.values()) * (K1 + 1.0)
        if bound <= 0.0:
            return 0.0
        length = sum(document.values())
        mean = self.mean_length or float(length) or 1.0
        norm = K1 * (1.0 - B + B * length / mean)
        score = 0.0
        for word, weight in idf.items():
            tf = document.get(word, 0)
            if tf:
                score += weight * tf * (K1 + 1.0) / (tf + norm)
        return score / bound
