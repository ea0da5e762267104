"""Plain row values for Core inserts, with the defaults the table models declare.

The ORM builds an instance per row and tracks it in a unit of work. For the few rows every run
writes (the run, its steps, their candidates and verdicts) that bookkeeping costs about twice
the SQL itself: a run row took 0.79 ms of CPU through the ORM and 0.24 ms as one Core
`INSERT` on SQLite (1.2 vs 0.5 ms on PostgreSQL). The run recorder writes those rows as dicts;
this fills in what the model would have, so the table models stay the one statement of the
schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic_core import PydanticUndefined
from sqlalchemy import Table
from sqlmodel import SQLModel


class Rows:
    """Complete row values for one table model: `Rows(StepRow).values(run_id=..., ...)`."""

    def __init__(self, model: type[SQLModel]) -> None:
        self.model = model
        self.table: Table = model.__table__  # type: ignore[attr-defined]
        primary = {c.name for c in self.table.primary_key.columns}
        self._names = frozenset(model.model_fields)
        self._static: dict[str, Any] = {}
        self._factories: dict[str, Callable[[], Any]] = {}
        for name, field in model.model_fields.items():
            if field.default_factory is not None:
                self._factories[name] = field.default_factory  # type: ignore[assignment]
            elif field.default is not PydanticUndefined and not (
                name in primary and field.default is None  # the database numbers it
            ):
                self._static[name] = field.default

    def values(self, **given: Any) -> dict[str, Any]:
        """The given columns plus every default the model declares; unknown names raise."""
        unknown = given.keys() - self._names
        if unknown:
            raise TypeError(f"{self.model.__name__} has no column {sorted(unknown)}")
        row = dict(self._static)
        for name, factory in self._factories.items():
            if name not in given:
                row[name] = factory()
        row.update(given)
        return row
