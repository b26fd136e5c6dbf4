"""notices in the outbox (a delivery's purpose, subject and body); an alert's escalations

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("escalations", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("purpose", sa.String(length=16), server_default="alert", nullable=False)
        )
        batch_op.add_column(sa.Column("subject", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("body", sa.Text(), nullable=True))
        batch_op.drop_constraint("uq_delivery_alert_id_person_channel_round", type_="unique")
        batch_op.create_unique_constraint(
            "uq_delivery_alert_id_person_channel_purpose_round",
            ["alert_id", "person", "channel", "purpose", "round"],
        )


def downgrade() -> None:
    op.execute("DELETE FROM delivery WHERE purpose <> 'alert'")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_constraint("uq_delivery_alert_id_person_channel_purpose_round", type_="unique")
        batch_op.create_unique_constraint(
            "uq_delivery_alert_id_person_channel_round", ["alert_id", "person", "channel", "round"]
        )
        batch_op.drop_column("body")
        batch_op.drop_column("subject")
        batch_op.drop_column("purpose")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("escalations")
