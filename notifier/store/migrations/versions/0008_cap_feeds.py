"""CAP feeds: the validators and failures of each feed polled, and the entries dealt with

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 17:00:00

Downgrading drops both tables: the feeds are then read again from the start, and what they
still list is imported again (a message imported before, by its sender and identifier, makes
no second draft as long as `cap_import` remembers it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cap_feed",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cap_feed")),
        sa.UniqueConstraint("key", name=op.f("uq_cap_feed_key")),
    )
    op.create_table(
        "cap_feed_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["cap_feed.id"],
            name=op.f("fk_cap_feed_entry_feed_id_cap_feed"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alert.id"],
            name=op.f("fk_cap_feed_entry_alert_id_alert"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cap_feed_entry")),
        sa.UniqueConstraint("feed_id", "key", name=op.f("uq_cap_feed_entry_feed_id_key")),
    )


def downgrade() -> None:
    op.drop_table("cap_feed_entry")
    op.drop_table("cap_feed")
