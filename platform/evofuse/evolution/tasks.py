"""Recorded tasks for the gate's replay (held out) and for the Extractor (the no-skill pool).

Both read runs newest first and stop as soon as they have enough, so their cost does not grow
with the history beyond the database's ordered scan.
"""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from datetime import datetime

from sqlalchemy import select as sa_select
from sqlmodel import col, select

from evofuse.evolution.evidence import EvidenceBuilder, SkillEvidence, Task, stream
from evofuse.store.runs import RunRow, RunStatus
from evofuse.store.skills import SkillVersionRow


def held_out_tasks(builder: EvidenceBuilder, skills: list[SkillEvidence]) -> None:
    """The most recent held-out tasks of each skill (any version), for the gate's replay."""
    # By skill row, not name: a global and a tenant's skill of the same name keep their own tasks.
    wanted = {s.skill_id: s for s in skills}
    need = builder.settings.replay_tasks
    full = 0
    query = (
        sa_select(
            col(RunRow.id),
            col(SkillVersionRow.skill_id),
            col(RunRow.tenant),
            col(RunRow.user_hash),
            col(RunRow.task),
        )
        .join(SkillVersionRow, col(SkillVersionRow.id) == col(RunRow.skill_version_id))
        .where(col(SkillVersionRow.skill_id).in_(list(wanted)), col(RunRow.task).is_not(None))
        .order_by(col(RunRow.created_at).desc())
    )
    with builder.store.session() as session, ExitStack() as stack:
        rows = stack.enter_context(stream(session, query))
        for run_id, skill_id, tenant, user_hash, task in rows:
            skill = wanted.get(skill_id)
            if skill is None or len(skill.held_out) >= need or builder.excluded(skill, tenant):
                continue
            if not task or not builder.held_out(run_id):
                continue
            skill.held_out.append(
                Task(run_id, builder.supporter(tenant, user_hash), "", builder.scrub(task, 2000))
            )
            full += len(skill.held_out) == need
            if full == len(wanted):
                break


def pool_tasks(
    builder: EvidenceBuilder, high: list[tuple[str, str, float, datetime]]
) -> tuple[list[Task], list[Task]]:
    """No-skill tasks and high-scoring tasks, newest first, split into evidence/held out.

    One API key fills at most `max_runs_per_key` places, so a flood cannot crowd out the pool."""
    limit, per_key = builder.settings.max_pool_tasks, builder.settings.max_runs_per_key
    taken: Counter[str] = Counter()
    query = (
        sa_select(
            col(RunRow.id),
            col(RunRow.tenant),
            col(RunRow.user_hash),
            col(RunRow.task),
            col(RunRow.api_key_id),
        )
        .where(
            col(RunRow.skill_name).is_(None),
            col(RunRow.status) == RunStatus.SUCCEEDED.value,
            col(RunRow.task).is_not(None),
        )
        .order_by(col(RunRow.created_at).desc())
    )
    pool: list[Task] = []
    held: list[Task] = []
    with builder.store.session() as session, ExitStack() as stack:
        rows = stack.enter_context(stream(session, query))
        for run_id, tenant, user_hash, task, key in rows:
            if builder.excluded(None, tenant):  # the Extractor writes global skills
                continue
            if key is not None:
                if taken[key] >= per_key:
                    continue
                taken[key] += 1
            target = held if builder.held_out(run_id) else pool
            if len(target) < limit and task:
                target.append(Task(run_id, builder.supporter(tenant, user_hash), task))
            if len(pool) >= limit and len(held) >= limit:
                break
    best = sorted(high, key=lambda h: h[3], reverse=True)[: limit // 2]
    if best:
        with builder.store.session() as session:
            texts = dict(
                session.exec(
                    select(RunRow.id, RunRow.task).where(col(RunRow.id).in_([h[0] for h in best]))
                ).all()
            )
        for run_id, supporter, score, _ in best:
            text = texts.get(run_id)
            if text:
                pool.append(Task(run_id, supporter, text, score=score))
    return pool, held
