"""One evolution cycle, start to end, under the database lease.

    review canaries → gather evidence (scrubbed) → cluster the no-skill pool → Extractor →
    Evolver per skill with enough support → gate each proposal → publish → store the report

`open()` takes the lease and creates the cycle's row (so a caller such as the API can answer
with the cycle id at once); `run()` does the work and always releases the lease and stores the
report, whatever happens. A cycle that runs out of budget stops cleanly with status `stopped`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import col, select

from evofuse.errors import EvoFuseError, StaleVersionError
from evofuse.evolution.canary import Publisher
from evofuse.evolution.evidence import EvidenceBuilder, SkillEvidence
from evofuse.evolution.evolver import Draft, propose
from evofuse.evolution.extractor import Cluster, Extractor
from evofuse.evolution.gate import Candidate, Gate, task_sources
from evofuse.evolution.injection import Source
from evofuse.evolution.pii import Scrubber, default_scrubber
from evofuse.evolution.rebase import STALE_BASE, active_version, rebase
from evofuse.evolution.report import CycleReport, EvidenceSummary, Proposal
from evofuse.evolution.support import SupportRules
from evofuse.evolution.thinker import Budget, BudgetExhausted, Thinker
from evofuse.skills.bundle import BundleFile
from evofuse.skills.diff import text_diff
from evofuse.skills.spec import SKILL_FILE
from evofuse.store import utcnow
from evofuse.store.evolution import (
    CycleStatus,
    EvolutionRunRow,
    Lease,
    acquire_lease,
    release_lease,
    renew_lease,
    save_cycle,
    start_cycle,
)

if TYPE_CHECKING:
    from evofuse.config import Settings
    from evofuse.fusion import FusionEngine
    from evofuse.services import Services
    from evofuse.skills.library import Library
    from evofuse.store import Store

logger = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]  # (what is happening, units done, units in total)
Job = Callable[[], Awaitable[None]]
# Publishing re-checks the active version this many times when other writers keep changing it.
_PUBLISH_ATTEMPTS = 3
# A proposal's diff in the report: a skill is at most evolution.max_skill_bytes (16 KB by
# default), so this only cuts a pathological proposal.
_MAX_DIFF_CHARS = 64_000


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class EvolutionCycle:
    """One cycle; `open()` then `await run()` (or `await EvolutionCycle(...).execute()`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store,
        library: Library,
        engine: FusionEngine,
        trigger: str = "cli",
        dry_run: bool = False,
        scrubber: Scrubber | None = None,
        progress: Progress | None = None,
        now: datetime | None = None,
    ) -> None:
        self.settings, self.store, self.library, self.engine = settings, store, library, engine
        self.trigger, self.dry_run = trigger, dry_run
        self.scrubber = scrubber or default_scrubber()
        self.progress = progress or (lambda _what, _done, _total: None)
        self.now = now
        self.holder = _holder()
        self.lease: Lease | None = None
        self.id: int | None = None
        # Proposals finish in any order when skills run concurrently; the report lists them in
        # the order their work started (id(proposal) -> position).
        self._slots: dict[int, int] = {}
        self._done = 0

    @classmethod
    def from_services(
        cls,
        services: Services,
        *,
        trigger: str = "cli",
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> EvolutionCycle:
        return cls(
            services.settings,
            store=services.store,
            library=services.library,
            engine=services.engine,
            trigger=trigger,
            dry_run=dry_run,
            progress=progress,
        )

    @property
    def _ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.evolution.lease_ttl_s)

    def open(self) -> int:
        """Take the lease (or raise `LeaseHeldError`) and record the cycle; returns its id."""
        self.lease = acquire_lease(self.store, self.holder, self._ttl)
        try:
            self._fail_abandoned()
            self.id = start_cycle(
                self.store, trigger=self.trigger, dry_run=self.dry_run, holder=self.holder
            )
            renew_lease(self.store, self.lease, self._ttl, cycle_id=self.id)
        except BaseException:
            release_lease(self.store, self.lease)
            raise
        return self.id

    def _fail_abandoned(self) -> None:
        """Cycles still `running` while we hold the lease belong to a process that died."""
        with self.store.session() as session:
            for row in session.exec(
                select(EvolutionRunRow).where(
                    col(EvolutionRunRow.status) == CycleStatus.RUNNING.value
                )
            ):
                row.status = CycleStatus.FAILED.value
                row.error = f"the process running it ({row.holder}) stopped before it finished"
                row.finished_at = utcnow()
                session.add(row)

    async def execute(self) -> CycleReport:
        self.open()
        return await self.run()

    async def run(self) -> CycleReport:
        assert self.id is not None and self.lease is not None, "call open() first"
        evo = self.settings.evolution
        profile = evo.profile or self.settings.fusion.default_profile
        budget = Budget(evo.max_cost_usd)
        report = CycleReport(
            id=self.id,
            status=CycleStatus.RUNNING.value,
            trigger=self.trigger,
            dry_run=self.dry_run,
            started_at=utcnow(),
            profile=profile,
            budget_usd=evo.max_cost_usd,
            settings=evo.model_dump(mode="json"),
        )
        thinker = Thinker(self.engine, profile, budget, max_tokens=evo.max_tokens)
        try:
            await self._work(report, thinker)
            report.status = CycleStatus.FINISHED.value
        except BudgetExhausted as exc:
            report.status, report.stopped_reason = CycleStatus.STOPPED.value, str(exc)
            for proposal in report.proposals:
                if proposal.status == "pending":
                    proposal.status, proposal.reason = "not_run", f"budget: {exc}"
        except asyncio.CancelledError:
            # The process is shutting down (the API's lifespan cancels its cycles): the report
            # says so and the lease is released below; published versions stay published.
            report.status = CycleStatus.STOPPED.value
            report.stopped_reason = "cancelled: the process running the cycle shut down"
            for proposal in report.proposals:
                if proposal.status == "pending":
                    proposal.status, proposal.reason = "not_run", "the cycle was cancelled"
            raise
        except _LeaseLost as exc:
            report.status, report.error = CycleStatus.FAILED.value, str(exc)
        except Exception as exc:
            # Recorded in the report (status failed) and logged with its traceback; the caller
            # gets the report, as for any other ending.
            logger.exception("evolution cycle %s failed", self.id)
            report.status = CycleStatus.FAILED.value
            report.error = self.scrubber.scrub(f"{type(exc).__name__}: {exc}")[:2000]
        finally:
            report.proposals.sort(key=lambda p: self._slots.get(id(p), len(self._slots)))
            report.finished_at = utcnow()
            report.cost_usd = round(budget.spent_usd, 6)
            report.unpriced_calls = budget.unpriced_calls
            report.prompt_versions = sorted(thinker.prompt_versions)
            save_cycle(
                self.store,
                self.id,
                status=report.status,
                report=report.model_dump(mode="json"),
                summary=report.summary(),
                cost_usd=report.cost_usd,
                error=report.error,
            )
            release_lease(self.store, self.lease)
        return report

    async def _work(self, report: CycleReport, thinker: Thinker) -> None:
        evo = self.settings.evolution
        assert self.id is not None
        publisher = Publisher(self.library, evo, self.id)
        self.progress("reviewing canaries", 0, 1)
        report.canaries = publisher.review(dry_run=self.dry_run, now=self.now)
        self.progress("gathering evidence", 0, 1)
        builder = EvidenceBuilder(
            self.store, evo, self.scrubber, self.now or utcnow(), self.settings.privacy
        )
        evidence = builder.build()
        extractor = Extractor(self.library, evo, builder)
        self.progress("clustering tasks without a skill", 0, 1)
        clusters = extractor.cluster(evidence.pool)
        extractor.match_library(clusters, evidence.skills)
        novel = [c for c in clusters if extractor.qualifies(c)]
        eligible = [s for s in evidence.skills if self._eligible(s) is None]
        total = len(novel) + len(eligible)
        gate = Gate(self.store, evo, self.scrubber, thinker)
        jobs: list[Job] = []

        for cluster in novel:

            async def extract_job(c: Cluster = cluster, slot: int = len(jobs)) -> None:
                placeholder = Proposal(
                    source="extractor", skill="(new)", action="create", status="error", reason=""
                )

                async def extract() -> Draft:
                    return await extractor.propose(thinker, c, evidence.pool_held_out)

                await self._attempt(
                    report,
                    placeholder,
                    extract,
                    gate,
                    publisher,
                    slot=slot,
                    sources=task_sources(c.tasks),
                )
                self._step_done("extracting new skills", total)

            jobs.append(extract_job)
        for cluster in clusters:
            outcome = (
                f"evidence for {cluster.matched[0]} (similarity {cluster.matched[1]:.2f})"
                if cluster.matched
                else "proposed"
                if cluster in novel
                else "too few tasks or users"
            )
            if cluster.matched or cluster in novel or len(cluster.tasks) > 1:
                report.clusters.append(extractor.summary(cluster, outcome))

        for skill in evidence.skills:
            if self._eligible(skill) is None:

                async def evolve_job(s: SkillEvidence = skill, slot: int = len(jobs)) -> None:
                    loaded = self.library.load_version(s.version_id)
                    current = loaded.bundle.skill_md.decode("utf-8")
                    base = tuple(f for f in loaded.bundle.files if f.path != SKILL_FILE)

                    async def evolve() -> Draft:
                        draft = await propose(thinker, s, current, evo, self.scrubber)
                        draft.replay_tasks = tuple(t.text for t in s.held_out)
                        return draft

                    placeholder = Proposal(
                        source="evolver",
                        skill=s.name,
                        action="skip",
                        status="error",
                        reason="",
                        base_version=s.version,
                    )
                    await self._attempt(
                        report, placeholder, evolve, gate, publisher, base, slot=slot
                    )
                    self._step_done("evolving skills", total)

                jobs.append(evolve_job)
            if skill.runs:
                report.evidence.append(self._summary(skill))
        # Skills are independent: their LLM calls overlap, `evolution.concurrency` at a time.
        self.progress("proposing, gating and publishing", 0, total)
        await _bounded(jobs, evo.concurrency)
        self.progress("done", total, total)

    def _step_done(self, what: str, total: int) -> None:
        self._done += 1
        self.progress(what, self._done, total)
        self._renew()

    def _eligible(self, skill: SkillEvidence) -> str | None:
        """None when the Evolver should look at this skill, else why not."""
        if skill.in_canary:
            return "a canary of a newer version is running; evolving waits for its decision"
        need = self.settings.evolution.min_distinct_users
        have = len(skill.supporters)
        if have < need:
            unit = SupportRules(self.settings.evolution).unit(skill.scope)
            return f"{have} distinct {unit} with a problem; the Evolver needs {need}"
        return None

    async def _attempt(
        self,
        report: CycleReport,
        placeholder: Proposal,
        make: Callable[[], Awaitable[Draft]],
        gate: Gate,
        publisher: Publisher,
        base: tuple[BundleFile, ...] = (),
        *,
        slot: int = 0,
        sources: list[Source] | None = None,
    ) -> None:
        """Propose, gate and publish one thing; a failed model call fails only this proposal."""
        proposal = placeholder
        try:
            draft = await make()
            proposal = draft.proposal
            self._slots[id(proposal)] = slot
            report.proposals.append(proposal)
            await self._finish(draft, gate, publisher, base, sources)
        except EvoFuseError as exc:
            if proposal is placeholder:
                self._slots[id(proposal)] = slot
                report.proposals.append(proposal)
            proposal.status = "error"
            proposal.reason = self.scrubber.scrub(f"{exc.message}")[:500]

    async def _finish(
        self,
        draft: Draft,
        gate: Gate,
        publisher: Publisher,
        base: tuple[BundleFile, ...] = (),
        sources: list[Source] | None = None,
    ) -> None:
        proposal = draft.proposal
        self._record_diff(draft)
        if proposal.status != "pending":
            return
        candidate = await gate.check(draft, base, sources)
        if proposal.status != "pending":
            return
        if self.dry_run:
            proposal.status, proposal.reason = "would_promote", "passed every check (dry run)"
            return
        await self._publish(draft, candidate, gate, publisher)

    async def _publish(
        self,
        draft: Draft,
        candidate: Candidate,
        gate: Gate,
        publisher: Publisher,
    ) -> None:
        """Publish a passed proposal, unless its base stopped being the active version.

        Then its change is re-applied to the version active now and gated again, or the
        proposal is dropped as a stale base. The library re-checks the base with the skill's
        row locked, so a change that lands between this check and the publication is seen too.
        """
        proposal = draft.proposal
        for _ in range(_PUBLISH_ATTEMPTS):
            evidence = draft.evidence
            if evidence is not None and proposal.base_version is not None:
                active = active_version(self.library, evidence.skill_id)
                if active.version != proposal.base_version:
                    rebased = rebase(draft, active, self.settings.evolution)
                    if isinstance(rebased, str):
                        proposal.status, proposal.reason = "dropped", rebased
                        return
                    draft = rebased
                    self._record_diff(draft)
                    candidate = await gate.check(draft, active.files)
                    if proposal.status != "pending":
                        return
            try:
                publisher.publish(proposal, candidate, draft.evidence, backing=draft.backing)
            except StaleVersionError:
                continue  # changed between the check and the publication: look again
            if proposal.rebased_from is not None and proposal.status == "promoted":
                proposal.reason += (
                    f" (re-applied to v{proposal.base_version}: v{proposal.rebased_from}, "
                    "which it was proposed for, stopped being active meanwhile)"
                )
            return
        proposal.status = "dropped"
        proposal.reason = f"{STALE_BASE}: the active version kept changing while publishing"

    def _record_diff(self, draft: Draft) -> None:
        """Keep the proposed change in the report, scrubbed and bounded like its other text."""
        if draft.candidate_md is None:
            return
        proposal = draft.proposal
        base = f"{proposal.skill} v{proposal.base_version}" if proposal.base_version else "new"
        diff = text_diff(
            draft.current_md or "", draft.candidate_md, old_label=base, new_label="proposed"
        )
        if len(diff) > _MAX_DIFF_CHARS:
            diff = diff[:_MAX_DIFF_CHARS] + "\n(diff truncated)\n"
        proposal.diff = self.scrubber.scrub(diff)

    def _renew(self) -> None:
        assert self.lease is not None
        if not renew_lease(self.store, self.lease, self._ttl):
            raise _LeaseLost(
                "the evolution lease expired and another process took it; this cycle stopped "
                "(raise evolution.lease_ttl_s if cycles take longer)"
            )

    def _summary(self, skill: SkillEvidence) -> EvidenceSummary:
        mean = skill.weighted_mean
        negative = [i.origin for i in skill.runs.values() if i.negative and i.origin]
        return EvidenceSummary(
            skill=skill.name,
            version=skill.version,
            runs=len(skill.runs),
            outcomes=skill.outcomes,
            users=len(skill.users),
            supporters=len(skill.supporters),
            support=SupportRules(self.settings.evolution).breakdown(skill.scope, negative),
            capped_runs=skill.capped,
            weighted_mean=None if mean is None else round(mean, 4),
            failures=skill.failures,
            comments=skill.comments,
            held_out_tasks=len(skill.held_out),
            items=[i.public() for i in skill.items],
            note=self._eligible(skill) or "sent to the Evolver",
        )


class _LeaseLost(Exception):
    pass


async def _bounded(jobs: list[Job], limit: int) -> None:
    """Run `jobs` with at most `limit` at once; the first exception cancels the rest."""
    semaphore = asyncio.Semaphore(limit)

    async def one(job: Job) -> None:
        async with semaphore:
            await job()

    tasks = [asyncio.create_task(one(job)) for job in jobs]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        # Wait for the cancelled ones to unwind before the caller records the outcome.
        await asyncio.gather(*tasks, return_exceptions=True)
