"""Suite parsing: every way a suite can be wrong names the file and the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evofuse.errors import SuiteError, UserError
from evofuse.eval.suites import load_suite


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "suite.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_valid_suite_with_every_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        json.dumps({"question": "2+2?", "answer": 4, "check": "number", "skill": "math"}),
        "",
        json.dumps({"question": "Capital of France?", "answer": "Paris", "id": "geo-1"}),
        json.dumps({"question": "A colour?", "answer": "red|blue", "check": "regex", "x": 1}),
    )
    suite = load_suite(str(path))
    assert suite.name == "suite.jsonl"
    assert [i.id for i in suite.items] == ["line-1", "geo-1", "line-4"]
    first = suite.items[0]
    assert (first.answer, first.check, first.skill) == ("4", "number", "math")
    assert suite.items[1].check == "exact" and suite.items[1].skill is None
    assert [i.id for i in load_suite(str(path), n=2).items] == ["line-1", "geo-1"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"question": "q", "answer": "a"', "not valid JSON"),
        ('["question", "answer"]', "expected a JSON object, got list"),
        ('{"answer": "a"}', "missing `question`"),
        ('{"question": "  ", "answer": "a"}', "missing `question`"),
        ('{"question": "q"}', "missing `answer`"),
        ('{"question": "q", "answer": null}', "missing `answer`"),
        ('{"question": "q", "answer": true}', "missing `answer`"),
        ('{"question": "q", "answer": " "}', "`answer` is empty"),
        ('{"question": "q", "answer": "a", "check": "fuzzy"}', "unknown check 'fuzzy'"),
        ('{"question": "q", "answer": "(a", "check": "regex"}', "not a valid regular expression"),
        ('{"question": "q", "answer": "a", "skill": 3}', "`skill` must be a non-empty string"),
        ('{"question": "q", "answer": "a", "id": ""}', "`id` must be a non-empty string"),
    ],
)
def test_a_bad_line_is_named_by_file_and_number(tmp_path: Path, line: str, message: str) -> None:
    good = json.dumps({"question": "ok?", "answer": "yes"})
    path = write(tmp_path, good, "", line)
    with pytest.raises(SuiteError) as caught:
        load_suite(str(path))
    assert f"{path}:3:" in caught.value.message
    assert message in caught.value.message
    assert isinstance(caught.value, UserError)  # the CLI exits 2 on it


def test_unknown_check_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, '{"question": "q", "answer": "a", "check": "fuzzy"}')
    with pytest.raises(SuiteError) as caught:
        load_suite(str(path))
    assert caught.value.hint == "Use one of: exact, number, contains, regex"


def test_duplicate_ids(tmp_path: Path) -> None:
    row = json.dumps({"question": "q", "answer": "a", "id": "t1"})
    with pytest.raises(SuiteError, match=r"suite.jsonl:2: id 't1' was already used on line 1"):
        load_suite(str(write(tmp_path, row, row)))


@pytest.mark.parametrize("content", ["", "\n\n   \n"])
def test_an_empty_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SuiteError, match="holds no tasks") as caught:
        load_suite(str(path))
    assert caught.value.hint


def test_a_missing_file_says_what_a_suite_is(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="does not exist") as caught:
        load_suite(str(tmp_path / "nope.jsonl"))
    assert caught.value.hint and "rg:<dataset>" in caught.value.hint


def test_a_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "suite.jsonl"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SuiteError, match="Cannot read"):
        load_suite(str(path))


def test_n_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="--n must be at least 1"):
        load_suite(str(write(tmp_path, '{"question": "q", "answer": "a"}')), n=0)


def test_reasoning_gym_suite_is_seeded_and_disjoint_across_seeds() -> None:
    first = load_suite("rg:basic_arithmetic", n=5, seed=1)
    again = load_suite("rg:basic_arithmetic", n=5, seed=1)
    other = load_suite("rg:basic_arithmetic", n=5, seed=2)
    assert first.name == "rg:basic_arithmetic" and len(first.items) == 5
    assert [i.question for i in first.items] == [i.question for i in again.items]
    assert {i.question for i in first.items} != {i.question for i in other.items}
    item = first.items[0]
    assert item.check == "rg" and item.skill == "basic_arithmetic" and item.entry is not None
    assert first.rg_dataset is not None


def test_unknown_reasoning_gym_dataset_suggests_close_names() -> None:
    with pytest.raises(SuiteError, match="Unknown reasoning-gym dataset 'basic_arithmetc'") as e:
        load_suite("rg:basic_arithmetc")
    assert e.value.hint and "basic_arithmetic" in e.value.hint


def test_the_example_suite_loads() -> None:
    suite = load_suite(str(Path(__file__).parents[3] / "examples" / "suites" / "basics.jsonl"))
    assert len(suite.items) == 16
    assert {i.check for i in suite.items} == {"contains", "number", "regex", "exact"}
    assert {i.skill for i in suite.items} == {"facts", "arithmetic", "words"}
