"""The package's layering, read from the source with `ast`: ports below, the runtime above.

`evofuse.ports` holds the seams (SkillChooser, RunRecorder and the values crossing them). The
store, the skill library, fusion and the LLM gateway never import the runtime; the runtime never
imports the store or the skill library directly (the composition root, `evofuse.services`, wires
them). Imports under `if TYPE_CHECKING:` and inside functions count too: a layer is a layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "platform" / "evofuse"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def parse(source: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SystemError:
        # CPython 3.11 can raise a spurious "AST constructor recursion depth mismatch"
        # (python/cpython#106905; seen once in a full run, with earlier tests' threads alive).
        # It says nothing about the source, which parses on a second try.
        return ast.parse(source)


def imported_modules(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module `source` imports; `from a import b` also yields `a.b` (b may be a module)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def imports_of(folder_or_file: str) -> dict[str, set[str]]:
    target = PACKAGE / folder_or_file
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    assert files, f"nothing to check at {target}"
    return {
        module_name(f): imported_modules(
            f.read_text(encoding="utf-8"), module_name(f), is_package=f.name == "__init__.py"
        )
        for f in files
    }


def offenders(folder_or_file: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{module} imports {name}"
        for module, names in imports_of(folder_or_file).items()
        for name in sorted(names)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


@pytest.mark.parametrize("layer", ["store", "skills", "fusion", "llm", "telemetry"])
def test_lower_layers_never_import_the_runtime(layer: str) -> None:
    assert offenders(layer, ("evofuse.runtime", "evofuse.services")) == []


def test_the_runtime_imports_neither_the_store_nor_the_skill_library() -> None:
    # (It may ask the composition root, evofuse.services, for a default wiring when a host such
    # as LangGraph's own server runs a graph without one: that is where the adapters live.)
    assert offenders("runtime", ("evofuse.store", "evofuse.skills")) == []


def test_the_ports_module_is_a_leaf() -> None:
    forbidden = ("evofuse.runtime", "evofuse.store", "evofuse.skills", "evofuse.services")
    assert offenders("ports.py", forbidden) == []


def test_the_options_module_sits_below_fusion_llm_and_the_runtime() -> None:
    # FusionOptions crosses every layer of a run, so it may import none of them.
    forbidden = (
        "evofuse.runtime",
        "evofuse.fusion",
        "evofuse.llm",
        "evofuse.store",
        "evofuse.skills",
        "evofuse.services",
        "evofuse.api",
    )
    assert offenders("options.py", forbidden) == []


def test_the_checker_sees_every_form_of_import() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "import evofuse.runtime.nodes\n"
        "from evofuse import runtime\n"
        "from ..runtime.state import SkillChoice\n"
        "if TYPE_CHECKING:\n"
        "    from evofuse.runtime.context import EvoContext\n"
        "def later():\n"
        "    from . import recorder\n"
    )
    found = imported_modules(source, "evofuse.store.recorder")
    assert {
        "evofuse.runtime.nodes",
        "evofuse.runtime",
        "evofuse.runtime.state",
        "evofuse.runtime.context",
        "evofuse.store.recorder",
    } <= found
    # A package's own relative import resolves against the package itself.
    assert "evofuse.store.db" in imported_modules(
        "from .db import Store\n", "evofuse.store", is_package=True
    )
