"""Answer extraction and checking, one rule per check kind."""

from __future__ import annotations

import pytest

from evofuse.eval.checks import is_correct, score
from evofuse.eval.suites import SuiteItem, load_suite


def item(answer: str, check: str = "exact") -> SuiteItem:
    return SuiteItem(id="t", question="q", answer=answer, check=check)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reply", "answer", "ok"),
    [
        ("Paris", "Paris", True),
        ("Let me think.\nThe capital is a city.\nAnswer: **Paris**.", "paris", True),
        ("I think it's Paris.\nAnswer: Lyon", "Paris", False),  # the Answer line decides
        ("Some reasoning\n\nParis", "Paris", True),  # no Answer line: the last line
        ("Answer: 4.0", "4", True),  # numbers compare as numbers
        ("Answer: Paris, France", "Paris", False),
        ("So the answer is 4.", "4", True),
    ],
)
def test_exact(reply: str, answer: str, ok: bool) -> None:
    assert score(item(answer), reply) == (1.0 if ok else 0.0)


@pytest.mark.parametrize(
    ("reply", "answer", "ok"),
    [
        ("17 * 3 = 51\nAnswer: 51", "51", True),
        ("Answer: The total is 1,000 apples.", "1000", True),
        ("Answer: 0.50", ".5", True),
        ("Answer: 3/4", "0.75", True),
        ("Step 1: 12, step 2: 51. So it is fifty-one.", "51", True),  # no number in the last line
        ("Answer: 52", "51", False),
        ("I cannot say.", "51", False),
        ("Answer: -4", "4", False),
    ],
)
def test_number(reply: str, answer: str, ok: bool) -> None:
    assert score(item(answer, "number"), reply) == (1.0 if ok else 0.0)


def test_contains_and_regex() -> None:
    assert score(item("New York", "contains"), "It is  new york, I believe.") == 1.0
    assert score(item("Boston", "contains"), "It is New York.") == 0.0
    assert score(item(r"\b(red|blue)\b", "regex"), "Answer: blue") == 1.0
    assert score(item(r"^\d+$", "regex"), "Answer: blue") == 0.0


def test_reasoning_gym_scorer_gets_the_extracted_answer() -> None:
    suite = load_suite("rg:basic_arithmetic", n=3, seed=7)
    task = suite.items[0]
    right = f"Working it out...\nAnswer: {task.answer}"
    assert is_correct(score(task, right, suite.rg_dataset))
    wrong = f"Answer: {int(task.answer) + 1}"
    assert not is_correct(score(task, wrong, suite.rg_dataset))
    # the number is extracted from a sentence, too
    assert is_correct(score(task, f"The result is {task.answer}.", suite.rg_dataset))
    with pytest.raises(ValueError, match="reasoning-gym dataset"):
        score(task, right, None)
