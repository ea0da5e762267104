"""The scrubber: recall on the seeded test set, offline operation, and no false alarms on skills."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from evofuse.evolution.pii import PLACEHOLDER, Scrubber, default_scrubber
from tests.unit.evolution.pii_corpus import KINDS, PATTERN_KINDS, PER_KIND, generate, recall

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


def test_person_names_are_found_after_cue_phrases_and_often_without(
    table: dict[str, tuple[int, int, int]],
) -> None:
    # No NER model ships on PyPI: without a cue, only census first names are recognised.
    assert table["person (cue)"][0] / PER_KIND >= 0.95
    assert table["person (no cue)"][0] / PER_KIND >= 0.5


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
