"""the console's one-time submission value of each alert raised from it

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 15:40:00

The preview page's form carries a random value; the alert it raises keeps it, unique, so that
the same form sent twice (a double tap, a retry after a lost answer) raises one alert. Alerts
raised otherwise, and those raised before this upgrade, have none (NULL, which a unique
index does not compare).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A column and an index added in place: on SQLite, a unique constraint would make Alembic
    # copy the table, and dropping the old one would cascade to every alert's deliveries.
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submission", sa.String(length=32), nullable=True))
    op.create_index("ix_alert_submission", "alert", ["submission"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_alert_submission", table_name="alert")
    op.drop_column("alert", "submission")  # in place too (SQLite 3.35 and later)
