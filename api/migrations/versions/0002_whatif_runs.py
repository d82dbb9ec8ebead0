"""what-if runs: a parent record over the solve jobs of a base and its variants

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "whatif_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("children", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("whatif_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_whatif_runs_tenant"), ["tenant"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("whatif_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_whatif_runs_tenant"))
    op.drop_table("whatif_runs")
