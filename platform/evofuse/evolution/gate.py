"""The validation gate: a proposal is promoted only if every check passes; each result is recorded.

Cheap checks run first; the held-out replay (the expensive one, costing LLM calls) runs only when
all of them passed. A proposal's `gate` list holds every check that ran, passed or not, and its
`reason` names the first that failed. Support is counted as `support.py` says (tenants for a
global skill) and reported by tenant, key and user; the content checks of `injection.py` refuse
links, code, instructions and phrases carried over from what users wrote.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import col, select

from evofuse.config.models import EvolutionSettings
from evofuse.evolution.evidence import SkillEvidence, Task
from evofuse.evolution.evolver import Draft
from evofuse.evolution.injection import Source, content_checks
from evofuse.evolution.pii import Scrubber
from evofuse.evolution.replay import replay
from evofuse.evolution.report import Check
from evofuse.evolution.support import GLOBAL, SupportRules, load_origins
from evofuse.evolution.thinker import Thinker
from evofuse.skills.bundle import Bundle, BundleFile
from evofuse.skills.spec import NOT_FOR, SKILL_FILE, Severity, SkillSpec, parse_skill_md
from evofuse.store import SkillRow, SkillVersionRow, Store

_WORD = re.compile(r"\w+")


def evidence_sources(evidence: SkillEvidence) -> list[Source]:
    """What users wrote that the Evolver was shown: tasks, comments (raw too), step errors."""
    sources: list[Source] = []
    for item in evidence.items:
        texts = [item.task, item.comment, item.raw_comment, "\n".join(item.steps)]
        sources += [Source(item.id, item.supporter, t) for t in texts if t]
    return sources


def task_sources(tasks: Sequence[Task]) -> list[Source]:
    """What the Extractor was shown of a cluster (`t1`, `t2`, … as in its prompt)."""
    return [
        Source(f"t{i + 1}", t.supporter, text)
        for i, t in enumerate(tasks)
        for text in {t.raw, t.text}
        if text
    ]


@dataclass
class Candidate:
    """What the gate passed: the bundle to publish and its parsed SKILL.md."""

    bundle: Bundle | None  # None: retire
    spec: SkillSpec | None


def tools(spec: SkillSpec | None) -> set[str]:
    """`allowed-tools` as a set (the specification separates entries by spaces)."""
    if spec is None or not spec.allowed_tools:
        return set()
    return {t for t in re.split(r"[\s,]+", spec.allowed_tools) if t}


def shingles(text: str, size: int) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


class Gate:
    def __init__(
        self,
        store: Store,
        settings: EvolutionSettings,
        scrubber: Scrubber,
        thinker: Thinker,
    ) -> None:
        self.store, self.settings, self.scrubber, self.thinker = store, settings, scrubber, thinker
        self.rules = SupportRules(settings)

    async def check(
        self,
        draft: Draft,
        base_files: tuple[BundleFile, ...] = (),
        sources: Sequence[Source] | None = None,
    ) -> Candidate:
        """Run the checks; sets the proposal's gate, status ("pending" = passed) and reason.

        `sources`: the user-supplied texts the model was shown, when the draft has no skill
        evidence to take them from (the Extractor's cluster)."""
        proposal = draft.proposal
        if draft.evidence is not None:
            sources = evidence_sources(draft.evidence)
            run_ids = [i.run_id for i in draft.evidence.cited(proposal.evidence)]
            scope = draft.evidence.scope
        else:
            run_ids, scope = [run_id for run_id, _ in draft.backing], GLOBAL
        checks: list[Check] = []
        candidate = Candidate(None, None)
        current = _parse(draft.current_md)
        if draft.candidate_md is not None:
            candidate = self._static(draft, current, base_files, checks)
            if candidate.spec is not None:
                for check in content_checks(
                    draft.current_md or "",
                    draft.candidate_md,
                    sources or (),
                    min_supporters=self.settings.min_distinct_users,
                ):
                    # A detail quotes what it found: it is stored, so scrubbed like all text.
                    check.detail = self.scrubber.scrub(check.detail)
                    checks.append(check)
        checks.append(self._support(draft, run_ids, scope))
        proposal.gate = checks
        failed = next((c for c in checks if not c.passed), None)
        if failed is not None:
            proposal.status, proposal.reason = "rejected", f"{failed.name}: {failed.detail}"
            checks.append(Check(name="replay", passed=False, detail="not run: a check failed"))
            return candidate
        tasks = list(draft.replay_tasks)
        need = self.settings.replay_tasks
        if len(tasks) < need:
            detail = f"only {len(tasks)} held-out tasks recorded; the replay needs {need}"
            checks.append(Check(name="replay", passed=False, detail=detail))
            proposal.status, proposal.reason = "rejected", f"replay: {detail}"
            return candidate
        ids = [f"t{i + 1}" for i in range(need)]
        result, cost = await replay(
            self.thinker, list(zip(ids, tasks[:need], strict=True)), candidate.spec, current
        )
        proposal.cost_usd += cost
        proposal.replay = result
        margin = self.settings.margin
        passed = result.net >= margin and result.wins > 0
        detail = (
            f"{result.wins} won, {result.losses} lost, {result.ties} tied, {result.invalid} "
            f"invalid of {result.tasks} held-out tasks (order swapped): net {result.net:+.2f}, "
            f"needs {margin:+.2f}"
        )
        checks.append(Check(name="replay", passed=passed, detail=detail))
        if not passed:
            proposal.status, proposal.reason = "rejected", f"replay: {detail}"
        else:
            proposal.status, proposal.reason = "pending", "passed every check"
        return candidate

    # -- checks that need no model ---------------------------------------------------------

    def _static(
        self,
        draft: Draft,
        current: SkillSpec | None,
        base_files: tuple[BundleFile, ...],
        checks: list[Check],
    ) -> Candidate:
        assert draft.candidate_md is not None
        data = draft.candidate_md.encode("utf-8")
        spec, issues = parse_skill_md(data, path=SKILL_FILE)
        errors = [str(i) for i in issues if i.severity is Severity.ERROR]
        checks.append(
            Check(
                name="valid",
                passed=spec is not None,
                detail="valid SKILL.md" if spec is not None else "; ".join(errors)[:300],
            )
        )
        if spec is None:
            return Candidate(None, None)
        checks.append(self._name(draft, spec, current))
        size = len(data)
        limit = self.settings.max_skill_bytes
        checks.append(
            Check(
                name="size",
                passed=size <= limit,
                detail=f"{size} bytes (limit {limit})",
            )
        )
        widened = sorted(tools(spec) - tools(current))
        checks.append(
            Check(
                name="allowed_tools",
                passed=not widened,
                detail=f"adds allowed tools: {', '.join(widened)}" if widened else "not widened",
            )
        )
        kinds = self.scrubber.kinds(draft.candidate_md)
        checks.append(
            Check(
                name="pii",
                passed=not kinds,
                detail="none found"
                if not kinds
                else "contains " + ", ".join(f"{k} ({n})" for k, n in sorted(kinds.items())),
            )
        )
        checks.append(self._verbatim(draft))
        bundle = Bundle.of([*base_files, BundleFile(SKILL_FILE, data)])
        checks.append(self._new_content(draft, bundle))
        return Candidate(bundle, spec)

    def _name(self, draft: Draft, spec: SkillSpec, current: SkillSpec | None) -> Check:
        proposal = draft.proposal
        if proposal.action == "create":
            if not NOT_FOR.search(spec.description):
                return Check(
                    name="scope",
                    passed=False,
                    detail='a new skill\'s description needs a "NOT for:" clause',
                )
            with self.store.session() as session:
                taken = session.exec(select(SkillRow.id).where(SkillRow.name == spec.name)).first()
            if taken is not None:
                return Check(
                    name="scope", passed=False, detail=f"a skill named {spec.name} exists already"
                )
            return Check(name="scope", passed=True, detail=f"new skill {spec.name}")
        if current is None or spec.name != current.name:
            return Check(name="scope", passed=False, detail="the patch renames the skill")
        if proposal.action == "redescribe" and (
            spec.body != current.body or spec.steps != current.steps
        ):
            return Check(
                name="scope", passed=False, detail="a redescribe may change only the description"
            )
        return Check(name="scope", passed=True, detail=f"{proposal.action} {spec.name}")

    def _verbatim(self, draft: Draft) -> Check:
        """Added text must not copy user feedback: comments are data, never instructions."""
        size = self.settings.max_verbatim_words + 1
        added = shingles(draft.added, size)
        for comment in draft.comments:
            copied = added & shingles(comment, size)
            if copied:
                return Check(
                    name="verbatim_feedback",
                    passed=False,
                    detail=f"copies {size}+ consecutive words of a user comment into the skill",
                )
        return Check(
            name="verbatim_feedback",
            passed=True,
            detail=f"no run of {size} words from {len(draft.comments)} comments",
        )

    def _new_content(self, draft: Draft, bundle: Bundle) -> Check:
        evidence = draft.evidence
        if evidence is None or draft.proposal.action == "create":
            return Check(name="new_content", passed=True, detail="a new skill")
        with self.store.session() as session:
            rows = session.exec(
                select(SkillVersionRow.version, SkillVersionRow.content_hash).where(
                    col(SkillVersionRow.skill_id) == evidence.skill_id
                )
            ).all()
        same = [v for v, h in rows if h == bundle.content_hash]
        if same:
            return Check(
                name="new_content",
                passed=False,
                detail=f"identical to v{same[0]}; use `evofuse skills rollback` to restore it",
            )
        return Check(name="new_content", passed=True, detail="differs from every stored version")

    def _support(self, draft: Draft, run_ids: Sequence[str], scope: str) -> Check:
        need = self.settings.min_distinct_users
        proposal = draft.proposal
        origins = load_origins(self.store, run_ids)
        if not origins:  # nothing cited that the gate can trace: count what the model cited
            have = len(draft.support)
            return Check(
                name="support",
                passed=have >= need,
                detail=f"{have} distinct supporters behind the cited evidence (needs {need})",
            )
        support = self.rules.breakdown(scope, origins)
        proposal.support, proposal.supporters = support, support.distinct
        who = "; ".join(
            f"{t.tenant or '(no tenant)'}: {t.users} users, {t.keys} keys, {t.items} runs"
            for t in support.by_tenant[:5]
        )
        return Check(
            name="support",
            passed=support.distinct >= need,
            detail=f"{support.distinct} distinct {support.counted_as} behind the cited evidence "
            f"(needs {need}): {who}",
        )


def _parse(text: str | None) -> SkillSpec | None:
    if text is None:
        return None
    spec, _ = parse_skill_md(text.encode("utf-8"), path=SKILL_FILE)
    return spec
