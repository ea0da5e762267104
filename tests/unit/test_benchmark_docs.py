"""benchmarks/README.md sends readers to README sections for each script's results: those
sections must exist, and every benchmark script must be listed (a section once went missing in
an edit while the index still pointed to it)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"


def _headings() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]


def test_every_results_pointer_names_a_readme_section() -> None:
    index = (BENCHMARKS / "README.md").read_text(encoding="utf-8")
    pointers = re.findall(r'README, "([^"]+)"', index)
    assert pointers, "benchmarks/README.md points to no README section"
    headings = _headings()
    missing = [p for p in pointers if not any(h.startswith(p) for h in headings)]
    assert not missing, f"README.md has no section starting with: {missing}"


def test_every_benchmark_script_is_described() -> None:
    index = (BENCHMARKS / "README.md").read_text(encoding="utf-8")
    scripts = sorted(p.name for p in BENCHMARKS.glob("*.py") if p.name != "bench_common.py")
    undescribed = [name for name in scripts if f"`{name}`" not in index]
    assert not undescribed, f"benchmarks/README.md does not describe: {undescribed}"
