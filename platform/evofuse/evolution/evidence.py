"""Evidence: what every active skill version's runs say, across users, recent runs weighted more.

Per active version: its outcomes (judge scores and user ratings), failed runs, user comments
and step traces, each tied to where it came from (tenant, user, API key) and to a *supporter*:
for a global skill a tenant (unless trusted to vouch for its user ids), for a tenant's own skill
a user of it (see `support.py`), so one client with many runs, keys or user ids counts once. One
API key's share is capped (`max_runs_per_key`). An outcome `age` days old weighs
`0.5 ** (age / half_life_days)`.

A fixed share of runs (chosen by a hash of the run id, so the same runs every cycle) is *held
out*: never shown to the Evolver or Extractor and never counted as support, only replayed by the
gate. Runs without a skill form the no-skill pool that the Extractor clusters.

Aggregation streams rows once (linear in the number of runs); only the few runs shown to the
LLM are loaded in full and scrubbed of personal data.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from evofuse.config.governance import PrivacySettings
from evofuse.config.models import EvolutionSettings
from evofuse.evolution.pii import Scrubber
from evofuse.evolution.support import GLOBAL, Origin, SupportRules, runs_over_key_cap
from evofuse.store import OutcomeRow, OutcomeSource, SkillRow, SkillVersionRow, Status, Store
from evofuse.store.evolution import CanaryRow as _CanaryRow
from evofuse.store.evolution import CanaryStatus, aware
from evofuse.store.feedback import FeedbackRow
from evofuse.store.runs import RunRow, RunStatus, StepRow
from evofuse.store.skills import Scope

NEGATIVE_BELOW = 0.5  # a run scored below this is a negative signal
HIGH_SCORE = 0.8  # a run scored at least this is a success worth learning from
_FAILED = (RunStatus.FAILED.value, RunStatus.INTERRUPTED.value)
_TASK_SCRUB_CHARS = 1500  # cut long tasks (at a space) before scrubbing; the prompt shows less
_TASK_SHOW_CHARS = 600
_PER_SUPPORTER = 3  # at most this many items of one user in a prompt: no one floods it
STREAM = 5000


@contextmanager
def stream(session: Session, query: Any) -> Iterator[Any]:
    """Rows in batches (a server-side cursor on PostgreSQL), closed even after an early break."""
    result = session.connection().execution_options(yield_per=STREAM).execute(query)
    try:
        yield result
    finally:
        result.close()


def is_held_out(run_id: str, percent: float) -> bool:
    digest = hashlib.sha256(run_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000 < percent * 100


@dataclass
class Item:
    """One run as evidence: what the Evolver is shown and may cite."""

    run_id: str
    supporter: str
    weight: float
    created_at: datetime
    score: float | None = None  # mean of the run's outcomes
    failed: bool = False
    comment: str | None = None  # scrubbed
    raw_comment: str | None = None  # for the gate's verbatim check only; never stored
    task: str | None = None  # scrubbed
    steps: list[str] = field(default_factory=list)  # "name: status[: error]", scrubbed
    kind: str = "outcome"  # outcome | failure | missed (a no-skill task that matches the skill)
    id: str = ""  # e1, e2, … within the skill's prompt
    origin: Origin | None = None  # tenant, user and key of the run (None: not loaded)

    @property
    def negative(self) -> bool:
        return (
            self.failed
            or self.kind == "missed"
            or (self.score is not None and self.score < NEGATIVE_BELOW)
        )

    def public(self) -> dict[str, object]:
        return {
            "id": self.id,
            "run_id": self.run_id,
            "user": self.supporter[:10],
            "kind": self.kind,
            "score": None if self.score is None else round(self.score, 3),
            "weight": round(self.weight, 3),
            "failed": self.failed,
            "comment": self.comment,
            "task": self.task,
            "steps": self.steps,
        }


@dataclass
class Task:
    """A recorded task: held out for replay, or in the no-skill pool for the Extractor."""

    run_id: str
    supporter: str
    raw: str  # as recorded: only ever embedded for clustering, never shown or stored
    text: str = ""  # scrubbed: set before the task is shown to an LLM or stored
    score: float | None = None


@dataclass
class SkillEvidence:
    skill_id: int
    name: str
    scope: str
    tenant: str
    owner: str
    version: int
    version_id: int
    in_canary: bool = False
    outcomes: int = 0
    weight_sum: float = 0.0
    weighted_score: float = 0.0
    failures: int = 0
    comments: int = 0
    runs: dict[str, Item] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)  # chosen for the prompt, with ids
    held_out: list[Task] = field(default_factory=list)
    capped: int = 0  # runs left out: beyond `max_runs_per_key` for their API key

    @property
    def weighted_mean(self) -> float | None:
        return self.weighted_score / self.weight_sum if self.weight_sum > 0 else None

    @property
    def users(self) -> set[str]:
        return {i.supporter for i in self.runs.values()}

    @property
    def supporters(self) -> set[str]:
        return {i.supporter for i in self.runs.values() if i.negative}

    def cited(self, ids: Iterable[str]) -> list[Item]:
        wanted = set(ids)
        return [i for i in self.items if i.id in wanted]


@dataclass
class Evidence:
    skills: list[SkillEvidence]
    pool: list[Task]  # no-skill and high-scoring tasks, evidence partition
    pool_held_out: list[Task]
    now: datetime


class EvidenceBuilder:
    """Reads the store once per cycle and builds the evidence of every active skill version."""

    def __init__(
        self,
        store: Store,
        settings: EvolutionSettings,
        scrubber: Scrubber,
        now: datetime,
        privacy: PrivacySettings | None = None,
    ) -> None:
        self.store, self.settings, self.scrubber, self.now = store, settings, scrubber, now
        self.rules = SupportRules(settings)
        self._over_cap: set[str] = set()
        self.privacy = privacy or PrivacySettings()
        self._unshared: set[str] = set()  # runs of tenants that keep to themselves

    def excluded(self, skill: SkillEvidence | None, tenant: str) -> bool:
        """`privacy.share_with_global: false`: the tenant's runs never teach a global skill or
        the Extractor (skill None), only the tenant's own skills."""
        if self.privacy.shares(tenant):
            return False
        return skill is None or skill.scope == Scope.GLOBAL.value

    def supporter(self, tenant: str, user_hash: str, scope: str = GLOBAL) -> str:
        """Who a run of `tenant` counts as, for a skill of `scope` (new skills are global)."""
        return self.rules.supporter(scope, Origin(tenant, user_hash, None))

    def weight(self, created_at: datetime) -> float:
        age_days = max(0.0, (self.now - aware(created_at)).total_seconds() / 86_400)
        return float(0.5 ** (age_days / self.settings.half_life_days))

    def held_out(self, run_id: str) -> bool:
        return is_held_out(run_id, self.settings.holdout_percent)

    def build(self) -> Evidence:
        skills = self._active_versions()
        by_version = {s.version_id: s for s in skills}
        high: list[tuple[str, str, float, datetime]] = []
        self._over_cap = runs_over_key_cap(self, by_version)
        self._outcomes(by_version, high)
        self._failures(skills)
        self._comments(by_version)
        for skill in skills:
            self._choose_items(skill)
        self._load_details([i for s in skills for i in s.items])
        from evofuse.evolution.tasks import held_out_tasks, pool_tasks  # builds on this module

        held_out_tasks(self, skills)
        pool, pool_held_out = pool_tasks(self, high)
        return Evidence(skills, pool, pool_held_out, self.now)

    # -- aggregation -----------------------------------------------------------------------

    def _active_versions(self) -> list[SkillEvidence]:
        with self.store.session() as session:
            rows = session.exec(
                select(SkillRow, SkillVersionRow).join(
                    SkillVersionRow,
                    (col(SkillVersionRow.skill_id) == SkillRow.id)
                    & (col(SkillVersionRow.status) == Status.ACTIVE.value),
                )
            ).all()
            canary_skills = set(
                session.exec(
                    select(_CanaryRow.skill_id).where(
                        col(_CanaryRow.status) == CanaryStatus.OPEN.value
                    )
                ).all()
            )
        out = []
        for skill, version in sorted(rows, key=lambda r: (r[0].name, r[0].scope, r[0].tenant)):
            assert skill.id is not None and version.id is not None
            out.append(
                SkillEvidence(
                    skill_id=skill.id,
                    name=skill.name,
                    scope=skill.scope,
                    tenant=skill.tenant,
                    owner=skill.owner,
                    version=version.version,
                    version_id=version.id,
                    in_canary=skill.id in canary_skills,
                )
            )
        return out

    def _item(self, skill: SkillEvidence, run_id: str, origin: Origin, at: datetime) -> Item:
        item = skill.runs.get(run_id)
        if item is None:
            supporter = self.rules.supporter(skill.scope, origin)
            item = Item(run_id, supporter, self.weight(at), aware(at), origin=origin)
            skill.runs[run_id] = item
        return item

    def _outcomes(
        self, by_version: dict[int, SkillEvidence], high: list[tuple[str, str, float, datetime]]
    ) -> None:
        # A user's own rating says more about a run than the judge's comparison of candidates:
        # when a run was rated, its score is the ratings' mean, else the judge's.
        rated: dict[tuple[int, str], list[float]] = defaultdict(list)
        judged: dict[tuple[int, str], list[float]] = defaultdict(list)
        query = sa_select(
            col(OutcomeRow.skill_version_id),
            col(OutcomeRow.run_id),
            col(OutcomeRow.tenant),
            col(OutcomeRow.user_hash),
            col(OutcomeRow.score),
            col(OutcomeRow.source),
            col(OutcomeRow.created_at),
            col(RunRow.api_key_id),
        ).select_from(OutcomeRow)
        # The key comes from the run (what the server authenticated), never from the outcome.
        query = query.outerjoin(RunRow, col(RunRow.id) == col(OutcomeRow.run_id)).where(
            col(OutcomeRow.skill_version_id).in_(list(by_version))
        )
        with self.store.session() as session, ExitStack() as stack:
            rows = stack.enter_context(stream(session, query))
            for version_id, run_id, tenant, user_hash, score, source, created_at, key in rows:
                if self.held_out(run_id) or run_id in self._over_cap:
                    continue
                skill = by_version[version_id]
                if self.excluded(skill, tenant):
                    continue
                if not self.privacy.shares(tenant):
                    self._unshared.add(run_id)
                self._item(skill, run_id, Origin(tenant, user_hash, key), created_at)
                skill.outcomes += 1
                (rated if source == OutcomeSource.FEEDBACK.value else judged)[
                    (version_id, run_id)
                ].append(float(score))
        for key in rated.keys() | judged.keys():
            version_id, run_id = key
            skill = by_version[version_id]
            item = skill.runs[run_id]
            scores = rated.get(key) or judged[key]
            item.score = sum(scores) / len(scores)
            skill.weight_sum += item.weight
            skill.weighted_score += item.weight * item.score
            if item.score >= HIGH_SCORE and run_id not in self._unshared:
                high.append((run_id, item.supporter, item.score, item.created_at))

    def _failures(self, skills: list[SkillEvidence]) -> None:
        # A run names the exact version row it used: credit never crosses scopes.
        by_version = {s.version_id: s for s in skills}
        query = sa_select(
            col(RunRow.id),
            col(RunRow.tenant),
            col(RunRow.user_hash),
            col(RunRow.skill_version_id),
            col(RunRow.created_at),
            col(RunRow.api_key_id),
        ).where(col(RunRow.status).in_(_FAILED), col(RunRow.skill_version_id).in_(list(by_version)))
        with self.store.session() as session, ExitStack() as stack:
            rows = stack.enter_context(stream(session, query))
            for run_id, tenant, user_hash, version_id, created_at, key in rows:
                skill = by_version[version_id]
                if self.held_out(run_id) or run_id in self._over_cap:
                    continue
                if self.excluded(skill, tenant):
                    continue
                item = self._item(skill, run_id, Origin(tenant, user_hash, key), created_at)
                item.failed, item.kind = True, "failure"
                skill.failures += 1

    def _comments(self, by_version: dict[int, SkillEvidence]) -> None:
        runs = {run_id: s for s in by_version.values() for run_id in s.runs}
        query = sa_select(col(FeedbackRow.run_id), col(FeedbackRow.comment)).where(
            col(FeedbackRow.comment).is_not(None)
        )
        with self.store.session() as session, ExitStack() as stack:
            rows = stack.enter_context(stream(session, query))
            for run_id, comment in rows:
                skill = runs.get(run_id)
                if skill is None or not comment or not comment.strip():
                    continue
                item = skill.runs[run_id]
                item.raw_comment = f"{item.raw_comment}\n{comment}" if item.raw_comment else comment
                skill.comments += 1

    # -- what the LLM sees -----------------------------------------------------------------

    def _choose_items(self, skill: SkillEvidence) -> None:
        """Negative and commented runs first, recent first, a few per supporter."""
        ranked = sorted(
            skill.runs.values(),
            key=lambda i: (not i.negative, i.raw_comment is None, -i.weight, i.run_id),
        )
        per: dict[str, int] = defaultdict(int)
        for item in ranked:
            if len(skill.items) >= self.settings.max_evidence_items:
                break
            if per[item.supporter] >= _PER_SUPPORTER:
                continue
            per[item.supporter] += 1
            item.id = f"e{len(skill.items) + 1}"
            if item.raw_comment:
                item.comment = self.scrub(item.raw_comment)
            skill.items.append(item)

    def scrub(self, text: str, limit: int = _TASK_SHOW_CHARS) -> str:
        """Scrubbed and shortened; cut at a space first so no token is split mid-secret."""
        if len(text) > _TASK_SCRUB_CHARS:
            cut = text.rfind(" ", 0, _TASK_SCRUB_CHARS)
            text = text[: cut if cut > 0 else _TASK_SCRUB_CHARS]
        clean = self.scrubber.scrub(text)
        return clean if len(clean) <= limit else clean[:limit].rstrip() + " …"

    def _load_details(self, items: list[Item]) -> None:
        if not items:
            return
        ids = [i.run_id for i in items]
        with self.store.session() as session:
            tasks = dict(
                session.exec(select(RunRow.id, RunRow.task).where(col(RunRow.id).in_(ids))).all()
            )
            steps = session.exec(
                select(StepRow.run_id, StepRow.name, StepRow.status, StepRow.error)
                .where(col(StepRow.run_id).in_(ids))
                .order_by(col(StepRow.run_id), col(StepRow.index))
            ).all()
        by_run: dict[str, list[str]] = defaultdict(list)
        for run_id, name, status, error in steps:
            line = f"{name}: {status}" + (f": {self.scrub(error, 200)}" if error else "")
            by_run[run_id].append(line)
        for item in items:
            task = tasks.get(item.run_id)
            item.task = self.scrub(task) if task else None
            item.steps = by_run.get(item.run_id, [])
