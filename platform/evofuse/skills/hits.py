"""Search results and the in-memory rows an exact search runs over."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from evofuse.skills.lexical import words


@dataclass(frozen=True)
class Hit:
    skill_id: int
    name: str
    version: int
    scope: str
    content_hash: str
    similarity: float  # cosine similarity in [-1, 1] of the skill's best-matching text
    lexical: float = 0.0  # BM25 of the task against the skill's texts, bounded to [0, 1)

    def relevance(self, lexical_weight: float) -> float:
        return self.similarity + lexical_weight * self.lexical


@dataclass
class Rows:
    """Indexed texts held in memory, grouped by skill: what an exact search runs over."""

    matrix: npt.NDArray[np.float32]  # one unit-length row per text, a skill's rows together
    starts: npt.NDArray[np.intp]  # first row of each skill
    hits: list[Hit]  # per skill, with similarity 0 (filled in per query)
    terms: list[Counter[str]]  # per skill: how often each word occurs in all its texts

    @classmethod
    def of(cls, embeddings: Any, metadatas: Sequence[Any], documents: Sequence[str]) -> Rows:
        if not metadatas:
            empty = np.zeros((0, 1), dtype=np.float32)
            return cls(matrix=empty, starts=np.zeros(0, dtype=np.intp), hits=[], terms=[])
        order = sorted(
            range(len(metadatas)),
            key=lambda i: (int(metadatas[i]["skill_id"]), int(metadatas[i]["chunk"])),
        )
        matrix = np.asarray(embeddings, dtype=np.float32).reshape(len(metadatas), -1)[order]
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix /= np.where(norms == 0.0, 1.0, norms)
        starts: list[int] = []
        hits: list[Hit] = []
        terms: list[Counter[str]] = []
        for row, i in enumerate(order):
            meta = metadatas[i]
            skill_id = int(meta["skill_id"])
            if not hits or hits[-1].skill_id != skill_id:
                starts.append(row)
                hits.append(
                    Hit(
                        skill_id=skill_id,
                        name=str(meta["name"]),
                        version=int(meta["version"]),
                        scope=str(meta["scope"]),
                        content_hash=str(meta["content_hash"]),
                        similarity=0.0,
                    )
                )
                terms.append(Counter())
            terms[-1].update(words(documents[i] or ""))
        return cls(
            matrix=matrix,
            starts=np.asarray(starts, dtype=np.intp),
            hits=hits,
            terms=terms,
        )

    @functools.cached_property
    def terms_by_id(self) -> dict[int, Counter[str]]:
        """Per skill id: its word counts (the lexical score looks up a few skills)."""
        return {h.skill_id: t for h, t in zip(self.hits, self.terms, strict=True)}

    def best(self, vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Each skill's best cosine similarity to `vector` (unit length)."""
        if not self.hits:
            return np.zeros(0, dtype=np.float32)
        return cast(
            "npt.NDArray[np.float32]", np.maximum.reduceat(self.matrix @ vector, self.starts)
        )


def with_changes(hit: Hit, **changes: float) -> Hit:
    return Hit(**{**hit.__dict__, **changes})
