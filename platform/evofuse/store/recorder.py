"""Writes runs to SQL as they happen (the runtime's `RunRecorder`), and finds interrupted ones."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import select

from evofuse.store.db import Store
from evofuse.store.outcomes import OutcomeRow, OutcomeSource
from evofuse.store.processes import local_owner_alive, this_process
from evofuse.store.runs import CandidateRow, RunRow, RunStatus, StepRow, VerdictRow
from evofuse.store.skills import SkillVersionRow, utcnow

if TYPE_CHECKING:
    from evofuse.fusion import CandidateResult, FusionResult
    from evofuse.ports import RunInfo, SkillChoice

# A run of another host still `running` after this long is taken as dead: we cannot see its pid.
STALE_AFTER = timedelta(hours=6)


class SqlRunRecorder:
    """Durable run records in the EvoFuse database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- the RunRecorder protocol ---------------------------------------------------------

    def start(self, run_id: str, run: RunInfo) -> None:
        with self.store.session() as session:
            if session.get(RunRow, run_id) is not None:
                return  # resumed thread or a re-run node: the run already exists
            session.add(
                RunRow(
                    id=run_id,
                    graph=run.graph_id,
                    tenant=run.tenant or "",
                    user_hash=run.user or "",
                    thread_id=run.thread_id,
                    task=run.task,
                    api_key_id=run.api_key_id,
                    owner=this_process(),
                )
            )

    def skill_chosen(self, run_id: str, skill: SkillChoice | None) -> None:
        if skill is None:
            return
        with self.store.session() as session:
            run = self._run(session, run_id)
            run.skill_name = skill.get("name")
            run.skill_version = skill.get("version")
            version_id = skill.get("version_id")
            # A chooser of the user's own may offer a skill this library does not hold: the
            # run keeps its name, and no outcome is credited to a version that does not exist.
            if version_id is not None and session.get(SkillVersionRow, version_id) is not None:
                run.skill_version_id = version_id
            session.add(run)

    def step_finished(self, run_id: str, index: int, name: str, result: FusionResult) -> None:
        with self.store.session() as session:
            step = StepRow(
                run_id=run_id,
                index=index,
                name=name,
                mode=result.mode.value,
                status="succeeded",
                content=result.content,
                cost_usd=result.cost_usd,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                latency_ms=result.latency_ms,
                degraded=result.degraded,
                degraded_reasons=result.degraded_reasons,
                prompt_versions=result.prompt_versions,
                mode_choice=None
                if result.mode_choice is None
                else result.mode_choice.model_dump(mode="json"),
            )
            session.add(step)
            session.flush()
            assert step.id is not None
            calls = [c for r in result.debate_rounds for c in r] or result.candidates
            session.add_all(_candidate_row(step.id, c) for c in calls)
            j = result.judge
            session.add(
                VerdictRow(
                    step_id=step.id,
                    judge_model=j.model,
                    status=j.status,
                    winner=j.winner,
                    scores=[s.model_dump() for s in j.scores],
                    rationale=j.rationale,
                    error=j.error,
                    degraded=result.degraded,
                    seed=j.seed,
                    order=j.order,
                    prompt_version=j.prompt_version,
                    fallback_rule=j.fallback_rule,
                    latency_ms=j.latency_ms,
                    cost_usd=j.cost_usd,
                )
            )
            run = self._run(session, run_id)
            run.prompt_tokens += result.prompt_tokens
            run.completion_tokens += result.completion_tokens
            if index == 0:
                run.cost_usd = result.cost_usd
            elif run.cost_usd is not None:
                run.cost_usd = None if result.cost_usd is None else run.cost_usd + result.cost_usd
            run.answer = result.content
            session.add(run)

    def step_failed(self, run_id: str, index: int, name: str, error: BaseException) -> None:
        # A step the caller cancelled (a client that went away) did not fail: say which it was.
        cancelled = isinstance(error, asyncio.CancelledError | GeneratorExit)
        status = "cancelled" if cancelled else "failed"
        message = (
            "the caller cancelled the run" if cancelled else str(error) or type(error).__name__
        )
        with self.store.session() as session:
            step = StepRow(run_id=run_id, index=index, name=name, status=status, error=message)
            session.add(step)
            session.flush()
            assert step.id is not None
            for failure in getattr(error, "failures", []):
                session.add(_candidate_row(step.id, failure))

    def finish(self, run_id: str, status: str, error: str | None = None) -> None:
        with self.store.session() as session:
            run = self._run(session, run_id)
            if run.status != RunStatus.RUNNING.value:
                return  # already final (e.g. `record` ran, then the Runner confirms)
            run.status = RunStatus(status).value
            run.error = error
            run.finished_at = utcnow()
            created = (
                run.created_at
                if run.created_at.tzinfo
                else run.created_at.replace(tzinfo=run.finished_at.tzinfo)
            )
            run.latency_ms = (run.finished_at - created).total_seconds() * 1000
            session.add(run)
            if run.status == RunStatus.SUCCEEDED.value:
                self._judge_outcome(session, run)

    # -- maintenance ----------------------------------------------------------------------

    def mark_interrupted(self) -> int:
        """Mark runs whose process died mid-run as `interrupted`; return how many."""
        now = utcnow()
        count = 0
        with self.store.session() as session:
            running = session.exec(select(RunRow).where(RunRow.status == RunStatus.RUNNING.value))
            for run in running:
                created = (
                    run.created_at
                    if run.created_at.tzinfo
                    else run.created_at.replace(tzinfo=now.tzinfo)
                )
                alive = local_owner_alive(run.owner)
                dead = now - created > STALE_AFTER if alive is None else not alive
                if dead:
                    run.status = RunStatus.INTERRUPTED.value
                    run.error = f"the process running it ({run.owner}) stopped before it finished"
                    run.finished_at = now
                    session.add(run)
                    count += 1
        return count

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def _run(session: Any, run_id: str) -> RunRow:
        run = session.get(RunRow, run_id)
        if run is None:
            raise LookupError(f"run {run_id} was never started")
        assert isinstance(run, RunRow)
        return run

    def _judge_outcome(self, session: Any, run: RunRow) -> None:
        """The judge-derived score of a run: the best candidate score of each step, averaged."""
        if run.skill_version_id is None or run.skill_name is None or run.skill_version is None:
            return
        steps = session.exec(select(StepRow).where(StepRow.run_id == run.id)).all()
        best: list[float] = []
        for step in steps:
            verdict = session.exec(select(VerdictRow).where(VerdictRow.step_id == step.id)).first()
            if verdict is not None and verdict.status == "ok" and verdict.scores:
                best.append(max(float(s["score"]) for s in verdict.scores) / 10.0)
        if not best:
            return  # no judge scored anything (single mode, degraded): no evidence, not a zero
        session.add(
            OutcomeRow(
                run_id=run.id,
                skill_version_id=run.skill_version_id,
                skill_name=run.skill_name,
                version=run.skill_version,
                tenant=run.tenant,
                user_hash=run.user_hash,
                score=min(1.0, max(0.0, sum(best) / len(best))),
                source=OutcomeSource.JUDGE.value,
            )
        )


def _candidate_row(step_id: int, c: CandidateResult) -> CandidateRow:
    return CandidateRow(
        step_id=step_id,
        model=c.model,
        status=c.status,
        round=c.round,
        content=c.content,
        error=c.error,
        latency_ms=c.latency_ms,
        prompt_tokens=c.prompt_tokens,
        completion_tokens=c.completion_tokens,
        cost_usd=c.cost_usd,
    )
