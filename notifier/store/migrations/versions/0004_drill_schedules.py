"""drill schedules for several stations in one time zone; drill firings; a change counter

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 08:00:00

The `drill` table of 0001 held one station's drill and was never written by this version's
predecessors; a row it may hold keeps its station as its only one, in that station's zone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite rebuilds `drill` by dropping it, which the alerts naming a drill would forbid:
    # they let go of it meanwhile, and take it back after.
    bind = op.get_bind()
    links = bind.execute(sa.text("SELECT id, drill_id FROM alert WHERE drill_id IS NOT NULL"))
    kept = [{"alert": alert_id, "drill": drill_id} for alert_id, drill_id in links]
    op.execute("UPDATE alert SET drill_id = NULL")
    with op.batch_alter_table("drill", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stations", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("paused", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("created_by", sa.String(length=100), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("missed", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("last_alert_id", sa.Integer(), nullable=True))
    _carry_over_drills(kept)
    with op.batch_alter_table("drill", schema=None) as batch_op:
        batch_op.alter_column("stations", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("timezone", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column(
            "updated_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.alter_column("title", existing_type=sa.String(length=200), nullable=True)
        batch_op.alter_column("message", existing_type=sa.Text(), nullable=True)
        batch_op.alter_column("created_by", server_default=None)
        batch_op.alter_column("paused", server_default=None)
        batch_op.drop_constraint("fk_drill_station_code_station", type_="foreignkey")
        batch_op.drop_column("station_code")
        batch_op.drop_column("enabled")
        batch_op.drop_column("last_run_at")
    if kept:
        bind.execute(sa.text("UPDATE alert SET drill_id = :drill WHERE id = :alert"), kept)
    op.create_table(
        "drill_firing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drill_id", sa.Integer(), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("missed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alert.id"], name=op.f("fk_drill_firing_alert_id_alert")
        ),
        sa.ForeignKeyConstraint(
            ["drill_id"],
            ["drill.id"],
            name=op.f("fk_drill_firing_drill_id_drill"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drill_firing")),
        sa.UniqueConstraint(
            "drill_id", "scheduled_at", name=op.f("uq_drill_firing_drill_id_scheduled_at")
        ),
    )
    version = op.create_table(
        "drill_schedule_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drill_schedule_version")),
    )
    op.execute(version.insert().values(id=1, version=0, changed_at=sa.func.current_timestamp()))


def _carry_over_drills(links: list[dict[str, int]]) -> None:
    """A drill of 0001 keeps its station, in that station's zone, paused if it was disabled."""
    drill = sa.table(
        "drill",
        sa.column("id", sa.Integer()),
        sa.column("stations", sa.JSON()),
        sa.column("timezone", sa.String()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT drill.id, drill.station_code, station.timezone FROM drill"
            " JOIN station ON station.code = drill.station_code"
        )
    ).all()
    for drill_id, code, zone in rows:
        bind.execute(
            drill.update().where(drill.c.id == drill_id).values(stations=[code], timezone=zone)
        )
    op.execute("UPDATE drill SET paused = NOT enabled, updated_at = created_at")
    for link in sorted(links, key=lambda link: link["alert"]):
        bind.execute(sa.text("UPDATE drill SET last_alert_id = :alert WHERE id = :drill"), link)


def downgrade() -> None:
    """Back to one station a drill: the schedules cannot be told that way, and are removed."""
    op.drop_table("drill_schedule_version")
    op.drop_table("drill_firing")
    op.execute("UPDATE alert SET drill_id = NULL")
    op.execute("DELETE FROM drill")
    with op.batch_alter_table("drill", schema=None) as batch_op:
        batch_op.add_column(sa.Column("station_code", sa.String(length=8), nullable=False))
        batch_op.add_column(sa.Column("enabled", sa.Boolean(), nullable=False))
        batch_op.add_column(sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column("title", existing_type=sa.String(length=200), nullable=False)
        batch_op.alter_column("message", existing_type=sa.Text(), nullable=False)
        batch_op.create_foreign_key(
            "fk_drill_station_code_station", "station", ["station_code"], ["code"]
        )
        batch_op.drop_column("last_alert_id")
        batch_op.drop_column("missed")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("created_by")
        batch_op.drop_column("paused")
        batch_op.drop_column("timezone")
        batch_op.drop_column("stations")
