"""SkillIndex search: exact nearest neighbours, other processes' writes, lexical scores.

A small deterministic embedder (random unit vectors per text, fixed seed) makes the exact answer
computable by hand; Chroma is the real embedded one.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from evofuse.skills.index import IndexEntry, SkillIndex, chroma_client
from evofuse.skills.lexical import LexicalStats, words

DIM = 16


class HashEmbedder:
    """A vector per text from its hash: unrelated texts get unrelated directions."""

    name = "test-hash"
    dimension = DIM

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
            vector = np.random.default_rng(seed).normal(size=DIM)
            out.append((vector / np.linalg.norm(vector)).tolist())
        return out


def entry(
    skill_id: int, texts: tuple[str, ...], scope: str = "global", tenant: str = ""
) -> IndexEntry:
    return IndexEntry(
        skill_id=skill_id,
        name=f"skill-{skill_id}",
        version=1,
        scope=scope,
        tenant=tenant,
        owner="",
        mode="",
        content_hash=f"h{skill_id}",
        texts=texts,
    )


def open_index(tmp_path: Path) -> SkillIndex:
    return SkillIndex(chroma_client(str(tmp_path / "chroma")), HashEmbedder(), "test-search")


def test_the_best_skill_is_the_exact_nearest_neighbour(tmp_path: Path) -> None:
    index = open_index(tmp_path)
    entries = [entry(i, tuple(f"text {i}-{j}" for j in range(3))) for i in range(1, 301)]
    index.upsert(entries)
    embedder = HashEmbedder()
    texts = [t for e in entries for t in e.texts]
    owners = [e.skill_id for e in entries for _ in e.texts]
    matrix = np.asarray(embedder.embed(texts))
    rng = np.random.default_rng(7)
    for _ in range(50):
        query = rng.normal(size=DIM)
        query /= np.linalg.norm(query)
        scores = matrix @ query
        hits = index.query_vector(query.tolist(), tenant="", owner=None, k=5)
        best_by_skill: dict[int, float] = {}
        for skill_id, value in zip(owners, scores, strict=True):
            best_by_skill[skill_id] = max(best_by_skill.get(skill_id, -1.0), float(value))
        expected = sorted(best_by_skill, key=lambda s: -best_by_skill[s])[:5]
        assert [h.skill_id for h in hits] == expected
        assert hits[0].similarity == pytest.approx(best_by_skill[expected[0]], abs=1e-5)
    index.close()


def test_a_write_by_another_process_is_searched_after_the_recheck(tmp_path: Path) -> None:
    reader = open_index(tmp_path)
    reader.upsert([entry(1, ("alpha request",))])
    assert [h.skill_id for h in reader.query("alpha request", tenant="", owner=None, k=3)] == [1]

    writer = open_index(tmp_path)  # another process: its own client and in-memory copy
    writer.upsert([entry(2, ("beta request",))])
    writer.delete([1])
    reader._checked_at = 0.0  # as if a second had passed (the recheck interval)
    hits = reader.query("beta request", tenant="", owner=None, k=3)
    assert [h.skill_id for h in hits] == [2]
    assert hits[0].similarity == pytest.approx(1.0, abs=1e-5)
    reader.close()
    writer.close()


def test_private_skills_are_searched_only_for_their_tenant(tmp_path: Path) -> None:
    index = open_index(tmp_path)
    index.upsert(
        [
            entry(1, ("shared task",)),
            entry(2, ("secret task",), scope="tenant", tenant="acme"),
            entry(3, ("secret task",), scope="tenant", tenant="other"),
        ]
    )
    acme = {h.skill_id for h in index.query("secret task", tenant="acme", owner=None, k=5)}
    public = {h.skill_id for h in index.query("secret task", tenant="", owner=None, k=5)}
    assert acme == {1, 2}
    assert public == {1}
    index.close()


def test_a_tenant_s_private_skills_are_kept_until_the_index_changes(tmp_path: Path) -> None:
    reader = open_index(tmp_path)
    reader.upsert([entry(1, ("shared task",)), entry(2, ("acme task",), "tenant", "acme")])
    acme = {h.skill_id for h in reader.query("acme task", tenant="acme", owner=None, k=5)}
    assert acme == {1, 2}

    reader.upsert([entry(3, ("acme second task",), "tenant", "acme")])  # a write here: at once
    found = {h.skill_id for h in reader.query("acme task", tenant="acme", owner=None, k=5)}
    assert found == {1, 2, 3}

    writer = open_index(tmp_path)  # another process's write: seen after the recheck
    writer.delete([2])
    writer.upsert([entry(4, ("acme third task",), "tenant", "acme")])
    reader._checked_at = 0.0  # as if a second had passed (the recheck interval)
    found = {h.skill_id for h in reader.query("acme task", tenant="acme", owner=None, k=5)}
    assert found == {1, 3, 4}
    assert {h.skill_id for h in reader.query("acme task", tenant="", owner=None, k=5)} == {1}
    reader.close()
    writer.close()


def test_lexical_scores_rank_a_skill_that_uses_the_task_s_rare_words(tmp_path: Path) -> None:
    index = open_index(tmp_path)
    index.upsert(
        [
            entry(1, ("review postgres query plans",)),
            entry(2, ("write unit tests with pytest",)),
        ]
    )
    hits = index.query("my pytest tests are flaky", tenant="", owner=None, k=2, lexical_weight=1.0)
    assert hits[0].skill_id == 2
    assert hits[0].lexical > 0.1 and hits[1].lexical == 0.0  # "flaky" is in no skill
    index.close()


def test_a_tenant_s_own_skill_gets_its_lexical_score_and_no_one_else_s_words(
    tmp_path: Path,
) -> None:
    index = open_index(tmp_path)
    index.upsert(
        [
            entry(1, ("review postgres query plans",)),
            entry(2, ("write unit tests with pytest",), scope="tenant", tenant="acme"),
            entry(3, ("fix flaky pytest runs",), scope="tenant", tenant="other"),
        ]
    )
    hits = index.query(
        "my pytest tests are flaky", tenant="acme", owner=None, k=5, lexical_weight=1.0
    )
    assert hits[0].skill_id == 2  # the tenant's own skill, ranked by its words
    by_id = {h.skill_id: h for h in hits}
    assert 3 not in by_id  # another tenant's skill is neither found nor scored
    assert by_id[2].lexical > 0.1 and by_id[1].lexical == 0.0
    index.close()


def test_bm25_is_bounded_and_weighs_rare_and_repeated_words() -> None:
    def doc(text: str) -> Counter[str]:
        return Counter(words(text))

    skills = ["review sql queries", "write unit tests", "review code"]
    stats = LexicalStats(doc(t) for t in skills)
    assert words("Please review my SQL queries!") == ["review", "sql", "queri"]
    assert stats.n == 3 and stats.mean_length == pytest.approx(8 / 3)
    full = stats.bm25(words("review sql"), doc("review sql queries"))
    assert 0.0 < full < 1.0  # bounded: a document never reaches the bound
    assert stats.bm25(words("football world cup"), doc("review code")) == 0.0
    rare = stats.bm25(words("review sql"), doc("sql"))
    common = stats.bm25(words("review sql"), doc("review"))
    assert 0.0 < common < rare < full  # the rarer word carries more of the query
    repeated = stats.bm25(words("sql"), doc("sql sql sql"))
    assert stats.bm25(words("sql"), doc("sql")) < repeated < 1.0  # saturating in frequency
    short = stats.bm25(words("sql"), doc("sql"))
    long = stats.bm25(words("sql"), doc("sql review code tests write unit"))
    assert long < short  # the same match in a longer document counts for less
    assert stats.bm25([], doc("anything")) == 0.0
    assert LexicalStats().bm25(words("sql"), doc("sql")) > 0.0  # no statistics yet: still sane


def test_a_rebuilt_index_forgets_what_it_held(tmp_path: Path) -> None:
    index = open_index(tmp_path)
    index.upsert([entry(1, ("alpha request",))])
    assert index.query("alpha request", tenant="", owner=None, k=3)
    index.rebuild()
    assert index.query("alpha request", tenant="", owner=None, k=3) == []
    index.close()
