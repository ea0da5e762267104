"""The Skill Selector: which skill, and which version of it, should serve this task for this user.

Two questions, answered differently on purpose:

1. *Which skill* is a routing question. Candidates are the top-k active skills the caller may
   see (global, their tenant's, their own) by relevance: the cosine similarity of the task to
   the skill's best-matching text (a description sentence or an example request), plus
   `lexical_weight` x a lexical score (BM25 of the task against all the skill's texts, bounded
   to [0, 1): skills/lexical.py). Below `threshold` there is no skill. Each candidate scores
   `relevance + success_weight * (best posterior mean - 0.5)`: proven skills win close calls,
   but a task is never sent to a less relevant skill just to explore it.
2. *Which version* is a bandit question over the skill's live versions (active and candidate):
   with probability `exploration` the choice is a Thompson sample from each version's
   posterior, otherwise the best posterior mean (ties go to the active version). So new
   versions get tried on a bounded share of traffic (about exploration / 2 while they have no
   evidence), and proven ones win.

The success model is Beta-Bernoulli with fractional scores (a score s in [0, 1] adds s to alpha
and 1 - s to beta). Documented prior, per version: Beta(m * mu, m * (1 - mu)), where mu is the
skill's pooled mean score over all its versions and users (itself shrunk by a uniform Beta(1, 1))
and m = `prior_strength`; a brand-new skill starts at 0.5 with the widest uncertainty. Evidence
is added in three layers: the user's own outcomes at full weight, the rest of their tenant and
the rest of the world each capped at `tenant_cap` / `global_cap` effective observations. So a
new user gets the collective best at once, and ~30 of their own outcomes can overrule the crowd.
Seeded, the whole choice is deterministic.
"""

from __future__ import annotations

import functools
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from pydantic import BaseModel
from sqlalchemy import Executable, bindparam, case
from sqlalchemy import select as sa_select
from sqlmodel import col, func

from evofuse import tasks
from evofuse.skills.hits import Hit
from evofuse.skills.library import Library
from evofuse.skills.models import Context
from evofuse.skills.queries import resolve
from evofuse.store import OutcomeRow, SkillRow, SkillVersionRow, Status, Store
from evofuse.store.evolution import canary_bucket, canary_percents

if TYPE_CHECKING:
    from evofuse.ports import SkillChoice

_LIVE = (Status.ACTIVE.value, Status.CANDIDATE.value)


@dataclass(frozen=True)
class SelectorConfig:
    k: int = 8  # skills retrieved from the index before ranking
    # Relevance = cosine similarity + lexical_weight x lexical score (BM25, skills/lexical.py).
    # Both numbers were fitted on the tuning task set only (tests/unit/skills/data/
    # selector_tasks.yaml): the smallest weight with the most tuning tasks right at a cut that
    # still holds 0.02 either side, and the middle of that cut's range. On the held-out sets,
    # never used for this, they route no better than simpler settings did (README, Skill
    # Selector benchmark): keep that in mind before tuning them further.
    lexical_weight: float = 0.9
    threshold: float = 0.435  # relevance below which no skill is relevant (calibrated)
    success_weight: float = 0.2  # how far observed success can move a skill's relevance
    exploration: float = 0.2  # share of decisions made by Thompson sampling (0 = greedy)
    prior_strength: float = 2.0  # pseudo-observations in a version's prior
    tenant_cap: float = 30.0  # at most this many effective observations from the tenant
    global_cap: float = 30.0  # ... and from everyone else


# Cosine similarity alone, its threshold fitted on the tuning set by the same rule: what the
# lexical score adds is measured against it (README, Skill Selector benchmark).
DENSE_ONLY = SelectorConfig(lexical_weight=0.0, threshold=0.38)


class Evidence(BaseModel):
    n: int  # outcomes observed at this level
    mean: float | None  # their mean score


class VersionScore(BaseModel):
    version: int
    version_id: int
    status: str
    mode: str | None
    alpha: float
    beta: float
    mean: float  # posterior mean success
    sample: float  # a draw from the posterior (ranks the versions when exploring)
    user: Evidence
    tenant: Evidence
    everyone: Evidence


class Candidate(BaseModel):
    name: str
    scope: str
    similarity: float
    lexical: float = 0.0  # BM25 of the task against the skill's texts, bounded to [0, 1)
    success: float  # best posterior mean among the live versions
    score: float
    chosen_version: int
    versions: list[VersionScore]


class Selection(BaseModel):
    """The decision, with the numbers behind it (what `make demo` and the API show)."""

    name: str | None
    version: int | None
    version_id: int | None
    scope: str | None
    mode: str | None  # the skill's preferred fusion mode, else the default passed in
    score: float | None
    reason: str
    candidates: list[Candidate]
    explored: bool = False  # True: the version was picked by Thompson sampling

    def contract(self) -> dict[str, Any] | None:
        """The API's `skill` object: {name, version}, or None for "no skill"."""
        return None if self.name is None else {"name": self.name, "version": self.version}


