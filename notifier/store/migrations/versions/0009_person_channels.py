"""Each person's channels, as the roster's optional `channels` column gives them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 17:00:00

Everyone known before has none: SMS and e-mail, as before. Downgrading drops the column, and
with it the people's choices (WhatsApp among them): they are reached by SMS and e-mail again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("person") as batch_op:
        batch_op.add_column(
            sa.Column("channels", sa.String(length=64), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("person") as batch_op:
        batch_op.drop_column("channels")
