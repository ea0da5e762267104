"""Writes runs to SQL as they happen (the runtime's `RunRecorder`), and finds interrupted ones."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Float, Insert, insert, literal, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from evofuse.store.db import Store
from evofuse.store.outcomes import OutcomeRow, OutcomeSource
from evofuse.store.processes import local_owner_alive, this_process
from evofuse.store.rows import Rows
from evofuse.store.runs import CandidateRow, RunRow, RunStatus, StepRow, VerdictRow
from evofuse.store.skills import SkillVersionRow, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult
    from sqlmodel import Session

    from evofuse.fusion import CandidateResult, FusionResult
    from evofuse.ports import RunInfo, SkillChoice

# A run of another host still `running` after this long is taken as dead: we cannot see its pid.
STALE_AFTER = timedelta(hours=6)
_MAX_OPEN = 10_000  # runs kept in memory between start and finish (a leak guard, not a limit)
_RUNS, _STEPS, _CANDIDATES, _VERDICTS, _OUTCOMES = (
    Rows(RunRow),
    Rows(StepRow),
    Rows(CandidateRow),
    Rows(VerdictRow),
    Rows(OutcomeRow),
)


@dataclass
class _OpenRun:
    """What this process knows about a run it is recording, so later calls need no reads."""

    created_at: datetime
    tenant: str
    user_hash: str
    skill: SkillChoice | None = None  # chosen, written with the run's next transaction
    skill_pending: bool = False
    judge_best: list[float] = field(default_factory=list)  # each step's best judge score / 10


class SqlRunRecorder:
    """Durable run records in the EvoFuse database.

    One transaction when a run starts (before any model call), one per step as it ends, one
    when the run ends, each in plain Core statements: at full request rate the ORM's unit of
    work cost more CPU than the SQL (`store/rows.py`). The Selector's choice is kept in memory
    and written with the next of those (a run that dies before its first step ends is
    `interrupted` without it). What a later call would read back (the run's start time, each
    step's best judge score) is kept in memory for the runs this process records; a run it
    does not know is read from SQL.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()  # the runtime calls from worker threads
        self._open: dict[str, _OpenRun] = {}
        self._known_versions: set[int] = set()  # version rows seen to exist (never deleted)
        self._insert_run = _insert_new(store.dialect, RunRow)

    # -- the RunRecorder protocol ---------------------------------------------------------

    def start(self, run_id: str, run: RunInfo) -> None:
        row = _RUNS.values(
            id=run_id,
            graph=run.graph_id,
            tenant=run.tenant or "",
            user_hash=run.user or "",
            thread_id=run.thread_id,
            task=run.task,
            api_key_id=run.api_key_id,
            owner=this_process(),
        )
        with self.store.transaction() as connection:
            inserted = cast("CursorResult[Any]", connection.execute(self._insert_run, row))
        if not inserted.rowcount:
            return  # resumed thread or a re-run node: the run already exists
        with self._lock:
            if len(self._open) >= _MAX_OPEN:  # runs never finished here: forget the oldest
                self._open.pop(next(iter(self._open)))
            self._open[run_id] = _OpenRun(row["created_at"], row["tenant"], row["user_hash"])

    def skill_chosen(self, run_id: str, skill: SkillChoice | None) -> None:
        with self._lock:
            known = self._open.get(run_id)
            if known is not None:
                known.skill, known.skill_pending = skill, skill is not None
                return
        if skill is not None:  # a run this process did not start: write it now
            with self.store.transaction() as connection:
                self._write_skill(connection, run_id, skill)

    def step_finished(self, run_id: str, index: int, name: str, result: FusionResult) -> None:
        with self.store.transaction() as connection:
            step = _STEPS.values(
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
            step_id = _insert(connection, _STEPS, step)
            calls = [c for r in result.debate_rounds for c in r] or result.candidates
            if calls:
                connection.execute(
                    insert(_CANDIDATES.table), [_candidate_row(step_id, c) for c in calls]
                )
            j = result.judge
            connection.execute(
                insert(_VERDICTS.table),
                _VERDICTS.values(
                    step_id=step_id,
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
                ),
            )
            # Totals in one UPDATE, no read: SQL's NULL + x is NULL, so an unknown cost stays
            # unknown for the rest of the run.
            cost = (
                literal(result.cost_usd, Float)
                if index == 0
                else RunRow.cost_usd + result.cost_usd  # type: ignore[operator]
                if result.cost_usd is not None
                else None
            )
            values: dict[str, Any] = {
                "prompt_tokens": RunRow.prompt_tokens + result.prompt_tokens,
                "completion_tokens": RunRow.completion_tokens + result.completion_tokens,
                "cost_usd": cost,
                "answer": result.content,
            }
            values |= self._pending_skill(connection, run_id)
            updated = connection.execute(
                update(RunRow).where(col(RunRow.id) == run_id).values(**values)
            )
            if updated.rowcount == 0:
                raise LookupError(f"run {run_id} was never started")
        best = _best_judge_score(j.status, [float(s.score) for s in j.scores])
        self._skill_written(run_id)
        if best is not None:
            with self._lock:
                known = self._open.get(run_id)
                if known is not None:
                    known.judge_best.append(best)

    def step_failed(self, run_id: str, index: int, name: str, error: BaseException) -> None:
        # A step the caller cancelled (a client that went away) did not fail: say which it was.
        cancelled = isinstance(error, asyncio.CancelledError | GeneratorExit)
        status = "cancelled" if cancelled else "failed"
        message = (
            "the caller cancelled the run" if cancelled else str(error) or type(error).__name__
        )
        with self.store.transaction() as connection:
            step = _STEPS.values(
                run_id=run_id, index=index, name=name, status=status, error=message
            )
            step_id = _insert(connection, _STEPS, step)
            failures = getattr(error, "failures", [])
            if failures:
                connection.execute(
                    insert(_CANDIDATES.table), [_candidate_row(step_id, f) for f in failures]
                )
            skill = self._pending_skill(connection, run_id)
            if skill:
                connection.execute(update(RunRow).where(col(RunRow.id) == run_id).values(**skill))
        self._skill_written(run_id)

    def finish(self, run_id: str, status: str, error: str | None = None) -> None:
        with self._lock:
            known = self._open.get(run_id)
        if known is None:
            self._finish_from_sql(run_id, status, error)
            return
        finished = utcnow()
        values: dict[str, Any] = {
            "status": RunStatus(status).value,
            "error": error,
            "finished_at": finished,
            "latency_ms": (finished - _aware(known.created_at, finished)).total_seconds() * 1000,
        }
        with self.store.transaction() as connection:
            values |= self._pending_skill(connection, run_id)
            updated = connection.execute(
                update(RunRow)
                .where(col(RunRow.id) == run_id, col(RunRow.status) == RunStatus.RUNNING.value)
                .values(**values)
            )
            # Already final (a second finish for the same run): nothing more to write.
            if updated.rowcount and status == "succeeded":
                version_id = self._version_id(connection, known.skill)
                if known.skill is not None and version_id is not None and known.judge_best:
                    connection.execute(
                        insert(_OUTCOMES.table),
                        _judge_outcome(
                            run_id,
                            known.tenant,
                            known.user_hash,
                            known.skill.get("name", ""),
                            known.skill.get("version", 0),
                            version_id,
                            known.judge_best,
                        ),
                    )
        with self._lock:
            self._open.pop(run_id, None)

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

    def _pending_skill(self, connection: Connection, run_id: str) -> dict[str, Any]:
        """The run row's skill columns when a chosen skill is still unwritten (else nothing):
        the caller writes them in its transaction, then calls `_skill_written`."""
        with self._lock:
            known = self._open.get(run_id)
            if known is None or not known.skill_pending or known.skill is None:
                return {}
            skill = known.skill
        return _skill_columns(skill, self._version_id(connection, skill))

    def _skill_written(self, run_id: str) -> None:
        with self._lock:
            known = self._open.get(run_id)
            if known is not None:
                known.skill_pending = False

    def _write_skill(self, connection: Connection, run_id: str, skill: SkillChoice) -> None:
        values = _skill_columns(skill, self._version_id(connection, skill))
        updated = connection.execute(
            update(RunRow).where(col(RunRow.id) == run_id).values(**values)
        )
        if updated.rowcount == 0:
            raise LookupError(f"run {run_id} was never started")

    def _version_id(self, db: Connection | Session, skill: SkillChoice | None) -> int | None:
        """The skill's version row id, if this library holds that row.

        A chooser of the user's own may offer a skill this library does not hold: the run keeps
        its name, and no outcome is credited to a version that does not exist.
        """
        version_id = None if skill is None else skill.get("version_id")
        if version_id is None:
            return None
        if version_id in self._known_versions:
            return version_id
        found = db.execute(
            select(SkillVersionRow.id).where(col(SkillVersionRow.id) == version_id)
        ).first()
        if found is None:
            return None
        self._known_versions.add(version_id)
        return version_id

    def _finish_from_sql(self, run_id: str, status: str, error: str | None) -> None:
        """`finish` for a run this process did not start (or no longer remembers)."""
        with self.store.session() as session:
            run = session.get(RunRow, run_id)
            if run is None:
                raise LookupError(f"run {run_id} was never started")
            if run.status != RunStatus.RUNNING.value:
                return  # already final
            run.status = RunStatus(status).value
            run.error = error
            run.finished_at = utcnow()
            created = _aware(run.created_at, run.finished_at)
            run.latency_ms = (run.finished_at - created).total_seconds() * 1000
            session.add(run)
            if run.status != RunStatus.SUCCEEDED.value or run.skill_version_id is None:
                return
            steps = session.exec(select(StepRow).where(StepRow.run_id == run.id)).all()
            best: list[float] = []
            for step in steps:
                verdict = session.exec(
                    select(VerdictRow).where(VerdictRow.step_id == step.id)
                ).first()
                if verdict is not None:
                    scores = [float(s["score"]) for s in verdict.scores or []]
                    score = _best_judge_score(verdict.status, scores)
                    if score is not None:
                        best.append(score)
            if best and run.skill_name is not None and run.skill_version is not None:
                session.execute(
                    insert(_OUTCOMES.table),
                    _judge_outcome(
                        run.id,
                        run.tenant,
                        run.user_hash,
                        run.skill_name,
                        run.skill_version,
                        run.skill_version_id,
                        best,
                    ),
                )


def _aware(moment: datetime, like: datetime) -> datetime:
    """SQLite returns naive timestamps: read them in the zone of `like`."""
    return moment if moment.tzinfo else moment.replace(tzinfo=like.tzinfo)


def _skill_columns(skill: SkillChoice, version_id: int | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "skill_name": skill.get("name"),
        "skill_version": skill.get("version"),
    }
    if version_id is not None:
        values["skill_version_id"] = version_id
    return values


def _best_judge_score(status: str, scores: list[float]) -> float | None:
    """A step's judge evidence: its best candidate's score on 0..1, if the judge scored any."""
    if status != "ok" or not scores:
        return None  # no judge scored anything (single mode, degraded): no evidence, not a zero
    return max(scores) / 10.0


def _judge_outcome(
    run_id: str,
    tenant: str,
    user_hash: str,
    skill_name: str,
    version: int,
    version_id: int,
    best: list[float],
) -> dict[str, Any]:
    """The judge-derived score of a run: the best candidate score of each step, averaged."""
    return _OUTCOMES.values(
        run_id=run_id,
        skill_version_id=version_id,
        skill_name=skill_name,
        version=version,
        tenant=tenant,
        user_hash=user_hash,
        score=min(1.0, max(0.0, sum(best) / len(best))),
        source=OutcomeSource.JUDGE.value,
    )


def _insert_new(dialect: str, model: type[RunRow]) -> Insert:
    """An INSERT that does nothing when the row's key exists (one statement, no read first)."""
    new = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return new(model.__table__).on_conflict_do_nothing(  # type: ignore[attr-defined]
        index_elements=["id"]
    )


def _insert(connection: Connection, rows: Rows, values: dict[str, Any]) -> int:
    """Insert one row and return the key the database gave it."""
    result = connection.execute(insert(rows.table), values)
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _candidate_row(step_id: int, c: CandidateResult) -> dict[str, Any]:
    return _CANDIDATES.values(
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
