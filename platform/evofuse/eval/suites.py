"""Evaluation suites: a JSONL file of checkable tasks, or a reasoning-gym generator (`rg:NAME`).

A JSONL suite holds one JSON object a line::

    {"question": "What is 17 * 3?", "answer": "51", "check": "number", "skill": "arithmetic"}

`question` and `answer` are required (`answer` may be a JSON number); `check` is one of
`exact` (the default), `number`, `contains`, `regex` (then `answer` is the pattern); `skill`
groups tasks for mode `auto`; `id` names a task in reports (default: `line-N`). Blank lines are
skipped; other keys are ignored.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from evofuse.errors import SuiteError

CheckKind = Literal["exact", "number", "contains", "regex", "rg"]
FILE_CHECKS: tuple[str, ...] = tuple(c for c in get_args(CheckKind) if c != "rg")
RG_PREFIX = "rg:"
DEFAULT_RG_SIZE = 20


@dataclass(frozen=True)
class SuiteItem:
    """One task: the question, the expected answer, and how an answer is checked."""

    id: str
    question: str
    answer: str
    check: CheckKind = "exact"
    skill: str | None = None
    # reasoning-gym only: the generator's entry, which its own scorer needs.
    entry: dict[str, Any] | None = field(default=None, compare=False, repr=False)


@dataclass
class Suite:
    """A named list of tasks; `rg_dataset` is the generator behind an `rg:` suite."""

    name: str
    items: list[SuiteItem]
    rg_dataset: Any = field(default=None, repr=False)


def load_suite(spec: str, *, n: int | None = None, seed: int = 0) -> Suite:
    """Load `spec`: a JSONL path or `rg:<dataset>`. `n` caps (JSONL: the first n) or sizes
    (rg: default 20) the suite; `seed` picks the reasoning-gym tasks."""
    if n is not None and n < 1:
        raise SuiteError(f"--n must be at least 1, got {n}")
    if spec.startswith(RG_PREFIX):
        return reasoning_gym_suite(
            spec.removeprefix(RG_PREFIX), size=n or DEFAULT_RG_SIZE, seed=seed
        )
    suite = read_jsonl(Path(spec))
    if n is not None:
        suite.items = suite.items[:n]
    return suite


def read_jsonl(path: Path) -> Suite:
    """Parse a JSONL suite; raise `SuiteError` naming the line of the first problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(
            f"Suite file {path} does not exist",
            hint='Pass a JSONL file (one {"question", "answer"} object a line) '
            "or rg:<dataset> for a reasoning-gym generator",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"Cannot read suite file {path}: {exc}") from exc
    items: list[SuiteItem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        item = parse_line(line, number, path)
        if item.id in seen:
            raise SuiteError(
                f"{path}:{number}: id {item.id!r} was already used on line {seen[item.id]}",
                hint="Give every task its own id",
            )
        seen[item.id] = number
        items.append(item)
    if not items:
        raise SuiteError(
            f"Suite file {path} holds no tasks",
            hint='Write one JSON object a line, e.g. {"question": "2+2?", "answer": "4"}',
        )
    return Suite(name=path.name, items=items)


def parse_line(line: str, number: int, path: Path | str = "<suite>") -> SuiteItem:
    """One JSONL line as a task (see the module doc for the keys)."""
    where = f"{path}:{number}"
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SuiteError(
            f"{where}: not valid JSON ({exc.msg} at column {exc.colno})",
            hint="Each line must be one JSON object",
        ) from None
    if not isinstance(raw, dict):
        raise SuiteError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    question = raw.get("question")
    if not isinstance(question, str) or not question.strip():
        raise SuiteError(f"{where}: missing `question` (a non-empty string)")
    answer = raw.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, str | int | float):
        raise SuiteError(f"{where}: missing `answer` (a string or a number)")
    answer = str(answer)
    if not answer.strip():
        raise SuiteError(f"{where}: `answer` is empty")
    check = raw.get("check", "exact")
    if check not in FILE_CHECKS:
        raise SuiteError(
            f"{where}: unknown check {check!r}", hint=f"Use one of: {', '.join(FILE_CHECKS)}"
        )
    if check == "regex":
        try:
            re.compile(answer)
        except re.error as exc:
            raise SuiteError(
                f"{where}: `answer` is not a valid regular expression: {exc}"
            ) from None
    skill = raw.get("skill")
    if skill is not None and (not isinstance(skill, str) or not skill.strip()):
        raise SuiteError(f"{where}: `skill` must be a non-empty string when given")
    item_id = raw.get("id", f"line-{number}")
    if not isinstance(item_id, str | int) or isinstance(item_id, bool) or not str(item_id):
        raise SuiteError(f"{where}: `id` must be a non-empty string or a number")
    return SuiteItem(id=str(item_id), question=question, answer=answer, check=check, skill=skill)


def reasoning_gym_suite(name: str, *, size: int = DEFAULT_RG_SIZE, seed: int = 0) -> Suite:
    """`size` tasks of reasoning-gym's generator `name`; different seeds give other tasks.

    reasoning-gym is imported here, not at start-up (it pulls in sympy and ~100 generators).
    """
    import reasoning_gym
    from reasoning_gym.factory import DATASETS

    if name not in DATASETS:
        close = difflib.get_close_matches(name, list(DATASETS), n=5, cutoff=0.5)
        hint = f"Did you mean: {', '.join(close)}?" if close else "See reasoning_gym's datasets"
        raise SuiteError(
            f"Unknown reasoning-gym dataset {name!r} ({len(DATASETS)} are known)", hint=hint
        )
    dataset = reasoning_gym.create_dataset(name, size=size, seed=seed)
    items = [
        SuiteItem(
            id=f"{name}-{seed}-{i}",
            question=str(entry["question"]),
            answer=str(entry["answer"]),
            check="rg",
            skill=name,
            entry=dict(entry),
        )
        for i, entry in enumerate(dataset)
    ]
    return Suite(name=f"{RG_PREFIX}{name}", items=items, rg_dataset=dataset)
