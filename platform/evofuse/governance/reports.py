"""Forgetting inside stored evolution reports: a cycle report lists evidence items (run ids,
short pseudonym prefixes, scrubbed tasks and comments) and a few scrubbed sample tasks of each
cluster. A forgotten user's items and samples are taken out; the counts stay as they were."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import select

from evofuse.store import Store
from evofuse.store.evolution import EvolutionRunRow

_ELLIPSIS = " …"
_CUT = 1500  # as `EvidenceBuilder.scrub`


def forget_in_reports(store: Store, run_ids: set[str], tasks: Sequence[str]) -> int:
    """Remove the items of `run_ids` and samples taken from `tasks`; returns how many."""
    if not run_ids:
        return 0
    removed = 0
    scrubbed: list[str] | None = None
    with store.session() as session:
        for row in session.exec(select(EvolutionRunRow)).all():
            report: dict[str, Any] = copy.deepcopy(row.report or {})
            changed = False
            for evidence in report.get("evidence") or []:
                items = evidence.get("items") or []
                kept = [i for i in items if i.get("run_id") not in run_ids]
                if len(kept) != len(items):
                    removed += len(items) - len(kept)
                    evidence["items"], changed = kept, True
            for cluster in report.get("clusters") or []:
                samples = cluster.get("sample") or []
                if not samples or not tasks:
                    continue
                if scrubbed is None:
                    scrubbed = _scrubbed(tasks)
                kept_samples = [s for s in samples if not _taken_from(s, scrubbed)]
                if len(kept_samples) != len(samples):
                    removed += len(samples) - len(kept_samples)
                    cluster["sample"], changed = kept_samples, True
            if changed:
                row.report = report
                flag_modified(row, "report")  # a JSON column's inner changes go unnoticed
                session.add(row)
    return removed


def _scrubbed(tasks: Sequence[str]) -> list[str]:
    """The tasks as reports show them: scrubbed the way evidence scrubs them."""
    from evofuse.evolution.pii import default_scrubber

    scrubber = default_scrubber()
    out = []
    for task in tasks:
        if len(task) > _CUT:  # evidence cuts long tasks at a space before scrubbing them
            cut = task.rfind(" ", 0, _CUT)
            task = task[: cut if cut > 0 else _CUT]
        out.append(scrubber.scrub(task))
    return out


def _taken_from(sample: str, scrubbed: list[str]) -> bool:
    # Reports cut a task after scrubbing (and mark the cut), so a sample is a prefix of it.
    core = sample.removesuffix(_ELLIPSIS).rstrip()
    return bool(core) and any(text.startswith(core) for text in scrubbed)
