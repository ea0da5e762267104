"""API keys get an `operator` flag: platform-wide powers, apart from a tenant's admin.

An admin key acts for its own tenant (forget its users, read its audit entries, roll back its
skills); an operator key also acts for other tenants, runs evolution and rolls back global
skills. Keys that were admins before this revision could already do all of that, so they
become operators: nobody loses access on upgrade, and new `--admin` keys are tenant-scoped.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column("operator", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(sa.text("UPDATE api_keys SET operator = admin"))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_column("operator")
