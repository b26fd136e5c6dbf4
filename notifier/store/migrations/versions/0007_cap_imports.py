"""CAP messages imported from outside, each remembered with the draft alert it made

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 14:20:00

A draft is an alert of status `draft`: statuses are short strings, so it needs no change to
the `alert` table. Downgrading drops the record of imports; drafts stay, as alerts that are
never sent until an officer sends them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cap_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("sender", sa.Text(), nullable=False),
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.Column("sent", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alert.id"],
            name=op.f("fk_cap_import_alert_id_alert"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cap_import")),
        sa.UniqueConstraint("key", name=op.f("uq_cap_import_key")),
    )


def downgrade() -> None:
    op.drop_table("cap_import")
