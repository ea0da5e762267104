"""SKILL.md parsing and validation: the Agent Skills fields plus EvoFuse's metadata keys."""

from __future__ import annotations

import pytest

from evofuse.config.models import FusionMode
from evofuse.skills import Severity, Step, format_steps, parse_skill_md
from evofuse.skills.spec import search_texts

STEPS = """metadata:
  evofuse-mode: debate
  evofuse-steps: |
    1. find [debate]: List every defect.
       Say how sure you are.
    2. write: Write the review.
"""


META = "---\nname: x\ndescription: d\nmetadata:\n"


def parse(text: str, folder: str | None = None):  # type: ignore[no-untyped-def]
    return parse_skill_md(text.encode(), path="x/SKILL.md", folder=folder)


def errors(text: str, folder: str | None = None) -> list[str]:
    _, issues = parse(text, folder)
    return [f"{i.field}: {i.message}" for i in issues if i.severity is Severity.ERROR]


def test_minimal_skill_is_a_one_step_skill() -> None:
    spec, issues = parse(
        "---\nname: tidy\ndescription: Tidy things.\n---\n# Tidy\nDo it.\n", "tidy"
    )
    assert spec is not None and issues == []
    assert spec.steps == ()
    (only,) = spec.effective_steps()
    assert only == Step(name="tidy", instruction="# Tidy\nDo it.", mode=None)


def test_all_spec_fields_and_evofuse_metadata() -> None:
    text = (
        "---\nname: review\ndescription: Review code.\nlicense: MIT\ncompatibility: Python 3\n"
        "allowed-tools: Read Grep\n" + STEPS + "---\nBody\n"
    )
    spec, issues = parse(text, "review")
    assert spec is not None, issues
    assert issues == []
    assert (spec.license, spec.compatibility, spec.allowed_tools) == (
        "MIT",
        "Python 3",
        "Read Grep",
    )
    assert spec.mode is FusionMode.DEBATE
    assert spec.steps == (
        Step(
            name="find",
            instruction="List every defect.\nSay how sure you are.",
            mode=FusionMode.DEBATE,
        ),
        Step(name="write", instruction="Write the review.", mode=None),
    )
    assert spec.effective_steps() == spec.steps


def test_steps_round_trip_through_format_steps() -> None:
    steps = (
        Step(name="a", instruction="First line\nsecond line", mode=FusionMode.MERGE),
        Step(name="b", instruction="Only line"),
    )
    text = (
        "---\nname: s\ndescription: d\nmetadata:\n  evofuse-steps: |\n"
        + "".join(f"    {line}\n" if line else "\n" for line in format_steps(steps).splitlines())
        + "---\nbody\n"
    )
    spec, issues = parse(text)
    assert spec is not None, issues
    assert spec.steps == steps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\n", "frontmatter: missing: SKILL.md must start with a '---' line"),
        ("---\nname: x\ndescription: d\n", "frontmatter: not closed"),
        (
            "---\nname: x\ndescription: a: b\n---\n",
            "frontmatter: invalid YAML (frontmatter line 2)",
        ),
        ("---\n- a\n---\n", "frontmatter: must be a YAML mapping"),
        ("---\ndescription: d\n---\n", "name: missing"),
        ("---\nname: 42\ndescription: d\n---\n", "name: must be a string, got int"),
        ("---\nname: Bad_Name\ndescription: d\n---\n", "name: 'Bad_Name' must use only lowercase"),
        ("---\nname: -bad\ndescription: d\n---\n", "name: '-bad' must use only lowercase"),
        ("---\nname: a--b\ndescription: d\n---\n", "name: 'a--b' must use only lowercase"),
        (
            "---\nname: " + "a" * 65 + "\ndescription: d\n---\n",
            "name: must be 1-64 characters, got 65",
        ),
        ("---\nname: x\n---\n", "description: missing"),
        ("---\nname: x\ndescription: '  '\n---\n", "description: is empty"),
        ("---\nname: x\ndescription: [a]\n---\n", "description: must be a string, got list"),
        (
            META + "  evofuse-mode: loud\n---\n",
            "metadata.evofuse-mode: 'loud' is not a fusion mode "
            "(one of: best-of, merge, debate, single, vote, auto)",
        ),
        (
            META + "  evofuse-steps: just do it\n---\n",
            "metadata.evofuse-steps: line 1: expected 'N. step-name [mode]: instruction'",
        ),
        (
            META + "  evofuse-steps: |\n    2. a: x\n---\n",
            "metadata.evofuse-steps: steps must be numbered 1, 2, 3…; got 2",
        ),
        (
            META + "  evofuse-steps: |\n    1. a: x\n    2. a: y\n---\n",
            "metadata.evofuse-steps step 2: name 'a' is used twice",
        ),
        (
            META + "  evofuse-steps: |\n    1. a:\n---\n",
            "metadata.evofuse-steps step 1: has no instruction",
        ),
        (
            META + "  evofuse-steps: |\n    1. a [shout]: x\n---\n",
            "metadata.evofuse-steps step 1: 'shout' is not a fusion mode",
        ),
        (
            META + "  evofuse-mode: [1]\n---\n",
            "metadata.evofuse-mode: must be a string",
        ),
    ],
)
def test_errors_name_the_field_and_the_problem(text: str, expected: str) -> None:
    spec, _ = parse(text)
    assert spec is None
    assert any(e.startswith(expected) for e in errors(text)), errors(text)


def test_name_must_equal_folder() -> None:
    assert errors("---\nname: one\ndescription: d\n---\n", folder="two") == [
        "name: 'one' must equal its folder name 'two'; rename one"
    ]


def test_not_utf8_is_an_error() -> None:
    spec, issues = parse_skill_md(b"---\nname: x\ndescription: \xff\n---\n", path="p")
    assert spec is None
    assert issues[0].field == "file" and "not UTF-8" in issues[0].message


def test_specification_departures_are_warnings_and_the_skill_still_loads() -> None:
    text = (
        "---\nname: x\ndescription: "
        + "d" * 1025
        + "\ncompatibility: "
        + "c" * 501
        + "\nargument-hint: '[file]'\nmetadata:\n  author: {name: me}\n---\n"
    )
    spec, issues = parse(text)
    assert spec is not None
    assert all(i.severity is Severity.WARNING for i in issues)
    assert {i.field: i.message for i in issues} == {
        "description": "is 1025 characters; the specification allows at most 1024",
        "compatibility": "is 501 characters; the specification allows at most 500",
        "argument-hint": "not an Agent Skills field; kept as-is, unused",
        "metadata.author": "the specification wants string values",
        "body": "no instructions after the frontmatter",
    }


def test_bom_and_crlf_are_accepted() -> None:
    spec, issues = parse_skill_md(
        b"\xef\xbb\xbf---\r\nname: x\r\ndescription: d\r\n---\r\nbody\r\n", path="p"
    )
    assert spec is not None, issues
    assert spec.body == "body\r\n"


def test_search_texts_split_sentences_add_examples_and_drop_not_for() -> None:
    texts = search_texts(
        "Review SQL queries. Use when asked if a query is slow. NOT for: code review, or tests.",
        ("Why is my query slow?", "Review SQL queries."),
    )
    assert texts == [
        "Review SQL queries.",
        "Use when asked if a query is slow.",
        "Why is my query slow?",
    ]


def test_examples_are_parsed_one_per_line() -> None:
    spec, _ = parse(META + "  evofuse-examples: |\n    - first\n\n    second\n---\nb\n")
    assert spec is not None and spec.examples == ("first", "second")