class NearMatch(BaseModel):
    """A skill near a task, with the numbers the relevance cut looks at (`skills route`)."""

    name: str
    scope: str
    version: int
    similarity: float  # cosine similarity of the skill's best-matching text
    lexical: float  # BM25 of the task against the skill's texts, bounded to [0, 1)
    relevance: float  # similarity + lexical_weight x lexical
    relevant: bool  # relevance >= threshold: the Selector would consider this skill


def task_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The task to match: the last user message's text, read as the run records it."""
    return tasks.task_text(messages) or ""


@dataclass
class _Counts:
    n: int = 0
    total: float = 0.0

    def add(self, n: int, total: float) -> None:
        self.n += n
        self.total += total


class Selector:
    """Pick the best skill version per task and user context."""

    def __init__(
        self, library: Library, config: SelectorConfig | None = None, *, seed: int | None = None
    ) -> None:
        self.library = library
        self.config = config or SelectorConfig()
        self._rng = np.random.default_rng(seed)
        # The runtime selects from worker threads at once. numpy's generator is not thread-safe,
        # so each draw holds this lock, and only the draw: index queries and SQL run in parallel.
        self._rng_lock = threading.Lock()

    def _uniform(self) -> float:
        with self._rng_lock:
            return float(self._rng.random())

    def _beta(self, alpha: float, beta: float) -> float:
        with self._rng_lock:
            return float(self._rng.beta(alpha, beta))

    def select(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tenant: str = "",
        user_hash: str | None = None,
        default_mode: str | None = None,
        skill: str | None = None,
    ) -> Selection:
        """Choose for the last user message. `user_hash` is the user's pseudonym; `skill` forces
        a skill by name (the bandit still picks its version), skipping the relevance threshold."""
        context = Context(tenant=tenant, user_hash=user_hash)
        text = task_text(messages)
        if not text and skill is None:
            return _none("no user message to match a skill against", default_mode)
        hits = (
            self.library.index.query(
                text,
                tenant=context.tenant,
                owner=context.owner,
                k=self.config.k,
                lexical_weight=self.config.lexical_weight,
            )
            if text
            else []
        )
        if skill is not None:
            relevant = [self._forced(skill, context, hits)]
        else:
            relevant = [h for h in hits if self._relevant(h)]
        if not relevant:
            best = (
                f"best match {hits[0].name} at {hits[0].relevance(self.config.lexical_weight):.3f}"
                if hits
                else "no skills"
            )
            return _none(
                f"no skill is relevant enough ({best} < {self.config.threshold})", default_mode
            )
        explore = self._uniform() < self.config.exploration
        candidates = self._rank(relevant, context, explore)
        if not candidates:
            return _none("the matching skills have no live version", default_mode)
        best_candidate = candidates[0]
        chosen = next(
            v for v in best_candidate.versions if v.version == best_candidate.chosen_version
        )
        return Selection(
            name=best_candidate.name,
            version=chosen.version,
            version_id=chosen.version_id,
            scope=best_candidate.scope,
            mode=chosen.mode or default_mode,
            score=best_candidate.score,
            reason=(
                f"similarity {best_candidate.similarity:.3f}"
                + (
                    f", lexical {best_candidate.lexical:.3f}"
                    if self.config.lexical_weight > 0.0
                    else ""
                )
                + ", expected success "
                f"{chosen.mean:.3f} (own {chosen.user.n}, tenant {chosen.tenant.n}, everyone "
                f"{chosen.everyone.n} outcomes); version by "
                + ("Thompson sampling" if explore else "best expected success")
            ),
            explored=explore,
            candidates=candidates,
        )

    def nearest(
        self, task: str, *, tenant: str = "", user_hash: str | None = None, k: int = 5
    ) -> list[NearMatch]:
        """The `k` skills most relevant to `task` that the caller may see, relevant or not:
        why a task got the skill it got, or none."""
        text = task_text([{"role": "user", "content": task}])
        if not text:
            return []
        context = Context(tenant=tenant, user_hash=user_hash)
        weight = self.config.lexical_weight
        hits = self.library.index.query(
            text, tenant=context.tenant, owner=context.owner, k=k, lexical_weight=weight
        )
        return [
            NearMatch(
                name=h.name,
                scope=h.scope,
                version=h.version,
                similarity=round(h.similarity, 4),
                lexical=round(h.lexical, 4),
                relevance=round(h.relevance(weight), 4),
                relevant=self._relevant(h),
            )
            for h in hits
        ]

    def _relevant(self, hit: Hit) -> bool:
        """Above the cut: the one rule for "no skill" (select) and for what `nearest` shows."""
        return hit.relevance(self.config.lexical_weight) >= self.config.threshold

    def _forced(self, name: str, context: Context, hits: list[Hit]) -> Hit:
        # The name means what `skills show NAME` means: the most specific visible skill, even
        # when a global skill of the same name is the closer match.
        with self.library.store.session() as session:
            row = resolve(session, name, context, None)  # SkillNotFoundError if not visible
        assert row.id is not None
        for hit in hits:
            if hit.skill_id == row.id:
                return hit
        return Hit(row.id, row.name, row.active_version or 0, row.scope, "", similarity=0.0)

    def _rank(self, hits: list[Hit], context: Context, explore: bool) -> list[Candidate]:
        by_skill = {h.skill_id: h for h in hits}
        owner = context.owner or ""
        with self.library.store.session() as session:
            connection = session.connection()
            rows: Sequence[Any] = connection.execute(_VERSIONS_OF, {"ids": list(by_skill)}).all()
            # The index filter already enforces scopes; this re-check against SQL means a stale
            # or tampered index entry still cannot leak another tenant's or user's skill.
            visible = {r.id for r in rows if context.can_see(r)}
            versions = [
                _Version(r.version_id, r.id, r.version, r.status, r.mode)
                for r in rows
                if r.id in visible
            ]
            stats = connection.execute(
                _OUTCOME_STATS,
                {"ids": [v.id for v in versions], "tenant": context.tenant, "owner": owner},
            ).all()
            # Versions in an evolution canary serve a fixed share of users, always the same ones;
            # other candidates are tried by the bandit below.
            canary = canary_percents(
                session, [v.id for v in versions if v.id and v.status == Status.CANDIDATE]
            )
        levels: dict[int, tuple[_Counts, _Counts, _Counts]] = {}
        pooled: dict[int, _Counts] = defaultdict(_Counts)
        skill_of = {v.id: v.skill_id for v in versions}
        for version_id, n, total, t_n, t_total, u_n, u_total in stats:
            user_level = _Counts(int(u_n or 0), float(u_total or 0.0))
            tenant_level = _Counts(
                int(t_n or 0) - user_level.n, float(t_total or 0.0) - user_level.total
            )
            world_level = _Counts(
                int(n) - int(t_n or 0), float(total or 0.0) - float(t_total or 0.0)
            )
            levels[version_id] = (user_level, tenant_level, world_level)
            pooled[skill_of[version_id]].add(int(n), float(total or 0.0))
        bucket_key = f"{context.tenant}\x00{owner}"
        in_canary: dict[int, _Version] = {}
        live: dict[int, list[_Version]] = defaultdict(list)
        for v in versions:
            if v.id in canary:
                if canary_bucket(bucket_key, v.id) < canary[v.id]:
                    in_canary[v.skill_id] = v
                    live[v.skill_id].append(v)
            elif v.status in _LIVE:
                live[v.skill_id].append(v)
        candidates = []
        for skill_id in sorted(s for s in visible if s is not None):  # fixed order: seeded draws
            if not live[skill_id]:
                continue
            hit = by_skill[skill_id]
            prior_mean = (1.0 + pooled[skill_id].total) / (2.0 + pooled[skill_id].n)
            scored = [self._score(v, levels.get(v.id or -1), prior_mean) for v in live[skill_id]]
            chosen = max(
                scored,
                key=lambda s: (
                    s.version_id == in_canary[skill_id].id if skill_id in in_canary else False,
                    s.sample if explore else s.mean,
                    s.status == Status.ACTIVE,
                    s.version,
                ),
            )
            success = max(s.mean for s in scored)
            relevance = hit.relevance(self.config.lexical_weight)
            score = relevance + self.config.success_weight * (success - 0.5)
            candidates.append(
                Candidate(
                    name=hit.name,
                    scope=hit.scope,
                    similarity=round(hit.similarity, 4),
                    lexical=round(hit.lexical, 4),
                    success=round(success, 4),
                    score=round(score, 4),
                    chosen_version=chosen.version,
                    versions=sorted(scored, key=lambda s: s.version),
                )
            )
        candidates.sort(key=lambda c: (-c.score, -c.similarity, c.name))
        return candidates

    def _score(
        self,
        row: _Version,
        counts: tuple[_Counts, _Counts, _Counts] | None,
        prior_mean: float,
    ) -> VersionScore:
        cfg = self.config
        user_level, tenant_level, world_level = counts or (_Counts(), _Counts(), _Counts())
        alpha = cfg.prior_strength * prior_mean
        beta = cfg.prior_strength * (1.0 - prior_mean)
        for level, cap in (
            (user_level, None),
            (tenant_level, cfg.tenant_cap),
            (world_level, cfg.global_cap),
        ):
            if level.n <= 0:
                continue
            weight = 1.0 if cap is None else min(1.0, cap / level.n)
            alpha += weight * level.total
            beta += weight * (level.n - level.total)
        mean = alpha / (alpha + beta)
        sample = self._beta(alpha, beta)
        return VersionScore(
            version=row.version,
            version_id=row.id,
            status=row.status,
            mode=row.mode,
            alpha=round(alpha, 4),
            beta=round(beta, 4),
            mean=round(mean, 4),
            sample=round(sample, 4),
            user=_evidence(user_level),
            tenant=_evidence(tenant_level),
            everyone=_evidence(world_level),
        )


