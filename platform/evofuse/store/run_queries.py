"""Reading run records back: lists for `runs list`, full detail for `runs show` and the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, func, select

from evofuse.errors import RunNotFoundError
from evofuse.store.db import Store
from evofuse.store.runs import CandidateRow, RunRow, StepRow, VerdictRow
from evofuse.store.skills import SkillRow, SkillVersionRow


def run_summary(run: RunRow) -> dict[str, Any]:
    skill = None
    if run.skill_name is not None:
        skill = {"name": run.skill_name, "version": run.skill_version}
    return {
        "run_id": run.id,
        "graph": run.graph,
        "status": run.status,
        "skill": skill,
        "tenant": run.tenant or None,
        "user": run.user_hash or None,
        "thread_id": run.thread_id,
        "cost_usd": run.cost_usd,
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens,
        "latency_ms": run.latency_ms,
        "error": run.error,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def list_runs(
    store: Store,
    *,
    tenant: str | None = None,
    status: str | None = None,
    graph: str | None = None,
    limit: int = 20,
    skill: str | None = None,
    user_prefix: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Newest first. `tenant=None` lists every tenant (operator view); the API always passes one.

    `user_prefix`: the start of a user's pseudonym (what views show of it); `since`/`until`
    bound `created_at` (until excluded); `offset` pages further back.
    """
    query = select(RunRow).order_by(col(RunRow.created_at).desc()).offset(offset).limit(limit)
    if tenant is not None:
        query = query.where(RunRow.tenant == tenant)
    if status is not None:
        query = query.where(RunRow.status == status)
    if graph is not None:
        query = query.where(RunRow.graph == graph)
    if skill is not None:
        query = query.where(RunRow.skill_name == skill)
    if user_prefix:
        query = query.where(col(RunRow.user_hash).startswith(user_prefix, autoescape=True))
    if since is not None:
        query = query.where(col(RunRow.created_at) >= since)
    if until is not None:
        query = query.where(col(RunRow.created_at) < until)
    with store.session() as session:
        return [run_summary(run) for run in session.exec(query)]


def runs_per_skill(
    store: Store, *, tenant: str, since: datetime
) -> dict[tuple[str, str, str], int]:
    """(name, scope, skill tenant) -> how many of `tenant`'s runs used the skill since `since`."""
    query = (
        select(col(SkillRow.name), col(SkillRow.scope), col(SkillRow.tenant), func.count())
        .select_from(RunRow)
        .join(SkillVersionRow, col(SkillVersionRow.id) == col(RunRow.skill_version_id))
        .join(SkillRow, col(SkillRow.id) == col(SkillVersionRow.skill_id))
        .where(col(RunRow.tenant) == tenant, col(RunRow.created_at) >= since)
        .group_by(col(SkillRow.name), col(SkillRow.scope), col(SkillRow.tenant))
    )
    with store.session() as session:
        return {(n, s, t): int(c) for n, s, t, c in session.exec(query)}


def complete_run_id(store: Store, prefix: str, *, limit: int = 5) -> list[str]:
    """Run ids starting with `prefix` (at most `limit`): what a shortened id could mean.

    LangGraph's run ids are accepted with their dashes, as EvoFuse records them without.
    """
    prefix = prefix.strip().replace("-", "").lower()
    if not prefix:
        return []
    query = select(RunRow.id).where(col(RunRow.id).startswith(prefix, autoescape=True))
    with store.session() as session:
        return list(session.exec(query.order_by(col(RunRow.id)).limit(limit)))


def get_run(store: Store, run_id: str, *, tenant: str | None = None) -> dict[str, Any]:
    """A run with its steps, candidates and verdicts; another tenant's run is 'not found'."""
    with store.session() as session:
        run = session.get(RunRow, run_id)
        if run is None or (tenant is not None and run.tenant != tenant):
            raise RunNotFoundError(run_id)
        out = run_summary(run)
        out["answer"] = run.answer
        steps = session.exec(
            select(StepRow).where(StepRow.run_id == run_id).order_by(col(StepRow.index))
        ).all()
        out["steps"] = [_step(session, step) for step in steps]
        return out


def _step(session: Any, step: StepRow) -> dict[str, Any]:
    candidates = session.exec(
        select(CandidateRow).where(CandidateRow.step_id == step.id).order_by(col(CandidateRow.id))
    ).all()
    verdict = session.exec(select(VerdictRow).where(VerdictRow.step_id == step.id)).first()
    return {
        "index": step.index,
        "name": step.name,
        "mode": step.mode,
        "status": step.status,
        "content": step.content,
        "error": step.error,
        "cost_usd": step.cost_usd,
        "latency_ms": step.latency_ms,
        "prompt_tokens": step.prompt_tokens,
        "completion_tokens": step.completion_tokens,
        "degraded": step.degraded,
        "degraded_reasons": step.degraded_reasons,
        "prompt_versions": step.prompt_versions,
        "candidates": [c.model_dump(exclude={"id", "step_id"}) for c in candidates],
        "judge": None if verdict is None else verdict.model_dump(exclude={"id", "step_id"}),
    }
