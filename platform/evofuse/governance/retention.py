"""`storage.retention_days`: run text older than that is deleted, or scrubbed in place.

- `delete`: the old runs go with their steps, candidates, verdicts and feedback rows.
- `scrub`: the rows stay with their numbers (status, cost, tokens, latency, scores), and every
  free text in them (task, answer, candidates, rationales, errors, comments) is emptied.

Either way the outcome rows stay: the Selector's per-version statistics and evolution's history
keep their scores, and nothing in them is text. Conversation checkpoints of threads whose every
run is old are deleted too. Runs still `running` are never touched.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from evofuse.config import Settings
from evofuse.config.governance import RetentionMode
from evofuse.governance.threads import delete_threads
from evofuse.store import Store, utcnow
from evofuse.store.audit import AuditAction, record
from evofuse.store.feedback import FeedbackRow
from evofuse.store.runs import CandidateRow, RunRow, RunStatus, StepRow, VerdictRow


class RetentionReport(BaseModel):
    mode: str
    days: float
    cutoff: datetime
    dry_run: bool = False
    runs: int = 0
    steps: int = 0
    candidates: int = 0
    verdicts: int = 0
    feedback: int = 0
    checkpoint_threads: int = 0

    def summary(self) -> str:
        verb = {"delete": "deleted", "scrub": "scrubbed"}[self.mode]
        if self.dry_run:
            verb = f"would have {verb}"
        return (
            f"{verb} the text of {self.runs} runs older than {self.days:g} days "
            f"(before {self.cutoff.isoformat(timespec='seconds')}): {self.steps} steps, "
            f"{self.candidates} candidates, {self.verdicts} verdicts, {self.feedback} feedback "
            "rows; outcome scores kept"
        )


def _count(result: Any) -> int:
    return int(result.rowcount or 0)


def apply_retention(
    settings: Settings,
    store: Store,
    *,
    actor: str,
    now: datetime | None = None,
    dry_run: bool = False,
    days: float | None = None,
) -> RetentionReport | None:
    """Apply the retention policy once; None when `storage.retention_days` is not set."""
    days = days if days is not None else settings.storage.retention_days
    if days is None:
        return None
    mode = settings.storage.retention_mode
    cutoff = (now or utcnow()) - timedelta(days=days)
    report = RetentionReport(mode=mode.value, days=days, cutoff=cutoff, dry_run=dry_run)
    old = sa_select(col(RunRow.id)).where(
        col(RunRow.created_at) < cutoff, col(RunRow.status) != RunStatus.RUNNING.value
    )
    steps = sa_select(col(StepRow.id)).where(col(StepRow.run_id).in_(old))
    with store.session() as session:
        threads = _expired_threads(session, cutoff)
        conn = session.connection()
        if dry_run:
            report.runs = len(session.exec(select(RunRow.id).where(col(RunRow.id).in_(old))).all())
            session.rollback()
            return report
        if mode is RetentionMode.DELETE:
            report.candidates = _count(
                conn.execute(delete(CandidateRow).where(col(CandidateRow.step_id).in_(steps)))
            )
            report.verdicts = _count(
                conn.execute(delete(VerdictRow).where(col(VerdictRow.step_id).in_(steps)))
            )
            report.steps = _count(conn.execute(delete(StepRow).where(col(StepRow.run_id).in_(old))))
            report.feedback = _count(
                conn.execute(delete(FeedbackRow).where(col(FeedbackRow.run_id).in_(old)))
            )
            report.runs = _count(
                conn.execute(
                    delete(RunRow).where(
                        col(RunRow.created_at) < cutoff,
                        col(RunRow.status) != RunStatus.RUNNING.value,
                    )
                )
            )
        else:
            # Only rows that still hold text are counted (and touched): a second run finds none.
            report.candidates = _scrub(conn, CandidateRow, ("content", "error"), steps, "step_id")
            report.verdicts = _scrub(
                conn, VerdictRow, ("rationale", "error", "fallback_rule"), steps, "step_id"
            )
            report.steps = _scrub(conn, StepRow, ("content", "error"), old, "run_id")
            report.feedback = _scrub(conn, FeedbackRow, ("comment",), old, "run_id")
            report.runs = _scrub(conn, RunRow, ("task", "answer", "error"), old, "id")
    report.checkpoint_threads = delete_threads(settings.storage.database_url, threads)
    record(
        store,
        actor=actor,
        action=AuditAction.RETENTION_RUN,
        target=f"{mode.value} older than {days:g} days",
        detail=report.model_dump(mode="json"),
    )
    return report


def _scrub(conn: Any, model: Any, fields: tuple[str, ...], within: Any, key: str) -> int:
    holding = or_(*(col(getattr(model, f)).is_not(None) for f in fields))
    return _count(
        conn.execute(
            update(model)
            .where(col(getattr(model, key)).in_(within), holding)
            .values(dict.fromkeys(fields))
        )
    )


def _expired_threads(session: Any, cutoff: datetime) -> list[str]:
    """Threads whose every run is older than the cutoff (a newer run still needs the rest)."""
    expired = col(RunRow.created_at) < cutoff
    running = col(RunRow.status) == RunStatus.RUNNING.value
    threads = col(RunRow.thread_id)
    old = set(
        session.exec(
            select(threads).where(threads.is_not(None), expired, ~running).distinct()
        ).all()
    )
    if not old:
        return []
    live = set(
        session.exec(
            select(threads).where(threads.in_(old), or_(~expired, running)).distinct()
        ).all()
    )
    return sorted(old - live)
