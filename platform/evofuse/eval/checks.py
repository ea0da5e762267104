"""Checking an answer against a task's expected answer.

Models are asked to end with a line `Answer: <final answer>` (`ANSWER_FORMAT`). Extraction:

- `exact`: the final segment (the text after the last `Answer:` or `the answer is`, else the
  last non-empty line),
  lower-cased with spacing, quotes, markdown and trailing punctuation removed, must equal the
  expected answer normalized the same way; when both are numbers they are compared as numbers.
- `number`: the last number of the final segment (else of the whole reply) must equal the
  expected number (`1,000` = `1000`, `0.50` = `.5`, fractions like `3/4` compare by value).
- `contains`: the normalized expected answer appears anywhere in the normalized reply.
- `regex`: the expected answer is a pattern that must match somewhere in the reply.
- `rg`: reasoning-gym's own scorer on the final segment; for a numeric expected answer the
  segment's last number is scored too and the better score counts. Full marks are correct.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from evofuse.eval.suites import SuiteItem
from evofuse.fusion.vote import final_segment, last_number, normalize_text

ANSWER_FORMAT = (
    "Solve the task. Think briefly if you need to, then end your reply with one line of the "
    "form `Answer: <final answer>`."
)
# reasoning-gym gives 1.0 for a correct answer and small partial credit for near misses.
FULL_MARKS = 0.99


def _as_number(text: str) -> Fraction | None:
    token = text.replace(",", "").strip()
    try:
        return Fraction(token)
    except (ValueError, ZeroDivisionError):
        return None


def numbers_equal(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    x, y = _as_number(a), _as_number(b)
    if x is None or y is None:
        return False
    scale = max(Fraction(1), abs(y))
    return bool(abs(x - y) <= scale / 10**9)


def score(item: SuiteItem, reply: str, rg_dataset: Any = None) -> float:
    """The task's score in [0, 1] for `reply` (see the module doc)."""
    segment = final_segment(reply)
    if item.check == "exact":
        said, want = normalize_text(segment), normalize_text(item.answer)
        if said == want or (_as_number(want) is not None and numbers_equal(said, want)):
            return 1.0
        return 0.0
    if item.check == "number":
        want_number = last_number(item.answer)
        got = last_number(segment)
        if got is None:
            got = last_number(reply)
        return 1.0 if numbers_equal(got, want_number) else 0.0
    if item.check == "contains":
        return 1.0 if normalize_text(item.answer) in normalize_text(reply) else 0.0
    if item.check == "regex":
        return 1.0 if re.search(item.answer, reply) else 0.0
    if rg_dataset is None or item.entry is None:
        raise ValueError(f"task {item.id} needs its reasoning-gym dataset to be scored")
    tries = [segment]
    number = last_number(segment)
    if number is not None and _as_number(item.answer) is not None:
        tries.append(number)
    return max(_rg_score(rg_dataset, attempt, item.entry) for attempt in tries)


def _rg_score(dataset: Any, answer: str, entry: dict[str, Any]) -> float:
    try:
        value = float(dataset.score_answer(answer=answer, entry=entry))
    except Exception:  # a generator's scorer may choke on a malformed answer: that is a miss
        return 0.0
    return min(1.0, max(0.0, value))


def is_correct(value: float) -> bool:
    return value >= FULL_MARKS
