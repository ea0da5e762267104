"""The demo's planned split: every user gives the Evolver evidence and the gate a held-out task."""

from __future__ import annotations

from evofuse.evolution.demo import DEMO_COMMENT, planned_run_ids
from evofuse.evolution.evidence import is_held_out


def test_each_users_last_run_is_held_out_and_the_others_are_evidence() -> None:
    users = ["ana", "bilal", "chen"]
    ids = planned_run_ids(users, 3, 25.0)
    assert len(set(ids.values())) == 9
    for (_user, n), run_id in ids.items():
        assert is_held_out(run_id, 25.0) == (n == 2)


def test_the_demo_comment_is_shorter_than_the_verbatim_guard() -> None:
    # The gate refuses a patch that repeats 9+ words of a comment (max_verbatim_words 8).
    assert len(DEMO_COMMENT.split()) <= 8