# Ranking's two queries, built once: constructing them per request (SQLAlchemy's expression
# objects, then their cache keys) cost more CPU than running them.
# Only the columns ranking needs, as plain rows, not ORM objects.
_VERSIONS_OF: Executable = (
    sa_select(
        col(SkillRow.id),
        col(SkillRow.scope),
        col(SkillRow.tenant),
        col(SkillRow.owner),
        col(SkillVersionRow.id).label("version_id"),
        col(SkillVersionRow.version),
        col(SkillVersionRow.status),
        col(SkillVersionRow.mode),
    )
    .join(SkillVersionRow, col(SkillVersionRow.skill_id) == col(SkillRow.id))
    .where(col(SkillRow.id).in_(bindparam("ids", expanding=True)))
)
_IN_TENANT = col(OutcomeRow.tenant) == bindparam("tenant")
_OWN = _IN_TENANT & (col(OutcomeRow.user_hash) == bindparam("owner"))
# Outcome counts and sums per version: everyone's, the tenant's, the user's.
_OUTCOME_STATS: Executable = (
    sa_select(
        col(OutcomeRow.skill_version_id),
        func.count(),
        func.sum(col(OutcomeRow.score)),
        func.sum(case((_IN_TENANT, 1), else_=0)),
        func.sum(case((_IN_TENANT, col(OutcomeRow.score)), else_=0.0)),
        func.sum(case((_OWN, 1), else_=0)),
        func.sum(case((_OWN, col(OutcomeRow.score)), else_=0.0)),
    )
    .where(col(OutcomeRow.skill_version_id).in_(bindparam("ids", expanding=True)))
    .group_by(col(OutcomeRow.skill_version_id))
)


