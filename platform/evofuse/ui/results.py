"""Benchmark results for the quality page, read from `ui.results_dir`.

`benchmarks/learning.py` writes `learning.json` (per policy and metric: [mean, 95 % half-width]
over seeds, with and without lying raters) and its PNG figures there; other benchmarks write
JSON there when asked (`--json-out`). Whatever is found is shown; nothing is required.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LEARNING_FILE = "learning.json"
SHOWN_SUFFIXES = (".png", ".json")
# The metrics of learning.json's summaries, in the order of the README's table.
LEARNING_METRICS = {
    "new_user_success": ("new user's success (first 10 runs)", "{:.3f}"),
    "mean_success": ("mean success", "{:.3f}"),
    "regret": ("cumulative regret", "{:.1f}"),
    "switch_runs": ("runs until the better version wins", "{:.0f}"),
    "switched": ("seeds where it switched", "{:.0%}"),
    "share_new_at_end": ("share of the new version at the end", "{:.2f}"),
}


@dataclass(frozen=True)
class ResultFile:
    name: str
    modified: datetime
    size: int

    @property
    def is_image(self) -> bool:
        return self.name.endswith(".png")


@dataclass(frozen=True)
class SummaryTable:
    label: str  # "honest raters", "5 % lying raters"
    metrics: list[str]  # column titles
    rows: list[tuple[str, list[str]]]  # policy, cells "mean ± half-width"


@dataclass
class Results:
    folder: Path
    files: list[ResultFile] = field(default_factory=list)
    learning: list[SummaryTable] = field(default_factory=list)
    learning_facts: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # a results file that could not be read, and why

    @property
    def empty(self) -> bool:
        return not self.files


def listed(folder: Path) -> list[ResultFile]:
    """The result files directly in `folder` (no subfolders), newest first."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if path.is_file() and path.suffix in SHOWN_SUFFIXES and not path.name.startswith("."):
            stat = path.stat()
            found.append(
                ResultFile(path.name, datetime.fromtimestamp(stat.st_mtime, UTC), stat.st_size)
            )
    return sorted(found, key=lambda f: (not f.is_image, f.name))


def load_results(folder: Path) -> Results:
    results = Results(folder, listed(folder))
    learning = folder / LEARNING_FILE
    if learning.is_file():
        try:
            document = json.loads(learning.read_text(encoding="utf-8"))
            results.learning = _learning_tables(document)
            results.learning_facts = {**document.get("config", {}), **document.get("facts", {})}
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            results.problem = f"{LEARNING_FILE} could not be read ({type(exc).__name__}: {exc})"
    return results


def _learning_tables(document: dict[str, Any]) -> list[SummaryTable]:
    tables = []
    liars = document.get("liar_share", document.get("config", {}).get("liars", 0.05))
    for part, label in (("honest", "honest raters"), ("liars", f"{liars:.0%} lying raters")):
        summary = document[part]["summary"]
        keys = [k for k in LEARNING_METRICS if all(k in s for s in summary.values())]
        rows = []
        for policy, metrics in summary.items():
            cells = []
            for key in keys:
                mean, half = metrics[key][0], metrics[key][1]
                shown = LEARNING_METRICS[key][1].format(mean)
                cells.append(shown if key == "switched" else f"{shown} ± {half:.3g}")
            rows.append((str(policy), cells))
        tables.append(SummaryTable(label, [LEARNING_METRICS[k][0] for k in keys], rows))
    return tables
