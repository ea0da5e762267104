"""Skill library (skills, versions, files) and the outcomes the Selector reads.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "skills",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("active_version", sa.Integer(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.CheckConstraint("scope IN ('global', 'tenant', 'user')", name="ck_skills_scope"),
        sa.UniqueConstraint("name", "scope", "tenant", "owner", name="uq_skills_identity"),
    )
    op.create_index("ix_skills_name", "skills", ["name"])

    op.create_table(
        "skill_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("skill_id", sa.Integer(), sa.ForeignKey("skills.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(80), nullable=False),
        sa.Column("parent_version", sa.Integer(), nullable=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("issues", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        _timestamp("created_at"),
        sa.CheckConstraint(
            "origin IN ('seed', 'import', 'evolution', 'manual')", name="ck_skill_versions_origin"
        ),
        sa.CheckConstraint(
            "status IN ('active', 'candidate', 'retired')", name="ck_skill_versions_status"
        ),
        sa.UniqueConstraint("skill_id", "version", name="uq_skill_versions_number"),
    )
    op.create_index("ix_skill_versions_skill_id", "skill_versions", ["skill_id"])
    op.create_index("ix_skill_versions_content_hash", "skill_versions", ["content_hash"])

    op.create_table(
        "skill_files",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("skill_versions.id"), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("executable", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("version_id", "path", name="uq_skill_files_path"),
    )
    op.create_index("ix_skill_files_version_id", "skill_files", ["version_id"])

    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column(
            "skill_version_id", sa.Integer(), sa.ForeignKey("skill_versions.id"), nullable=False
        ),
        sa.Column("skill_name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(128), nullable=False),
        sa.Column("user_hash", sa.String(64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        _timestamp("created_at"),
        sa.CheckConstraint("score >= 0 AND score <= 1", name="ck_outcomes_score"),
        sa.CheckConstraint("source IN ('judge', 'feedback')", name="ck_outcomes_source"),
    )
    op.create_index("ix_outcomes_run_id", "outcomes", ["run_id"])
    op.create_index(
        "ix_outcomes_version_tenant_user", "outcomes", ["skill_version_id", "tenant", "user_hash"]
    )


def downgrade() -> None:
    op.drop_table("outcomes")
    op.drop_table("skill_files")
    op.drop_table("skill_versions")
    op.drop_table("skills")
