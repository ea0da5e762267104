"""The scrubber: recall on the seeded test set, offline operation, and no false alarms on skills."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from evofuse.evolution.pii import PLACEHOLDER, Scrubber, default_scrubber
from tests.unit.evolution.pii_corpus import (
    KINDS,
    PATTERN_KINDS,
    PER_KIND,
    generate,
    generate_held_out,
    recall,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def table() -> dict[str, tuple[int, int, int]]:
    return recall(default_scrubber(), generate())


def test_the_test_set_plants_at_least_100_items_of_each_kind() -> None:
    planted = generate()
    assert PER_KIND >= 100
    assert {k: sum(p.kind == k for p in planted) for k in KINDS} == dict.fromkeys(KINDS, PER_KIND)
    assert all(p.text[p.start : p.end] == p.value for p in planted)


@pytest.mark.parametrize("kind", PATTERN_KINDS)
def test_pattern_kinds_are_removed_with_recall_of_at_least_0_99(
    table: dict[str, tuple[int, int, int]], kind: str
) -> None:
    removed, labelled, total = table[kind]
    assert removed / total >= 0.99
    assert labelled / total >= 0.99


def test_person_names_are_found_after_cue_phrases_and_without_one(
    table: dict[str, tuple[int, int, int]],
) -> None:
    # Measured 1.000 (cue) and 0.975 (no cue); the thresholds leave room for a gazetteer update.
    assert table["person (cue)"][0] / PER_KIND >= 0.95
    assert table["person (no cue)"][0] / PER_KIND >= 0.9


def test_names_of_the_held_out_set_are_found_as_well() -> None:
    """Names and sentences never used to tune the recognizer (measured 0.958)."""
    removed, labelled, total = recall(default_scrubber(), generate_held_out())["person (no cue)"]
    assert total == PER_KIND
    assert removed / total >= 0.9 and labelled == removed


def test_a_name_ends_before_a_possessive_and_common_words_start_no_name() -> None:
    scrubber = default_scrubber()
    assert scrubber.scrub("Review Maria Lopez's PR") == "Review <PERSON>'s PR"
    assert scrubber.scrub("Will Smith-like names need a cue; May Day is a date.") == (
        "Will Smith-like names need a cue; May Day is a date."
    )
    # Accents, apostrophes and particles belong to the name.
    assert scrubber.scrub("Lucía van der Berg and José O'Neill joined.") == (
        "<PERSON> and <PERSON> joined."
    )


def test_scrubbing_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the scrubber tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    fresh = Scrubber()  # builds presidio, spaCy's blank pipeline and tldextract from scratch
    assert fresh.scrub("write to ana.silva@shop.example.fr") == "write to <EMAIL_ADDRESS>"


def test_scrubbed_text_keeps_its_shape_and_scrubbing_twice_changes_nothing() -> None:
    scrubber = default_scrubber()
    text = "Card 4111 1111 1111 1111 failed; ping 10.1.2.3; my name is Ana Silva."
    once = scrubber.scrub(text)
    assert once == "Card <CREDIT_CARD> failed; ping <IP_ADDRESS>; my name is <PERSON>."
    assert scrubber.scrub(once) == once
    assert sorted(m.group(1) for m in PLACEHOLDER.finditer(once)) == [
        "CREDIT_CARD",
        "IP_ADDRESS",
        "PERSON",
    ]


def test_the_gate_counts_placeholders_and_ignores_weak_name_cues() -> None:
    scrubber = default_scrubber()
    assert scrubber.kinds("Run the tests with Pytest, then call Maria Lopez.") == {"PERSON": 1}
    assert scrubber.kinds("Forward it to <EMAIL_ADDRESS>.") == {"EMAIL_ADDRESS": 1}
    assert scrubber.kinds("Run the tests with Pytest and format with Black.") == {}


@pytest.mark.parametrize(
    "path", sorted((REPO / "skills").glob("*/SKILL.md")), ids=lambda p: p.parent.name
)
def test_no_seed_skill_looks_like_personal_data_to_the_gate(path: Path) -> None:
    assert default_scrubber().kinds(path.read_text(encoding="utf-8")) == {}
