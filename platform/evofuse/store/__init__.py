"""SQL storage: the engine, sessions, SQLModel tables and alembic migrations.

This is the only package that opens SQL sessions; others call `Store.session()`.
"""

from evofuse.store.db import Store, make_engine
from evofuse.store.migrate import migrate
from evofuse.store.outcomes import OutcomeRow, OutcomeSource, record_outcome
from evofuse.store.skills import (
    Origin,
    Scope,
    SkillFileRow,
    SkillRow,
    SkillVersionRow,
    Status,
    utcnow,
)

__all__ = [
    "Origin",
    "OutcomeRow",
    "OutcomeSource",
    "Scope",
    "SkillFileRow",
    "SkillRow",
    "SkillVersionRow",
    "Status",
    "Store",
    "make_engine",
    "migrate",
    "record_outcome",
    "utcnow",
]
