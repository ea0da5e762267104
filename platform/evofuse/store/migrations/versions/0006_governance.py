"""Governance: the audit log of admin actions, and the runs that back each evolved version.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_action_at", ["action", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_tenant"), ["tenant"], unique=False)
    op.create_table(
        "skill_version_support",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=False),
        sa.Column("user_hash", sa.String(length=64), nullable=False),
        sa.Column("supporter", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["skill_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("skill_version_support", schema=None) as batch_op:
        batch_op.create_index(
            "ix_skill_version_support_user", ["tenant", "user_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_skill_version_support_run_id"), ["run_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_skill_version_support_version_id"), ["version_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("skill_version_support", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_skill_version_support_version_id"))
        batch_op.drop_index(batch_op.f("ix_skill_version_support_run_id"))
        batch_op.drop_index("ix_skill_version_support_user")
    op.drop_table("skill_version_support")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_tenant"))
        batch_op.drop_index("ix_audit_log_action_at")
    op.drop_table("audit_log")
