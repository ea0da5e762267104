"""Mode `vote` (self-consistency): the members' most common final answer wins, with no judge.

Each answer is reduced to a *vote key* (see `vote_key`); the key held by the most members wins
and the first of those members (in the profile's `models` order) is returned verbatim. A tie
between keys goes to the key whose first holder comes earliest in the profile's `models` order:
the pool order is the user's own ranking of the members, and it keeps the result reproducible.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from evofuse.fusion.types import CandidateResult, JudgeResult

TIE_RULE = "a tie goes to the answer of the member listed first in the profile's models"

# "Answer: X", "Final answer: X", "**Answer:** X", "The answer is X" (the last one counts).
_ANSWER_LINE = re.compile(r"(?:final\s+)?answer(?:\s*[:=]|\s+is\s*:?)\s*(.+)", re.IGNORECASE)
_NUMBER = re.compile(r"[-+]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:/\d+)?")
_MARKUP = re.compile(r"\\boxed\{|[*_`$\\]|^\s*[-#>]+\s+")  # a bullet needs its space: -4
# A final segment longer than this is prose, not an answer: its last number means little.
_SHORT_WORDS = 12


def final_segment(text: str) -> str:
    """The part of an answer that states the result.

    The text after the last `Answer:` (or `Final answer:`, `answer is`) when there is one,
    else the last non-empty line. Markdown emphasis, code ticks, `$` and `\\boxed{` are removed.
    """
    matches = list(_ANSWER_LINE.finditer(text))
    if matches:
        segment = matches[-1].group(1)
    else:
        lines = [line for line in text.strip().splitlines() if line.strip()]
        segment = lines[-1] if lines else ""
    return _MARKUP.sub("", segment).strip().rstrip("}")


def canonical_number(token: str) -> str:
    """`1,000` → `1000`, `4.0` → `4`, `-0.50` → `-0.5`, `3/4` stays `3/4`."""
    token = token.replace(",", "").lstrip("+")
    if "/" in token:
        return token
    if "." in token:
        token = token.rstrip("0").rstrip(".")
    return "0" if token in ("-0", "") else token


def last_number(text: str) -> str | None:
    """The last number in `text`, canonical (see `canonical_number`), or None."""
    numbers = _NUMBER.findall(text)
    return canonical_number(numbers[-1]) if numbers else None


def normalize_text(text: str) -> str:
    """Lower case, single spaces, no surrounding quotes or trailing punctuation."""
    text = " ".join(text.lower().split())
    return text.strip(" \"'").rstrip(".!;:,").strip()


def vote_key(text: str) -> str:
    """What two answers must share to count as the same vote.

    The final segment (`final_segment`); if it is short (at most 12 words) and holds a number,
    its last number (so "The answer is 4." and "4" agree); otherwise its normalized text.
    """
    segment = final_segment(text)
    number = last_number(segment)
    if number is not None and len(segment.split()) <= _SHORT_WORDS:
        return number
    return normalize_text(segment)


@dataclass(frozen=True)
class Tally:
    """The outcome of a vote."""

    winner: CandidateResult
    key: str
    votes: int
    voters: int
    counts: dict[str, int]  # vote key -> number of members
    tie: bool  # the winner shared the top count with another key

    @property
    def rationale(self) -> str:
        shown = self.key if len(self.key) <= 60 else self.key[:57] + "..."
        text = f"vote: {self.votes} of {self.voters} answers agree on {shown!r}"
        if self.tie:
            text += f"; {TIE_RULE}"
        return text


def tally(candidates: Sequence[CandidateResult], pool_order: Sequence[str]) -> Tally:
    """Count the answering candidates' vote keys and pick the winner (see the module doc)."""
    position = {model: i for i, model in enumerate(pool_order)}
    voters = sorted(
        (c for c in candidates if c.status == "ok" and c.content),
        key=lambda c: position.get(c.model, len(position)),
    )
    if not voters:
        raise ValueError("no member gave an answer to vote on")
    keys = [vote_key(c.content or "") for c in voters]
    counts: dict[str, int] = {}
    for key in keys:  # dicts keep insertion order: a key's first holder in pool order
        counts[key] = counts.get(key, 0) + 1
    top = max(counts.values())
    leaders = [key for key, n in counts.items() if n == top]
    key = leaders[0]
    return Tally(
        winner=voters[keys.index(key)],
        key=key,
        votes=top,
        voters=len(voters),
        counts=counts,
        tie=len(leaders) > 1,
    )


def verdict_of(result: Tally) -> JudgeResult:
    """The vote as the step's `judge` record: no judge model, the winner and the tally."""
    return JudgeResult(
        model=None, status="skipped", winner=result.winner.model, rationale=result.rationale
    )
