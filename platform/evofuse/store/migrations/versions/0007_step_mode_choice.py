"""Steps record why mode `auto` chose their mode: a JSON `mode_choice` (None for fixed modes).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("run_steps", sa.Column("mode_choice", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("run_steps") as batch_op:
        batch_op.drop_column("mode_choice")
