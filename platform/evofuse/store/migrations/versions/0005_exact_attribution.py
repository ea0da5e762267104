"""Exact attribution: runs record the skill version row they used and the API key that sent them.

Existing runs get `skill_version_id` from their skill name and version number, resolved the way
the Selector sees skills (the run's user's own skill, else its tenant's, else the global one).
Outcomes that the old name-and-number lookup credited to another scope's version are moved to
the version their run used.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The most specific visible skill wins: user scope, then tenant scope, then global.
_BACKFILL_RUNS = """
UPDATE runs SET skill_version_id = (
    SELECT v.id FROM skill_versions v JOIN skills s ON s.id = v.skill_id
    WHERE s.name = runs.skill_name AND v.version = runs.skill_version
      AND (s.scope = 'global'
           OR (s.scope = 'tenant' AND s.tenant = runs.tenant)
           OR (s.scope = 'user' AND s.tenant = runs.tenant AND s.owner = runs.user_hash))
    ORDER BY CASE s.scope WHEN 'user' THEN 0 WHEN 'tenant' THEN 1 ELSE 2 END, v.id
    LIMIT 1)
WHERE skill_name IS NOT NULL AND skill_version IS NOT NULL
"""

_REATTRIBUTE_OUTCOMES = """
UPDATE outcomes SET skill_version_id = (
    SELECT r.skill_version_id FROM runs r WHERE r.id = outcomes.run_id)
WHERE EXISTS (
    SELECT 1 FROM runs r WHERE r.id = outcomes.run_id
      AND r.skill_version_id IS NOT NULL AND r.skill_version_id <> outcomes.skill_version_id)
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a nullable column with a REFERENCES clause in place; a batch rebuild of
        # `runs` would have to drop a table that steps and feedback point to.
        op.execute(
            "ALTER TABLE runs ADD COLUMN skill_version_id INTEGER REFERENCES skill_versions (id)"
        )
    else:
        op.add_column("runs", sa.Column("skill_version_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "runs_skill_version_id_fkey", "runs", "skill_versions", ["skill_version_id"], ["id"]
        )
    op.add_column("runs", sa.Column("api_key_id", sa.String(length=32), nullable=True))
    op.create_index("ix_runs_skill_version", "runs", ["skill_version_id"], unique=False)
    op.execute(_BACKFILL_RUNS)
    op.execute(_REATTRIBUTE_OUTCOMES)


def downgrade() -> None:
    op.drop_index("ix_runs_skill_version", table_name="runs")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("api_key_id")
        batch_op.drop_column("skill_version_id")
