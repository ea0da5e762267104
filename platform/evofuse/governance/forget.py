"""Forget a user: delete everything recorded about them, and what was learned from it.

One transaction deletes the user's runs (with their steps, candidates and verdicts), every
feedback and outcome row by them or about their runs, their private skills, their rows in the
support of evolved versions, and their evidence items in stored cycle reports. Then every
version their runs had backed is re-checked: with fewer than `evolution.min_distinct_users`
distinct supporters left it is retired (an improved version gives way to its parent), unless
it has served for longer than `privacy.forget_review_after_days`, in which case it is flagged
for a person to review in the audit log. LangGraph checkpoints of the user's threads go too.

The user arrives as a pseudonym (`evofuse.identity.UserHasher`): raw ids are never stored, so
this is the only way to find their rows; the audit entry names neither id nor pseudonym.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Table, delete, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, func, select

from evofuse.config import Settings
from evofuse.governance.reports import forget_in_reports
from evofuse.governance.threads import delete_threads
from evofuse.skills.models import Context
from evofuse.store import Scope, SkillFileRow, SkillRow, SkillVersionRow, Status, Store, utcnow
from evofuse.store.audit import AuditAction, record
from evofuse.store.evolution import CanaryRow, CanaryStatus, aware
from evofuse.store.feedback import FeedbackRow
from evofuse.store.outcomes import OutcomeRow
from evofuse.store.runs import CandidateRow, RunRow, StepRow, VerdictRow
from evofuse.store.support import SupportRow

if TYPE_CHECKING:
    from evofuse.skills.library import Library


class VersionCheck(BaseModel):
    """A version the forgotten user had backed, and what became of it."""

    skill: str
    scope: str
    tenant: str
    version: int
    status: str  # before the check
    remaining_supporters: int
    needed: int
    served_days: float
    decision: Literal["kept", "retired", "flagged_for_review", "already_retired"]
    detail: str = ""


class ForgetReport(BaseModel):
    tenant: str
    runs: int = 0
    steps: int = 0
    candidates: int = 0
    verdicts: int = 0
    feedback: int = 0
    outcomes: int = 0
    support_rows: int = 0
    private_skills: int = 0
    report_items: int = 0  # evidence items removed from stored cycle reports
    checkpoint_threads: int = 0
    versions: list[VersionCheck] = Field(default_factory=list)

    @property
    def retired(self) -> list[VersionCheck]:
        return [v for v in self.versions if v.decision == "retired"]

    @property
    def flagged(self) -> list[VersionCheck]:
        return [v for v in self.versions if v.decision == "flagged_for_review"]

    def summary(self) -> str:
        text = (
            f"deleted {self.runs} runs, {self.feedback} feedback and {self.outcomes} outcome "
            f"rows, {self.private_skills} private skills; {len(self.versions)} versions "
            f"re-checked: {len(self.retired)} retired, {len(self.flagged)} flagged for review"
        )
        return text


@dataclass(frozen=True)
class _Run:
    id: str
    thread_id: str | None
    task: str | None


def _count(result: Any) -> int:
    return int(result.rowcount or 0)


class Forgetter:
    def __init__(self, settings: Settings, store: Store, library: Library | None = None) -> None:
        self.settings, self.store, self.library = settings, store, library
        self._skill_ids: set[int] = set()

    def forget(
        self, *, tenant: str, user_hash: str, actor: str, now: datetime | None = None
    ) -> ForgetReport:
        """Delete the user's data (one transaction), re-check the versions they backed."""
        now = now or utcnow()
        report = ForgetReport(tenant=tenant)
        with self.store.session() as session:
            runs = [
                _Run(*row)
                for row in session.exec(
                    select(RunRow.id, RunRow.thread_id, RunRow.task).where(
                        col(RunRow.tenant) == tenant, col(RunRow.user_hash) == user_hash
                    )
                ).all()
            ]
            run_ids = [r.id for r in runs]
            backed = self._delete_rows(session, report, tenant, user_hash)
            private = self._delete_private_skills(session, report, tenant, user_hash)
            backed -= private
        if self.library is not None and private:
            self.library.index.delete(sorted(self._skill_ids))
        report.report_items = forget_in_reports(
            self.store, set(run_ids), [r.task for r in runs if r.task]
        )
        threads = sorted({r.thread_id for r in runs if r.thread_id} | set(run_ids))
        report.checkpoint_threads = delete_threads(self.settings.storage.database_url, threads)
        for version_id in sorted(backed):
            check = self._recheck(version_id, now, actor)
            if check is not None:
                report.versions.append(check)
        record(
            self.store,
            actor=actor,
            action=AuditAction.USER_FORGET,
            tenant=tenant,
            target="user",  # no id and no pseudonym: the audit log must not remember them
            detail=report.model_dump(exclude={"versions", "tenant"})
            | {"versions": [f"{v.skill} v{v.version}: {v.decision}" for v in report.versions]},
        )
        return report

    # -- deleting ----------------------------------------------------------------------------

    def _delete_rows(
        self,
        session: Session,
        report: ForgetReport,
        tenant: str,
        user_hash: str,
    ) -> set[int]:
        """Delete the user's rows; returns the ids of the versions their runs had backed."""
        of_runs = sa_select(col(RunRow.id)).where(
            col(RunRow.tenant) == tenant, col(RunRow.user_hash) == user_hash
        )
        steps = sa_select(col(StepRow.id)).where(col(StepRow.run_id).in_(of_runs))

        def by_user(table: Any) -> ColumnElement[bool]:
            return or_(
                col(table.run_id).in_(of_runs),
                (col(table.tenant) == tenant) & (col(table.user_hash) == user_hash),
            )

        backed = set(session.exec(select(SupportRow.version_id).where(by_user(SupportRow))).all())
        conn = session.connection()
        report.candidates = _count(
            conn.execute(delete(CandidateRow).where(col(CandidateRow.step_id).in_(steps)))
        )
        report.verdicts = _count(
            conn.execute(delete(VerdictRow).where(col(VerdictRow.step_id).in_(steps)))
        )
        report.steps = _count(conn.execute(delete(StepRow).where(col(StepRow.run_id).in_(of_runs))))
        report.feedback = _count(conn.execute(delete(FeedbackRow).where(by_user(FeedbackRow))))
        report.outcomes = _count(conn.execute(delete(OutcomeRow).where(by_user(OutcomeRow))))
        report.support_rows = _count(conn.execute(delete(SupportRow).where(by_user(SupportRow))))
        report.runs = _count(
            conn.execute(
                delete(RunRow).where(
                    col(RunRow.tenant) == tenant, col(RunRow.user_hash) == user_hash
                )
            )
        )
        return {int(v) for v in backed}

    def _delete_private_skills(
        self, session: Session, report: ForgetReport, tenant: str, user_hash: str
    ) -> set[int]:
        """The user's own skills and every version of them; returns the version ids."""
        skills = session.exec(
            select(SkillRow).where(
                col(SkillRow.scope) == Scope.USER.value,
                col(SkillRow.tenant) == tenant,
                col(SkillRow.owner) == user_hash,
            )
        ).all()
        self._skill_ids = {s.id for s in skills if s.id is not None}
        if not skills:
            return set()
        versions = set(
            session.exec(
                select(SkillVersionRow.id).where(col(SkillVersionRow.skill_id).in_(self._skill_ids))
            ).all()
        )
        conn = session.connection()
        # Whatever else points at these versions (files, canaries, outcomes, support, runs):
        # rows that need the version go, optional references are cleared.
        for table in SQLModel.metadata.sorted_tables:
            for fk in table.foreign_keys:
                if fk.column.table.name != "skill_versions" or table.name == "skill_versions":
                    continue
                where = fk.parent.in_(versions)
                if fk.parent.nullable:
                    conn.execute(update(table).where(where).values({fk.parent.name: None}))
                else:
                    conn.execute(delete(table).where(where))
        conn.execute(delete(SkillFileRow).where(col(SkillFileRow.version_id).in_(versions)))
        conn.execute(delete(SkillVersionRow).where(col(SkillVersionRow.id).in_(versions)))
        canaries: Table = CanaryRow.__table__  # type: ignore[attr-defined]
        conn.execute(delete(canaries).where(canaries.c.skill_id.in_(self._skill_ids)))
        conn.execute(delete(SkillRow).where(col(SkillRow.id).in_(self._skill_ids)))
        report.private_skills = len(skills)
        return {int(v) for v in versions if v is not None}

    # -- re-checking -------------------------------------------------------------------------

    def _recheck(self, version_id: int, now: datetime, actor: str) -> VersionCheck | None:
        need = self.settings.evolution.min_distinct_users
        with self.store.session() as session:
            version = session.get(SkillVersionRow, version_id)
            if version is None:
                return None
            skill = session.get(SkillRow, version.skill_id)
            assert skill is not None
            remaining = int(
                session.exec(
                    select(func.count(func.distinct(SupportRow.supporter))).where(
                        col(SupportRow.version_id) == version_id
                    )
                ).one()
            )
        served = (now - aware(version.created_at)).total_seconds() / 86_400
        check = VersionCheck(
            skill=skill.name,
            scope=skill.scope,
            tenant=skill.tenant,
            version=version.version,
            status=version.status,
            remaining_supporters=remaining,
            needed=need,
            served_days=round(served, 2),
            decision="kept",
        )
        if version.status == Status.RETIRED.value:
            check.decision = "already_retired"
        elif remaining >= need:
            check.detail = f"{remaining} distinct supporters remain (needs {need})"
        elif served > self.settings.privacy.forget_review_after_days:
            check.decision = "flagged_for_review"
            check.detail = (
                f"{remaining} distinct supporters remain (needs {need}), but it has served for "
                f"{served:.0f} days: a person should decide (`evofuse skills rollback`)"
            )
        else:
            check.detail = self._retire(skill, version)
            check.decision = "retired"
        if check.decision in ("retired", "flagged_for_review"):
            record(
                self.store,
                actor=actor,
                action=AuditAction.SKILL_RETIRE
                if check.decision == "retired"
                else AuditAction.SKILL_REVIEW,
                tenant=skill.tenant,
                target=f"{skill.name} v{version.version}",
                detail={
                    "scope": skill.scope,
                    "reason": "support lost by forget",
                    **check.model_dump(),
                },
            )
        return check

    def _retire(self, skill: SkillRow, version: SkillVersionRow) -> str:
        """Stop serving `version`: a candidate stops, an improvement gives way to its parent."""
        if version.status == Status.CANDIDATE.value:
            with self.store.session() as session:
                row = session.get(SkillVersionRow, version.id)
                assert row is not None
                row.status = Status.RETIRED.value
                session.add(row)
                session.execute(
                    update(CanaryRow.__table__)  # type: ignore[attr-defined]
                    .where(
                        CanaryRow.__table__.c.version_id == version.id,  # type: ignore[attr-defined]
                        CanaryRow.__table__.c.status == CanaryStatus.OPEN.value,  # type: ignore[attr-defined]
                    )
                    .values(
                        status=CanaryStatus.ROLLED_BACK.value,
                        decided_at=utcnow(),
                        reason="a forgotten user's runs were part of its support",
                    )
                )
            return "the canary stopped; users get the active version"
        if self.library is None:
            raise RuntimeError("retiring an active version needs the skill library")
        scope = Scope(skill.scope)
        context = Context(tenant=skill.tenant, user_hash=skill.owner or None)
        if version.parent_version is not None:
            self.library.activate(skill.name, version.parent_version, context=context, scope=scope)
            return f"v{version.parent_version} serves again"
        self.library.retire(skill.name, context=context, scope=scope)
        return "the skill is no longer served (bring it back with `evofuse skills rollback`)"
