"""The Skill Selector: relevance first, then observed success per version as a Bayesian bandit."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from evofuse.skills import (
    Bundle,
    BundleFile,
    Library,
    LibrarySkillChooser,
    Origin,
    Scope,
    Selector,
    SelectorConfig,
    SkillNotFoundError,
    Status,
    import_path,
    task_text,
)
from evofuse.skills.index import IndexEntry
from evofuse.skills.models import Context
from evofuse.store import OutcomeSource, SkillRow, record_outcome
from tests.unit.skills.conftest import SEED_SKILLS, skill_md

_run_ids = itertools.count()
TASK = [{"role": "user", "content": "Please write a friendly birthday greeting card for my aunt"}]
GREETING = skill_md(
    "greeting-card",
    "Write warm greeting cards for birthdays, weddings and holidays.",
    extra="metadata:\n  evofuse-mode: merge\n",
)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def publish(library: Library, text: str, status: Status = Status.ACTIVE) -> int:
    published = library.publish(
        Bundle.of([BundleFile("SKILL.md", text.encode())]), origin=Origin.MANUAL, status=status
    )
    return published.version.id


def outcomes(
    library: Library, version_id: int, scores: list[float], *, tenant: str = "t", users: int = 5
) -> None:
    """Scores spread over `users` distinct users of `tenant`."""
    with library.store.session() as session:
        for i, score in enumerate(scores):
            record_outcome(
                session,
                run_id=f"run-{next(_run_ids)}",
                skill_version_id=version_id,
                skill_name="greeting-card",
                version=0,
                tenant=tenant,
                user_hash=f"{tenant}-user-{i % users}",
                score=score,
                source=OutcomeSource.JUDGE,
            )


def shares(selector: Selector, n: int = 200, **kwargs: str) -> Counter[int | None]:
    return Counter(selector.select(TASK, **kwargs).version for _ in range(n))


def test_task_text_is_the_last_user_message() -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "image_url"}]},
    ]
    assert task_text(messages) == "second"
    assert task_text([{"role": "system", "content": "x"}]) == ""


def test_picks_the_relevant_seed_skill_before_any_outcome(library: Library) -> None:
    import_path(library, SEED_SKILLS, origin=Origin.SEED)
    selection = Selector(library, seed=1).select(
        user("Why does my Postgres query take 40 seconds? SELECT * FROM events WHERE ..."),
        default_mode="best-of",
    )
    assert (selection.name, selection.version, selection.mode) == ("sql-review", 1, "debate")
    assert selection.scope == "global"
    assert selection.candidates[0].name == "sql-review"
    assert selection.candidates[0].versions[0].everyone.n == 0
    assert "similarity" in selection.reason
    assert selection.contract() == {"name": "sql-review", "version": 1}


def test_no_skill_below_the_relevance_threshold(library: Library) -> None:
    import_path(library, SEED_SKILLS, origin=Origin.SEED)
    selection = Selector(library, seed=1).select(
        user("What is the capital of Australia?"), default_mode="merge"
    )
    assert selection.name is None and selection.contract() is None
    assert selection.mode == "merge"
    assert selection.reason.startswith("no skill is relevant enough (best match")
    empty = Selector(library).select([{"role": "system", "content": "hi"}])
    assert empty.name is None and "no user message" in empty.reason


def test_mode_falls_back_to_the_profile_default(library: Library) -> None:
    publish(library, skill_md("greeting-card", "Write warm greeting cards for birthdays."))
    assert Selector(library).select(TASK, default_mode="best-of").mode == "best-of"


def test_same_seed_same_decisions(library: Library) -> None:
    publish(library, GREETING)
    publish(library, GREETING + "v2\n", Status.CANDIDATE)
    config = SelectorConfig(exploration=0.5)
    first = [Selector(library, config, seed=7).select(TASK).version for _ in range(1)]
    runs = [
        [s.select(TASK).version for _ in range(40)]
        for s in (Selector(library, config, seed=7), Selector(library, config, seed=7))
    ]
    assert runs[0] == runs[1]
    assert first[0] == runs[0][0]
    assert set(runs[0]) == {1, 2}  # both versions are tried


def test_new_user_gets_the_collective_best_version(library: Library) -> None:
    v1 = publish(library, GREETING)
    v2 = publish(library, GREETING + "clearer\n", Status.CANDIDATE)
    outcomes(library, v1, [0.2, 0.4, 0.3] * 10, tenant="other")
    outcomes(library, v2, [0.9, 1.0, 0.8] * 10, tenant="other")
    selector = Selector(library, seed=3)
    got = shares(selector, tenant="newcomer-tenant", user_hash="brand-new-user")
    assert got[2] >= 190, got
    best = selector.select(TASK, tenant="newcomer-tenant", user_hash="brand-new-user")
    chosen = next(v for v in best.candidates[0].versions if v.version == best.version)
    assert chosen.everyone.n == 30 and chosen.user.n == 0


def test_untested_versions_get_a_bounded_share_of_traffic(library: Library) -> None:
    v1 = publish(library, GREETING)
    outcomes(library, v1, [0.8] * 60)
    publish(library, GREETING + "untested\n", Status.CANDIDATE)
    explored = shares(Selector(library, SelectorConfig(exploration=0.2), seed=5), n=400)
    assert 10 <= explored[2] <= 90, explored  # about exploration / 2 of 400 = 40
    greedy = shares(Selector(library, SelectorConfig(exploration=0.0), seed=5))
    assert greedy == Counter({1: 200})


def test_a_users_own_outcomes_overrule_the_crowd(library: Library) -> None:
    v1 = publish(library, GREETING)
    v2 = publish(library, GREETING + "formal\n", Status.CANDIDATE)
    outcomes(library, v1, [0.9] * 100, tenant="crowd", users=20)
    outcomes(library, v2, [0.5] * 100, tenant="crowd", users=20)
    greedy = Selector(library, SelectorConfig(exploration=0.0))
    assert greedy.select(TASK, tenant="t", user_hash="picky").version == 1
    with library.store.session() as session:
        for score_v1, score_v2 in [(0.0, 1.0)] * 40:
            for version_id, score in ((v1, score_v1), (v2, score_v2)):
                record_outcome(
                    session,
                    run_id=f"run-{next(_run_ids)}",
                    skill_version_id=version_id,
                    skill_name="greeting-card",
                    version=0,
                    tenant="t",
                    user_hash="picky",
                    score=score,
                    source=OutcomeSource.FEEDBACK,
                )
    assert greedy.select(TASK, tenant="t", user_hash="picky").version == 2
    # Other tenants still get the crowd's favourite (picky's tenant-mates lean to v2 as well).
    assert greedy.select(TASK, tenant="elsewhere", user_hash="someone").version == 1


def test_success_breaks_close_calls_between_skills(library: Library) -> None:
    good = publish(library, skill_md("birthday-cards", "Write warm birthday greeting cards."))
    bad = publish(library, skill_md("greeting-card", "Write warm birthday greeting cards!"))
    config = SelectorConfig(exploration=0.0)
    outcomes(library, good, [0.95] * 40)
    outcomes(library, bad, [0.05] * 40)
    assert Selector(library, config).select(TASK).name == "birthday-cards"
    outcomes(library, good, [0.0] * 400)
    outcomes(library, bad, [1.0] * 400)
    assert Selector(library, config).select(TASK).name == "greeting-card"


def test_private_skills_are_never_selected_for_others(library: Library) -> None:
    library.publish(
        Bundle.of([BundleFile("SKILL.md", GREETING.encode())]),
        scope=Scope.USER,
        context=Context("acme", "alice"),
    )
    selector = Selector(library, seed=1)
    assert selector.select(TASK, tenant="acme", user_hash="alice").name == "greeting-card"
    assert selector.select(TASK, tenant="acme", user_hash="bob").name is None
    assert selector.select(TASK, tenant="globex", user_hash="alice").name is None
    with pytest.raises(SkillNotFoundError):
        selector.select(TASK, tenant="acme", user_hash="bob", skill="greeting-card")


def test_forcing_a_skill_by_name(library: Library) -> None:
    import_path(library, SEED_SKILLS, origin=Origin.SEED)
    selection = Selector(library).select(
        user("What is the capital of Australia?"), skill="code-review"
    )
    assert (selection.name, selection.mode) == ("code-review", "debate")


def test_chooser_returns_a_ready_to_run_skill_choice(library: Library) -> None:
    import_path(library, SEED_SKILLS, origin=Origin.SEED)
    chooser = LibrarySkillChooser(library, library.store, seed=1)
    choice = chooser.choose(
        "Review this pull request before I merge it", tenant="t", user="u", skill=None
    )
    assert choice is not None
    assert (choice["name"], choice["version"], choice["mode"]) == ("code-review", 1, "debate")
    assert [s["name"] for s in choice["steps"]] == [
        "understand-change",
        "find-defects",
        "write-review",
    ]
    assert choice["steps"][1]["mode"] == "debate"
    assert choice["instructions"].startswith("# Code review")
    assert choice["version_id"] == library.load("code-review").info.id
    assert chooser.choose("Tell me a joke about cats", tenant=None, user=None, skill=None) is None
    plain = chooser.choose(
        "Write a commit message for this diff", tenant=None, user=None, skill=None
    )
    assert plain is not None and plain["steps"] == []  # one-step skills: the runtime's default step


def test_a_tampered_index_still_cannot_leak_a_private_skill(library: Library) -> None:
    private = library.publish(
        Bundle.of([BundleFile("SKILL.md", GREETING.encode())]),
        scope=Scope.USER,
        context=Context("acme", "alice"),
    )
    (skill_id,) = library.index.snapshot()
    # A stale or forged entry that claims the private skill is global:
    library.index.upsert(
        [
            IndexEntry(
                skill_id=skill_id,
                name="greeting-card",
                version=1,
                scope="global",
                tenant="",
                owner="",
                mode="merge",
                content_hash=private.version.content_hash,
                texts=("Write warm greeting cards for birthdays.",),
            )
        ]
    )
    assert library.search("birthday greeting card", context=Context("acme", "bob"))[0].name == (
        "greeting-card"
    )
    assert Selector(library).select(TASK, tenant="acme", user_hash="bob").name is None


def test_library_from_settings_can_share_a_store(database_url: str, tmp_path: Path) -> None:
    from evofuse.config.loader import settings_from_mapping
    from evofuse.store import Store

    settings = settings_from_mapping(
        {
            "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/m"}}],
            "fusion": {
                "default_profile": "p",
                "profiles": {"p": {"models": ["m"], "mode": "single"}},
            },
            "storage": {"database_url": database_url, "chroma": str(tmp_path / "chroma")},
        }
    )
    store = Store(database_url)
    library = Library.from_settings(settings, store=store, collection=f"share-{tmp_path.name}")
    try:
        library.publish(Bundle.of([BundleFile("SKILL.md", GREETING.encode())]))
        chooser = LibrarySkillChooser(library, store)
        assert chooser.choose(TASK[0]["content"], tenant=None, user=None, skill=None) is not None
    finally:
        library.close()
    with store.session() as session:  # still open: the library did not own it
        assert session.exec(select(SkillRow)).first() is not None
    store.close()


def test_concurrent_choices_overlap_their_lookups(
    library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the random draws are serialized: two runs' index queries (and SQL) overlap."""
    publish(library, GREETING)
    chooser = LibrarySkillChooser(library, seed=1)
    both_inside = threading.Barrier(2, timeout=10)
    query = library.index.query

    def query_together(*args: Any, **kwargs: Any) -> Any:
        both_inside.wait()  # breaks (and the choice fails) if the other lookup cannot start
        return query(*args, **kwargs)

    monkeypatch.setattr(library.index, "query", query_together)
    text = TASK[0]["content"]
    with ThreadPoolExecutor(2) as pool:
        choices = list(
            pool.map(lambda u: chooser.choose(text, tenant="t", user=u, skill=None), ["a", "b"])
        )
    assert [c and c["name"] for c in choices] == ["greeting-card", "greeting-card"]
    assert not hasattr(chooser, "last")  # no shared state between runs
