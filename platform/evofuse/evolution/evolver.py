"""The Skill Evolver: one action per skill, from that skill's aggregated, anonymized evidence.

The LLM (the evolution profile, through the fusion engine) sees the current SKILL.md and the
chosen evidence items, and answers with exactly one of improve, redescribe, create, retire or
skip, a rationale citing evidence ids, and — for improve/redescribe — a small list of exact
edits. What comes back is checked here before the gate: the action is known, the cited ids
exist, the edits apply, the patch stays within bounds and is no context collapse. The answer is
asked for with a JSON schema whose `find` choices are the skill's own unique lines and whose
evidence ids are the prompt's (see `structured`), so even a small local model proposes an edit
that applies; the checks here still hold for providers that ignore the schema.
"""

from __future__ import annotations

from dataclasses import dataclass

from evofuse.config.models import EvolutionSettings
from evofuse.evolution.evidence import SkillEvidence
from evofuse.evolution.patch import (
    Edit,
    PatchError,
    added_text,
    apply_edits,
    check_bounds,
    measure,
    parse_edits,
)
from evofuse.evolution.pii import Scrubber
from evofuse.evolution.prompts import load_prompt
from evofuse.evolution.report import Action, Proposal
from evofuse.evolution.structured import (
    MAX_EDITS,
    data_block,
    evolver_schema,
    find_choices,
    quoted,
)
from evofuse.evolution.thinker import Thinker, UnparseableAnswer
from evofuse.skills.spec import parse_skill_md

ACTIONS: tuple[Action, ...] = ("improve", "redescribe", "create", "retire", "skip")


@dataclass
class Draft:
    """A proposal on its way through the gate, with what the gate needs beside the report."""

    proposal: Proposal
    evidence: SkillEvidence | None  # None for an extracted skill
    current_md: str | None  # the active SKILL.md (None: a new skill)
    candidate_md: str | None  # the proposed SKILL.md (None: retire)
    added: str = ""  # text the patch added (all of it, for a new skill)
    comments: tuple[str, ...] = ()  # raw feedback comments the LLM saw (verbatim guard)
    support: frozenset[str] = frozenset()  # supporters behind the cited evidence
    replay_tasks: tuple[str, ...] = ()  # held-out task texts (scrubbed)
    backing: tuple[tuple[str, str], ...] = ()  # (run id, supporter) of the cited evidence


def render_evidence(skill: SkillEvidence) -> str:
    """The evidence items; what users or models wrote is a JSON string on its item's line."""
    lines = []
    for item in skill.items:
        head = f"[{item.id}] user {item.supporter[:6]} · {item.kind}"
        if item.score is not None:
            head += f" · score {item.score:.2f}"
        if item.failed:
            head += " · FAILED"
        head += f" · weight {item.weight:.2f}"
        lines.append(head)
        if item.task:
            lines.append(f"  task: {quoted(item.task)}")
        for step in item.steps:
            lines.append(f"  step: {quoted(step)}")
        if item.comment:
            lines.append(f"  comment: {quoted(item.comment)}")
    return "\n".join(lines) or "(no items)"


def summary_line(skill: SkillEvidence) -> str:
    mean = skill.weighted_mean
    return (
        f"{len(skill.runs)} runs from {len(skill.users)} users, "
        f"{len(skill.supporters)} of them with a problem; "
        f"recency-weighted mean score {'n/a' if mean is None else f'{mean:.2f}'}; "
        f"{skill.failures} failed runs; {skill.comments} comments"
    )


async def propose(
    thinker: Thinker,
    skill: SkillEvidence,
    current_md: str,
    settings: EvolutionSettings,
    scrubber: Scrubber,
) -> Draft:
    """Ask for one action for `skill` and check it; the Draft's proposal says what happened."""
    template = load_prompt("evolver")
    prompt = template.render(
        name=skill.name,
        version=str(skill.version),
        skill_md=data_block("skill", current_md),
        summary=summary_line(skill),
        evidence=data_block("evidence", render_evidence(skill)),
        max_edits=str(MAX_EDITS),
        min_users=str(settings.min_distinct_users),
    )
    schema = evolver_schema(
        [i.id for i in skill.items],
        find_choices(current_md),
        min_cited=settings.min_distinct_users,
    )
    proposal = Proposal(
        source="evolver",
        skill=skill.name,
        action="skip",
        status="skipped",
        reason="",
        base_version=skill.version,
    )
    draft = Draft(proposal, skill, current_md, None)
    try:
        answer, proposal.cost_usd = await thinker.decide(
            prompt,
            what=f"evolving {skill.name}",
            prompt_id=template.id,
            schema=schema,
            schema_name="proposal",
        )
    except UnparseableAnswer as exc:
        proposal.cost_usd = exc.cost
        return _refuse(draft, f"unparseable proposal: {scrubber.scrub(str(exc))}")
    action = answer.get("action")
    if action not in ACTIONS:
        return _refuse(draft, f"unknown action {str(action)[:40]!r}; expected one of {ACTIONS}")
    proposal.action = action
    proposal.rationale = scrubber.scrub(str(answer.get("rationale", "")))[:2000]
    cited = answer.get("evidence")
    proposal.evidence = [str(e) for e in cited][:50] if isinstance(cited, list) else []
    items = skill.cited(proposal.evidence)
    draft.support = frozenset(i.supporter for i in items)
    draft.backing = tuple((i.run_id, i.supporter) for i in items)
    draft.comments = tuple(i.raw_comment for i in skill.items if i.raw_comment)
    proposal.supporters = len(draft.support)
    if action == "skip":
        proposal.reason = "the Evolver chose to skip"
        return draft
    if not items:
        return _refuse(draft, "the rationale cites no evidence id that exists")
    if action == "retire":
        proposal.status, proposal.reason = "pending", "waiting for the gate"
        return draft
    if action == "create":
        skill_md = answer.get("skill_md")
        if not isinstance(skill_md, str) or not skill_md.strip():
            return _refuse(draft, "a create proposal needs the new skill's skill_md")
        draft.candidate_md, draft.added = skill_md, skill_md
        spec, _ = parse_skill_md(skill_md.encode(), path="proposal")
        proposal.skill = spec.name if spec is not None else proposal.skill
        proposal.base_version = None
        proposal.status, proposal.reason = "pending", "waiting for the gate"
        return draft
    try:
        edits = _first_per_line(parse_edits(answer.get("edits")))
        candidate = apply_edits(current_md, edits)
        change = measure(current_md, candidate, len(edits))
        proposal.change = change
        check_bounds(
            change,
            max_change_ratio=settings.max_change_ratio,
            min_retained=settings.min_retained_ratio,
        )
    except PatchError as exc:
        return _refuse(draft, str(exc))
    if candidate == current_md:
        return _refuse(draft, "the edits change nothing")
    draft.candidate_md, draft.added = candidate, added_text(current_md, candidate)
    proposal.status, proposal.reason = "pending", "waiting for the gate"
    return draft


def _first_per_line(edits: list[Edit]) -> list[Edit]:
    """Drop an edit that targets the same `find` as an earlier one: once the first replaced
    that text it no longer occurs (small models repeat an edit rather than mean two)."""
    seen: set[str] = set()
    kept = []
    for edit in edits:
        if edit.find and edit.find in seen:
            continue
        seen.add(edit.find)
        kept.append(edit)
    return kept


def _refuse(draft: Draft, reason: str) -> Draft:
    draft.proposal.status = "refused"
    draft.proposal.reason = reason
    return draft