@dataclass(frozen=True, slots=True)
class _Version:
    """What ranking reads of a version row."""

    id: int
    skill_id: int
    version: int
    status: str
    mode: str | None


def _evidence(counts: _Counts) -> Evidence:
    return Evidence(n=counts.n, mean=round(counts.total / counts.n, 4) if counts.n else None)


def _none(reason: str, default_mode: str | None) -> Selection:
    return Selection(
        name=None,
        version=None,
        version_id=None,
        scope=None,
        mode=default_mode,
        score=None,
        reason=reason,
        candidates=[],
    )


class LibrarySkillChooser:
    """The runtime's `SkillChooser`: a Selector whose answer is a ready-to-run `SkillChoice`."""

    def __init__(
        self,
        library: Library,
        store: Store | None = None,
        *,
        config: SelectorConfig | None = None,
        seed: int | None = None,
    ) -> None:
        # `store` is the composition root's handle on the same database; outcomes are read
        # through the library's own store, so it is not needed here.
        del store
        # Thread-safe: the runtime calls choose() from worker threads, concurrently.
        self.selector = Selector(library, config, seed=seed)
        # Versions are immutable, so a parsed version can be kept for the process's lifetime.
        self._load = functools.lru_cache(maxsize=256)(library.load_version)

    def rank(self, task: str, *, tenant: str) -> Selection:
        """The Selector's decision for `task` with every candidate it weighed (the dashboard's
        search box); nothing is recorded."""
        return self.selector.select([{"role": "user", "content": task}], tenant=tenant)

    def choose(
        self, task: str, *, tenant: str | None, user: str | None, skill: str | None
    ) -> SkillChoice | None:
        """`user` is already hashed by the runtime; returns None for "no skill"."""
        selection = self.selector.select(
            [{"role": "user", "content": task}], tenant=tenant or "", user_hash=user, skill=skill
        )
        if selection.version_id is None:
            return None
        loaded = self._load(selection.version_id)
        # `scope` and `reason` go beyond SkillChoice's keys: views show why a skill was picked.
        choice: dict[str, Any] = {
            "name": loaded.info.name,
            "version": loaded.info.version,
            "version_id": loaded.info.id,
            "instructions": loaded.spec.body.strip(),
            "mode": selection.mode,
            # Only explicit phases: a plain skill is one step, which the runtime supplies itself.
            "steps": [s.model_dump(mode="json") for s in loaded.spec.steps],
            "score": selection.score,
            "scope": selection.scope,
            "reason": selection.reason,
        }
        return cast("SkillChoice", choice)
