"""Publishing what the gate passed, canaries, and automatic rollback on a live regression.

- An improved (or re-described) version is published as a *candidate* together with its canary
  row, in one transaction: the Selector then serves it to `canary_percent` % of users (always
  the same users, by a hash) and the active version to everyone else. With `canary_percent: 0`
  it becomes active at once and is watched instead.
- At the start of every cycle each open canary is reviewed. Its outcomes since it started are
  compared with the active version's over the same time (or, when the active version got too
  few, with the mean recorded at publication). Not worse: it becomes the default. Worse by at
  least `rollback_margin` over at least `canary_min_samples` outcomes: it is retired, users go
  back to the active version. Undecided after `canary_max_days`: retired as unproven.
- A new skill goes live at once (a skill nobody can find cannot be tried) and is watched: it is
  retired if its mean score falls below 0.5 over the minimum sample. A watched improved version
  is rolled back to its parent if it does worse than the mean its parent had.
- Retiring a skill needs no canary: `evofuse skills rollback NAME --to N` brings it back.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session, col, func, select

from evofuse.config.models import EvolutionSettings
from evofuse.evolution.evidence import NEGATIVE_BELOW, SkillEvidence
from evofuse.evolution.gate import Candidate
from evofuse.evolution.report import CanaryDecision, Proposal
from evofuse.skills.models import Context, VersionInfo
from evofuse.store import (
    Origin,
    OutcomeRow,
    Scope,
    SkillRow,
    SkillVersionRow,
    Status,
    Store,
    utcnow,
)
from evofuse.store.evolution import CanaryKind, CanaryRow, CanaryStatus, aware, open_canaries
from evofuse.store.support import record_support

if TYPE_CHECKING:
    from evofuse.skills.library import Library


def _context(evidence: SkillEvidence | None) -> tuple[Scope, Context]:
    if evidence is None:
        return Scope.GLOBAL, Context()  # extracted skills are shared by everyone
    return Scope(evidence.scope), Context(tenant=evidence.tenant, user_hash=evidence.owner or None)


class Publisher:
    def __init__(self, library: Library, settings: EvolutionSettings, cycle_id: int) -> None:
        self.library, self.settings, self.cycle_id = library, settings, cycle_id
        self.store = library.store

    def publish(
        self,
        proposal: Proposal,
        candidate: Candidate,
        evidence: SkillEvidence | None,
        *,
        backing: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Publish a passed proposal; sets `new_version` and the final status and reason.

        `backing` (run id, supporter) is stored as the new version's support, so forgetting a
        user can tell which versions stood on their runs.
        """
        scope, context = _context(evidence)
        if proposal.action == "retire":
            assert evidence is not None
            self.library.retire(evidence.name, context=context, scope=scope)
            proposal.status, proposal.reason = "promoted", "retired; bring it back with rollback"
            return
        assert candidate.bundle is not None and candidate.spec is not None
        new_skill = proposal.action == "create"
        percent = self.settings.canary_percent
        canary = not new_skill and percent > 0
        baseline = None if evidence is None or new_skill else evidence.weighted_mean
        note = f"evolution cycle {self.cycle_id}: {proposal.action}: {proposal.rationale}"[:1000]

        def register(session: Session, info: VersionInfo) -> None:
            skill = session.get(SkillVersionRow, info.id)
            assert skill is not None
            session.add(
                CanaryRow(
                    skill_id=skill.skill_id,
                    skill_name=info.name,
                    version_id=info.id,
                    version=info.version,
                    baseline_version_id=None
                    if new_skill or evidence is None
                    else evidence.version_id,
                    baseline_mean=baseline,
                    kind=(CanaryKind.CANARY if canary else CanaryKind.WATCH).value,
                    percent=percent if canary else 100.0,
                    cycle_id=self.cycle_id,
                )
            )
            record_support(session, info.id, backing)

        published = self.library.publish(
            candidate.bundle,
            scope=scope,
            context=context,
            origin=Origin.EVOLUTION,
            status=Status.CANDIDATE if canary else Status.ACTIVE,
            parent_version=None if new_skill else proposal.base_version,
            note=note,
            within=register,
            # Refused (StaleVersionError) if the base stopped being active meanwhile.
            expect_active=None if new_skill else proposal.base_version,
        )
        if not published.created:  # the gate checked this; another writer got there first
            proposal.status, proposal.reason = "error", "that content was published meanwhile"
            return
        proposal.new_version = published.version.version
        proposal.content_hash = published.version.content_hash
        proposal.status = "promoted"
        proposal.reason = (
            f"published as v{published.version.version}, canary for {percent:g}% of users"
            if canary
            else f"published as v{published.version.version} and active (watched)"
        )

    # -- reviewing live versions -------------------------------------------------------------

    def review(
        self,
        *,
        dry_run: bool,
        now: datetime | None = None,
        version_ids: Collection[int] | None = None,
    ) -> list[CanaryDecision]:
        """Decide every open canary and watch; in a dry run, say what would happen only.

        `version_ids` limits the review to those versions (the dashboard's live numbers).
        """
        now = now or utcnow()
        with self.store.session() as session:
            rows = open_canaries(session)
        if version_ids is not None:
            rows = [row for row in rows if row.version_id in version_ids]
        return [self._review(row, now, dry_run) for row in rows]

    def _review(self, row: CanaryRow, now: datetime, dry_run: bool) -> CanaryDecision:
        s = self.settings
        started = aware(row.started_at)
        with self.store.session() as session:
            skill = session.get(SkillRow, row.skill_id)
            assert skill is not None
            active_id = _active_id(session, skill)
            n, mean = _stats(session, row.version_id, started)
            base_n, base_mean = (
                _stats(session, row.baseline_version_id, started)
                if row.baseline_version_id is not None
                else (0, None)
            )
        if base_n < s.canary_min_samples:
            base_mean = row.baseline_mean
        if row.kind == CanaryKind.WATCH.value and base_mean is None:
            base_mean = NEGATIVE_BELOW + s.rollback_margin  # new skill: retire below 0.5
        decision = CanaryDecision(
            skill=row.skill_name,
            version=row.version,
            kind=row.kind,
            decision="waiting",
            reason="",
            candidate_mean=None if mean is None else round(mean, 4),
            baseline_mean=None if base_mean is None else round(base_mean, 4),
            samples=n,
        )
        expected = (
            row.baseline_version_id if row.kind == CanaryKind.CANARY.value else row.version_id
        )
        if active_id != expected:
            decision.decision = "superseded"
            decision.reason = "the active version was changed by someone else meanwhile"
        elif n >= s.canary_min_samples and mean is not None and base_mean is not None:
            if mean < base_mean - s.rollback_margin:
                decision.decision = "rolled_back"
                decision.reason = (
                    f"live mean {mean:.3f} over {n} outcomes is worse than {base_mean:.3f} "
                    f"by more than {s.rollback_margin:.2f}"
                )
            elif mean >= base_mean or row.kind == CanaryKind.WATCH.value:
                decision.decision = "promoted"
                decision.reason = f"live mean {mean:.3f} over {n} outcomes vs {base_mean:.3f}"
        if decision.decision == "waiting" and now - started > timedelta(days=s.canary_max_days):
            decision.decision = "rolled_back" if row.kind == CanaryKind.CANARY.value else "promoted"
            decision.reason = (
                f"not proven better within {s.canary_max_days:g} days ({n} outcomes)"
                if decision.decision == "rolled_back"
                else f"no regression within {s.canary_max_days:g} days"
            )
        if decision.decision == "waiting":
            decision.reason = f"{n} of {s.canary_min_samples} outcomes needed so far"
        elif not dry_run:
            self._apply(row, decision)
        return decision

    def _apply(self, row: CanaryRow, decision: CanaryDecision) -> None:
        with self.store.session() as session:
            skill = session.get(SkillRow, row.skill_id)
            assert skill is not None
            scope, context = Scope(skill.scope), Context(skill.tenant, skill.owner or None)
        canary = row.kind == CanaryKind.CANARY.value
        if decision.decision == "promoted" and canary:
            self.library.activate(row.skill_name, row.version, context=context, scope=scope)
        elif decision.decision in ("rolled_back", "superseded") and canary:
            _retire_version(self.store, row.version_id)
        elif decision.decision == "rolled_back":
            parent = _parent(self.store, row.version_id)
            if parent is None:
                self.library.retire(row.skill_name, context=context, scope=scope)
            else:
                self.library.rollback(row.skill_name, to=parent, context=context, scope=scope)
        status = {
            "promoted": CanaryStatus.PROMOTED,
            "rolled_back": CanaryStatus.ROLLED_BACK,
            "superseded": CanaryStatus.SUPERSEDED,
        }[decision.decision]
        with self.store.session() as session:
            stored = session.get(CanaryRow, row.id)
            assert stored is not None
            stored.status, stored.reason, stored.decided_at = (
                status.value,
                decision.reason,
                utcnow(),
            )
            session.add(stored)


def _active_id(session: Session, skill: SkillRow) -> int | None:
    return session.exec(
        select(SkillVersionRow.id).where(
            col(SkillVersionRow.skill_id) == skill.id,
            col(SkillVersionRow.status) == Status.ACTIVE.value,
        )
    ).first()


def _stats(session: Session, version_id: int, since: datetime) -> tuple[int, float | None]:
    n, mean = session.exec(
        select(func.count(), func.avg(OutcomeRow.score)).where(
            col(OutcomeRow.skill_version_id) == version_id, col(OutcomeRow.created_at) >= since
        )
    ).one()
    return int(n), None if mean is None else float(mean)


def _parent(store: Store, version_id: int) -> int | None:
    with store.session() as session:
        row = session.get(SkillVersionRow, version_id)
        return None if row is None else row.parent_version


def _retire_version(store: Store, version_id: int) -> None:
    """Stop serving a candidate. Candidates are not in the index, so SQL alone changes."""
    with store.session() as session:
        row = session.get(SkillVersionRow, version_id)
        if row is not None and row.status == Status.CANDIDATE.value:
            row.status = Status.RETIRED.value
            session.add(row)
