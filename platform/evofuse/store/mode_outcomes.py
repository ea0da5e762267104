"""The evidence mode `auto` learns from: users' ratings of runs, by the mode the run's steps ran.

Only ratings count (`POST /v1/feedback`, which the API accepts from the run's own tenant), not
the judge's scores: the judge scores nothing in `single` and `vote`, and it is part of the modes
being compared. Ratings are grouped by the run's tenant so that `auto` can cap each other
tenant's weight (see `evofuse.fusion.auto`).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import col, select

from evofuse.config import FusionMode
from evofuse.fusion.auto import ArmStats, TenantStats
from evofuse.store.db import Store
from evofuse.store.feedback import FeedbackRow
from evofuse.store.runs import RunRow, StepRow

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

    def mode_stats(self, skill: str | None) -> TenantStats:
        """tenant -> mode -> evidence, from the newest rated runs of `skill` (None: no skill).

        A run counts only when all its finished steps ran in one mode.
        """
        skill_filter = (
            col(RunRow.skill_name).is_(None) if skill is None else (col(RunRow.skill_name) == skill)
        )
        with self.store.session() as session:
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
