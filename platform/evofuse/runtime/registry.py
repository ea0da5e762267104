"""The graph registry: `langgraph.json` in LangGraph's own format, loaded lazily by graph id.

    {"graphs": {"assistant": "./graphs/assistant.py:graph"}}

Paths are relative to the folder of `langgraph.json`; a `module.path:attr` form (no `.py`) is
imported from `sys.path` instead. Each target must be a compiled LangGraph graph.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from langgraph.pregel import Pregel

from evofuse.errors import GraphLoadError, UnknownGraphError, UserError


class GraphRegistry:
    """Graph ids → compiled graphs, imported on first use and cached."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(
                f"Graph registry not found: {self.path}",
                hint="Set `graphs:` in the config to your langgraph.json, "
                'e.g. {"graphs": {"assistant": "./graphs/assistant.py:graph"}}',
            )
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            graphs = data["graphs"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise UserError(
                f"{self.path}: not a LangGraph registry ({exc})",
                hint='Expected {"graphs": {"<id>": "./path/to/module.py:graph"}}',
            ) from None
        if not isinstance(graphs, dict) or not all(isinstance(v, str) for v in graphs.values()):
            raise UserError(f'{self.path}: "graphs" must map graph ids to "path.py:attribute"')
        self.specs: dict[str, str] = graphs
        self._loaded: dict[str, Pregel[Any, Any, Any, Any]] = {}

    @property
    def ids(self) -> list[str]:
        return sorted(self.specs)

    def get(self, graph_id: str) -> Pregel[Any, Any, Any, Any]:
        if graph_id not in self.specs:
            raise UnknownGraphError(
                f"Unknown graph {graph_id!r}",
                hint=f"Registered graphs in {self.path}: {', '.join(self.ids) or 'none'}",
            )
        if graph_id not in self._loaded:
            self._loaded[graph_id] = self._load(graph_id, self.specs[graph_id])
        return self._loaded[graph_id]

    def _load(self, graph_id: str, spec: str) -> Pregel[Any, Any, Any, Any]:
        target, _, attr = spec.rpartition(":")
        if not target or not attr:
            raise GraphLoadError(
                f"Graph {graph_id!r}: {spec!r} is not of the form path.py:attribute"
            )
        try:
            module = self._import(graph_id, target)
        except Exception as exc:
            raise GraphLoadError(
                f"Graph {graph_id!r}: importing {target} failed: {type(exc).__name__}: {exc}",
                hint="Run `python " + target + "` to see the full error.",
            ) from exc
        graph = getattr(module, attr, None)
        if graph is None:
            raise GraphLoadError(
                f"Graph {graph_id!r}: {target} has no attribute {attr!r}",
                hint="The module must export a compiled graph, e.g. graph = builder.compile()",
            )
        if not isinstance(graph, Pregel):
            raise GraphLoadError(
                f"Graph {graph_id!r}: {target}:{attr} is a {type(graph).__name__}, "
                "not a compiled LangGraph graph",
                hint="Export the result of StateGraph(...).compile(), not the builder.",
            )
        return graph

    def _import(self, graph_id: str, target: str) -> Any:
        if not target.endswith(".py"):
            return importlib.import_module(target)
        file = (self.path.parent / target).resolve()
        if not file.is_file():
            raise FileNotFoundError(f"{file} does not exist")
        name = f"evofuse_graph_{graph_id}"
        module_spec = importlib.util.spec_from_file_location(name, file)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        try:
            module_spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
