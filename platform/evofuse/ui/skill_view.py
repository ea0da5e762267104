"""What the skill page shows beside the versions: lineage, canaries with live numbers, a diff."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from evofuse.config.models import EvolutionSettings
from evofuse.evolution.report import CanaryDecision
from evofuse.skills.diff import bundle_diff
from evofuse.skills.library import Library
from evofuse.skills.models import Context, VersionStats
from evofuse.store import Scope
from evofuse.store.evolution import CanaryRow, CanaryStatus, canaries_of
from evofuse.ui.diffview import DiffLine, diff_lines


@dataclass
class Node:
    """One version in the lineage tree, with the versions derived from it."""

    version: VersionStats
    cycle: int | None  # the evolution cycle that made it
    children: list[Node] = field(default_factory=list)


def lineage(versions: Sequence[VersionStats], canaries: Sequence[CanaryRow]) -> list[Node]:
    """Versions as a forest: each hangs under its parent (a seed or import is a root)."""
    cycles = {c.version_id: c.cycle_id for c in canaries}
    nodes = {v.version: Node(v, cycles.get(v.id)) for v in versions}
    roots = []
    for node in nodes.values():
        parent = node.version.parent_version
        if parent is not None and parent != node.version.version and parent in nodes:
            nodes[parent].children.append(node)
        else:
            roots.append(node)
    return roots


@dataclass(frozen=True)
class CanaryView:
    row: CanaryRow
    live: CanaryDecision | None  # what the next cycle's review would decide now (open ones)


def canary_views(
    library: Library, evolution: EvolutionSettings, version_ids: list[int]
) -> list[CanaryView]:
    """Every canary and watch of these versions; open ones with their live numbers, computed
    by the same review a cycle runs (as a dry run: nothing changes)."""
    from evofuse.evolution.canary import Publisher  # the gate's imports: only when needed

    rows = canaries_of(library.store, version_ids)
    open_ids = {r.version_id for r in rows if r.status == CanaryStatus.OPEN.value}
    live: dict[tuple[str, int], CanaryDecision] = {}
    if open_ids:
        # cycle_id is only used when publishing, which a review never does.
        reviewer = Publisher(library, evolution, cycle_id=0)
        decisions = reviewer.review(dry_run=True, version_ids=open_ids)
        live = {(d.skill, d.version): d for d in decisions}
    return [CanaryView(r, live.get((r.skill_name, r.version))) for r in rows]


@dataclass(frozen=True)
class DiffView:
    old: int
    new: int
    lines: list[DiffLine]


def version_diff(
    library: Library,
    name: str,
    context: Context,
    scope: Scope,
    versions: Sequence[VersionStats],
    old: int | None,
    new: int | None,
) -> DiffView | None:
    """The diff between two versions (default: the active one against its parent)."""
    by_number = {v.version: v for v in versions}
    if len(by_number) < 2:
        return None
    active = next((v for v in versions if v.status == "active"), versions[-1])
    new = new if new in by_number else active.version
    if old not in by_number:
        parent = by_number[new].parent_version
        earlier = [n for n in by_number if n < new] or [n for n in by_number if n != new]
        old = parent if parent in by_number and parent != new else max(earlier)
    assert old is not None
    before = library.load(name, context=context, version=old, scope=scope).bundle
    after = library.load(name, context=context, version=new, scope=scope).bundle
    text = bundle_diff(before, after, old_label=f"v{old}", new_label=f"v{new}")
    return DiffView(old, new, diff_lines(text))
