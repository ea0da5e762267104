"""The evidence mode `auto` learns from: users' ratings of runs, by the mode the run's steps ran.

Only ratings count (`POST /v1/feedback`, which the API accepts from the run's own tenant), not
the judge's scores: the judge scores nothing in `single` and `vote`, and it is part of the modes
being compared. Ratings are grouped by the run's tenant so that `auto` can cap each other
tenant's weight (see `evofuse.fusion.auto`).

A skill is the skill row behind the run's `skill_version_id`, every version of it: a tenant's
own skill and a global one of the same name are two skills, and never share evidence.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement
from sqlmodel import col, select

from evofuse.config import FusionMode
from evofuse.fusion.auto import ArmStats, TenantStats
from evofuse.store.db import Store
from evofuse.store.feedback import FeedbackRow
from evofuse.store.runs import RunRow, StepRow
from evofuse.store.skills import SkillVersionRow

# Newest ratings per skill that are read; older ones stop counting.
MAX_RATINGS = 5000


class SqlModeEvidence:
    """`ModeEvidence` over the EvoFuse database (the store is opened on first use)."""

    def __init__(self, store: Store | Callable[[], Store], *, max_ratings: int = MAX_RATINGS):
        self._store = store
        self.max_ratings = max_ratings

    @property
    def store(self) -> Store:
        return self._store if isinstance(self._store, Store) else self._store()

    def mode_stats(self, skill: str | None, version_id: int | None = None) -> TenantStats:
        """tenant -> mode -> evidence, from the newest rated runs of a skill: the one whose
        version `version_id` is, else (a skill this library does not hold) runs that recorded
        the name `skill` and no version; None and None: runs without a skill.

        A run counts only when all its finished steps ran in one mode.
        """
        with self.store.session() as session:
            skill_filter: ColumnElement[bool]
            if version_id is not None:
                version = session.get(SkillVersionRow, version_id)
                if version is None:
                    return {}
                versions = select(SkillVersionRow.id).where(
                    SkillVersionRow.skill_id == version.skill_id
                )
                skill_filter = col(RunRow.skill_version_id).in_(versions)
            elif skill is None:
                skill_filter = col(RunRow.skill_name).is_(None)
            else:
                skill_filter = (col(RunRow.skill_name) == skill) & col(RunRow.skill_version_id).is_(
                    None
                )
            ratings = session.exec(
                select(FeedbackRow.run_id, FeedbackRow.score, RunRow.tenant, RunRow.cost_usd)
                .join(RunRow, col(RunRow.id) == col(FeedbackRow.run_id))
                .where(skill_filter)
                .order_by(col(FeedbackRow.created_at).desc())
                .limit(self.max_ratings)
            ).all()
            run_ids = sorted({r[0] for r in ratings})
            modes: dict[str, set[str]] = {}
            for start in range(0, len(run_ids), 500):  # stay under SQL parameter limits
                chunk = run_ids[start : start + 500]
                for run_id, mode in session.exec(
                    select(StepRow.run_id, StepRow.mode).where(
                        col(StepRow.run_id).in_(chunk), StepRow.status == "succeeded"
                    )
                ):
                    if mode is not None:
                        modes.setdefault(run_id, set()).add(mode)
        out: dict[str, dict[FusionMode, ArmStats]] = {}
        for run_id, score, tenant, cost in ratings:
            ran = modes.get(run_id, set())
            if len(ran) != 1:
                continue
            mode = FusionMode(next(iter(ran)))
            out.setdefault(tenant, {}).setdefault(mode, ArmStats()).add(score, cost)
        return out
