"""a claim reads as many queued deliveries as it leases

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:00:00

The index of queued deliveries ends with the delivery's id, the last key of a claim's order,
so a claim reads as many entries as it leases instead of sorting every delivery due at the
same moment (a batch of the outbox is written with one time: 1,000 deliveries and more).
Downgrading puts the index back as it was; nothing else changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

QUEUED = sa.text("status = 'queued'")


def upgrade() -> None:
    _due_index(["channel", "priority", "next_attempt_at", "id"])


def downgrade() -> None:
    _due_index(["channel", "priority", "next_attempt_at"])


def _due_index(columns: list[str]) -> None:
    op.drop_index("ix_delivery_due", table_name="delivery")
    op.create_index(
        "ix_delivery_due", "delivery", columns, postgresql_where=QUEUED, sqlite_where=QUEUED
    )
