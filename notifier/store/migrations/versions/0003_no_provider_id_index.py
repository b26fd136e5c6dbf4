"""no index on delivery.provider_id: status callbacks find their delivery by its key

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:30:00

Keeping the index cost about a fifth of the dispatcher's own work per message (its keys are
random, so every commit of sent messages wrote as many scattered index pages). SMS status
callbacks now name the delivery in their URL (`?delivery=ID`); callbacks for messages sent
before this upgrade still match by provider id alone, by a scan.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_delivery_provider_id", table_name="delivery")


def downgrade() -> None:
    op.create_index("ix_delivery_provider_id", "delivery", ["provider_id"])
