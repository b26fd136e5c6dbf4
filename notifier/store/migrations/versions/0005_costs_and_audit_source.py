"""each sent message's SMS segments and price; where each audited action came from

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 12:30:00

`segments` and `cost_micros` (millionths of the configured currency) are written when a
message is accepted by its provider, from the prices configured then, so a later change of
prices does not rewrite what was spent. Messages sent before this upgrade have neither and
are counted as unpriced. `audit_log.source` says where an action came from (the API
client's address, the command line and its user, the scheduler); older entries have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("segments", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cost_micros", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=200), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("source")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("cost_micros")
        batch_op.drop_column("segments")
