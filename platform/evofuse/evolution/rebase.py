"""Proposals whose base stopped being the active version before they were published.

Between the Evolver's proposal and its publication the skill may change: someone rolls it back,
imports a new version, or another replica acts on it. Publishing the proposal as it is would
silently undo that change. Instead the proposal's change (base → candidate) is re-applied to the
version that is active now, with a three-way merge by lines; the result goes through the gate
again. When the change no longer applies cleanly (both touched the same lines), the proposal is
dropped with the reason `stale base`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from difflib import SequenceMatcher

from evofuse.config.models import EvolutionSettings
from evofuse.evolution.evolver import Draft
from evofuse.evolution.patch import PatchError, added_text, check_bounds, measure
from evofuse.skills.bundle import BundleFile
from evofuse.skills.library import Library
from evofuse.skills.queries import load_version, version_of
from evofuse.skills.spec import SKILL_FILE
from evofuse.store import SkillRow

STALE_BASE = "stale base"


@dataclass(frozen=True)
class ActiveVersion:
    """The version a skill serves now (all None when it serves none)."""

    version: int | None
    version_id: int | None = None
    skill_md: str | None = None
    files: tuple[BundleFile, ...] = ()  # the bundle's other files


def active_version(library: Library, skill_id: int) -> ActiveVersion:
    """What `skill_id` serves now, read from SQL (the source of truth)."""
    with library.store.session() as session:
        skill = session.get(SkillRow, skill_id)
        if skill is None or skill.active_version is None:
            return ActiveVersion(None)
        loaded = load_version(session, skill, version_of(session, skill, skill.active_version))
    return ActiveVersion(
        version=loaded.info.version,
        version_id=loaded.info.id,
        skill_md=loaded.bundle.skill_md.decode("utf-8"),
        files=tuple(f for f in loaded.bundle.files if f.path != SKILL_FILE),
    )


def three_way(base: str, proposed: str, active: str) -> str | None:
    """`proposed`'s changes to `base`, applied to `active`; None when they conflict.

    A change applies when every line it replaces is still there, unchanged and in one piece, in
    `active`, and nothing was inserted or removed right where it inserts. (Hand-written: the
    maintained three-way merge package on PyPI is GPL, this project is Apache-2.0.)
    """
    base_lines = base.splitlines(keepends=True)
    active_lines = active.splitlines(keepends=True)
    proposed_lines = proposed.splitlines(keepends=True)
    # Where each base line that `active` kept sits in `active`.
    where: dict[int, int] = {}
    matcher = SequenceMatcher(None, base_lines, active_lines, autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            where[block.a + k] = block.b + k
    out: list[str] = []
    cursor = 0  # next line of `active` not yet copied to `out`
    ops = SequenceMatcher(None, base_lines, proposed_lines, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            continue
        if i1 < i2:  # replace or delete base[i1:i2]: those lines must be intact in `active`
            span = [where.get(k) for k in range(i1, i2)]
            if any(s is None for s in span):
                return None
            start = span[0]
            assert start is not None
            if span != list(range(start, start + len(span))):
                return None
            end = start + len(span)
            # Changed lines right next to ours in `active`: too close to merge with confidence.
            if i1 > 0 and where.get(i1 - 1) != start - 1:
                return None
            if i2 < len(base_lines) and where.get(i2) != end:
                return None
        else:  # insert before base[i1]: the lines around that point must still be neighbours
            before = where.get(i1 - 1) if i1 > 0 else -1
            after = where.get(i1) if i1 < len(base_lines) else len(active_lines)
            if before is None or after is None or after != before + 1:
                return None
            start = end = after
        if start < cursor:
            return None
        out.extend(active_lines[cursor:start])
        out.extend(proposed_lines[j1:j2])
        cursor = end
    out.extend(active_lines[cursor:])
    return "".join(out)


def rebase(draft: Draft, active: ActiveVersion, settings: EvolutionSettings) -> Draft | str:
    """The draft re-applied to `active`, or why it cannot be (a reason starting `stale base`)."""
    proposal = draft.proposal
    base = proposal.base_version
    assert draft.evidence is not None and base is not None, "only proposals on a version"
    if active.version is None or active.skill_md is None or active.version_id is None:
        return f"{STALE_BASE}: {proposal.skill} serves no version any more (v{base} was active)"
    now = f"v{active.version} is active now, the proposal was made for v{base}"
    if proposal.action == "retire" or draft.current_md is None or draft.candidate_md is None:
        return f"{STALE_BASE}: {now}"
    merged = three_way(draft.current_md, draft.candidate_md, active.skill_md)
    if merged is None:
        return f"{STALE_BASE}: {now}, and its edits no longer apply cleanly to it"
    if merged == active.skill_md:
        return f"{STALE_BASE}: {now}, which already contains this change"
    change = measure(active.skill_md, merged, proposal.change.edits if proposal.change else 1)
    try:
        check_bounds(
            change,
            max_change_ratio=settings.max_change_ratio,
            min_retained=settings.min_retained_ratio,
        )
    except PatchError as exc:
        return f"{STALE_BASE}: {now}; re-applied to it, {exc}"
    proposal.rebased_from = proposal.rebased_from or base
    proposal.base_version = active.version
    proposal.change = change
    evidence = dataclasses.replace(
        draft.evidence, version=active.version, version_id=active.version_id
    )
    return dataclasses.replace(
        draft,
        evidence=evidence,
        current_md=active.skill_md,
        candidate_md=merged,
        added=added_text(active.skill_md, merged),
    )
