"""The tables, designed for the whole flow of an alert: roster, outbox, replies, audit, drills.

Enumerated columns hold the values of the enums in `notifier.domain` as short strings, so a
new value needs no schema change. Timestamps are aware UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from notifier.store.types import BigId, UTCDateTime, utc_now

metadata = SQLModel.metadata
metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _created() -> Any:
    return Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)


def _moment() -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True)


class Station(SQLModel, table=True):
    """A duty station: its roster is the unit an alert targets."""

    __tablename__ = "station"

    code: str = Field(primary_key=True, max_length=8)
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    timezone: str = Field(max_length=64)
    latitude: float | None = None
    longitude: float | None = None
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Person(SQLModel, table=True):
    """A member of staff on a station's roster."""

    __tablename__ = "person"
    __table_args__ = (
        Index("ix_person_station_active", "station_code", "active"),
        Index("ix_person_phone", "phone"),
        Index("ix_person_email", "email"),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=20)
    station_code: str = Field(foreign_key="station.code", max_length=8)
    language: str = Field(default="en", max_length=2)
    active: bool = True
    sms_opted_out: bool = False
    channels: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    """The person's channels from the roster, in their order, separated by commas
    (`whatsapp,email`); empty: SMS and e-mail, as for everyone before the column existed."""
    created_at: datetime = _created()
    updated_at: datetime = _created()


class PersonGroup(SQLModel, table=True):
    """A person's membership of a named group (wardens, security focal points, …)."""

    __tablename__ = "person_group"
    __table_args__ = (Index("ix_person_group_name", "name"),)

    person: int = Field(
        sa_column=Column(ForeignKey("person.id", ondelete="CASCADE"), primary_key=True)
    )
    name: str = Field(primary_key=True, max_length=64)


class ApiToken(SQLModel, table=True):
    """A bearer token for the HTTP API; only its SHA-256 digest is kept."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    token_hash: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=16)
    stations: list[str] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = _created()
    last_used_at: datetime | None = _moment()
    revoked_at: datetime | None = _moment()


class DrillSchedule(SQLModel, table=True):
    """A recurring drill of one or more stations: a crontab expression in one time zone.

    `last_alert_id` names the alert of its latest run (no foreign key: `alert.drill_id` points
    the other way); `missed` counts firings that passed while no scheduler ran.
    """

    __tablename__ = "drill"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    stations: list[str] = Field(default_factory=list, sa_type=JSON)
    groups: list[str] = Field(default_factory=list, sa_type=JSON)
    channels: list[str] = Field(default_factory=list, sa_type=JSON)
    cron: str = Field(max_length=100)
    timezone: str = Field(max_length=64)
    title: str | None = Field(default=None, max_length=200)
    message: str | None = Field(default=None, sa_type=Text)
    paused: bool = False
    created_at: datetime = _created()
    created_by: str = Field(max_length=100)
    updated_at: datetime = _created()
    missed: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_alert_id: int | None = None


class DrillFiring(SQLModel, table=True):
    """One firing of a drill schedule, inserted with its alert: at most one per scheduled time."""

    __tablename__ = "drill_firing"
    __table_args__ = (UniqueConstraint("drill_id", "scheduled_at"),)

    id: int | None = Field(default=None, primary_key=True)
    drill_id: int = Field(
        sa_column=Column(ForeignKey("drill.id", ondelete="CASCADE"), nullable=False)
    )
    scheduled_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    alert_id: int | None = Field(default=None, foreign_key="alert.id")
    fired_at: datetime | None = _moment()
    missed: bool = False


class DrillScheduleVersion(SQLModel, table=True):
    """One row whose `version` grows with every change to the drill schedules: polled to reload."""

    __tablename__ = "drill_schedule_version"

    id: int = Field(default=1, primary_key=True)
    version: int = 0
    changed_at: datetime = _created()


class Alert(SQLModel, table=True):
    """An alert raised by an officer or a drill; durable from the moment intake commits it."""

    __tablename__ = "alert"
    __table_args__ = (
        Index("ix_alert_status_created", "status", "created_at"),
        UniqueConstraint("code"),
        Index("ix_alert_submission", "submission", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=8)
    kind: str = Field(max_length=16)
    severity: str = Field(max_length=16)
    title: str = Field(max_length=200)
    message: str = Field(sa_type=Text)
    messages: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    audience: dict[str, list[str]] = Field(default_factory=dict, sa_type=JSON)
    channels: list[str] = Field(default_factory=list, sa_type=JSON)
    status: str = Field(max_length=16)
    priority: int = 0
    created_by: str = Field(max_length=100)
    drill_id: int | None = Field(default=None, foreign_key="drill.id")
    recipients: int = 0
    materialise_cursor: int = 0
    skipped_inactive: int = 0
    skipped_opted_out: int = 0
    escalations: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    submission: str | None = Field(default=None, max_length=32)
    created_at: datetime = _created()
    materialised_at: datetime | None = _moment()
    dispatched_at: datetime | None = _moment()
    escalate_at: datetime | None = _moment()
    cancelled_at: datetime | None = _moment()
    closed_at: datetime | None = _moment()


class Recipient(SQLModel, table=True):
    """One person an alert reaches, once, whatever the stations and groups that named them."""

    __tablename__ = "recipient"
    __table_args__ = (Index("ix_recipient_alert_response", "alert_id", "response"),)

    alert_id: int = Field(
        sa_column=Column(ForeignKey("alert.id", ondelete="CASCADE"), primary_key=True)
    )
    person: int = Field(sa_column=Column(ForeignKey("person.id"), primary_key=True))
    station_code: str = Field(max_length=8)
    response: str | None = Field(default=None, max_length=16)
    first_response_at: datetime | None = _moment()
    last_response_at: datetime | None = _moment()
    escalations: int = 0
    last_escalated_at: datetime | None = _moment()


class Delivery(SQLModel, table=True):
    """One message to one person on one channel: the outbox row the dispatcher claims.

    `purpose` says what it carries: the alert itself (rendered when sent; `round` 0 first,
    then one per escalation), or a notice about the alert whose words are in `subject` and
    `body` (the confirmation of an answer, numbered by `round`; a focal point's list).
    """

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("alert_id", "person", "channel", "purpose", "round"),
        Index(  # in a claim's order, to its last key (migration 0010)
            "ix_delivery_due",
            "channel",
            "priority",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
        Index(
            "ix_delivery_lease",
            "lease_expires_at",
            postgresql_where=text("status = 'sending'"),
            sqlite_where=text("status = 'sending'"),
        ),
        Index("ix_delivery_alert_counts", "alert_id", "channel", "status"),
        # No index on provider_id: status callbacks name the delivery (migration 0003).
    )

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    alert_id: int = Field(sa_column=Column(ForeignKey("alert.id", ondelete="CASCADE")))
    person: int = Field(foreign_key="person.id")
    channel: str = Field(max_length=8)
    purpose: str = Field(
        default="alert", max_length=16, sa_column_kwargs={"server_default": "alert"}
    )
    round: int = 0
    status: str = Field(max_length=16)
    priority: int = 0
    attempts: int = 0
    next_attempt_at: datetime = _created()
    lease_expires_at: datetime | None = _moment()
    leased_by: str | None = Field(default=None, max_length=64)
    provider_id: str | None = Field(default=None, max_length=128)
    subject: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, sa_type=Text)
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _created()
    sent_at: datetime | None = _moment()
    delivered_at: datetime | None = _moment()
    failed_at: datetime | None = _moment()
    segments: int | None = None  # an SMS's segments, set when its provider accepted it
    cost_micros: int | None = Field(default=None, sa_type=BigInteger)  # millionths of currency


class Response(SQLModel, table=True):
    """One answer from a person to an alert; the history is kept, the latest counts."""

    __tablename__ = "response"
    __table_args__ = (
        Index("ix_response_alert_person", "alert_id", "person", "received_at"),
        UniqueConstraint("provider_message_id"),
    )

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    alert_id: int = Field(sa_column=Column(ForeignKey("alert.id", ondelete="CASCADE")))
    person: int = Field(foreign_key="person.id")
    kind: str = Field(max_length=16)
    channel: str = Field(max_length=8)
    text: str = Field(default="", sa_type=Text)
    provider_message_id: str | None = Field(default=None, max_length=128)
    received_at: datetime = _created()


class CapImport(SQLModel, table=True):
    """A CAP message from outside, remembered by its sender and identifier, with its draft.

    `key` is the SHA-256 of sender and identifier (unbounded texts, too long for an index):
    the same message imported twice finds the draft the first import made.
    """

    __tablename__ = "cap_import"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    sender: str = Field(sa_type=Text)
    identifier: str = Field(sa_type=Text)
    sent: datetime = Field(sa_type=UTCDateTime, nullable=False)
    alert_id: int = Field(
        sa_column=Column(ForeignKey("alert.id", ondelete="CASCADE"), nullable=False)
    )
    imported_at: datetime = _created()
    imported_by: str = Field(max_length=100)


class CapFeedState(SQLModel, table=True):
    """What the last polls of a CAP feed (`cap.feeds`) found: the validators of its last
    answer, for a conditional request, and its last failure, if any since."""

    __tablename__ = "cap_feed"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)  # SHA-256 of the URL, too long for an index
    url: str = Field(sa_type=Text)
    etag: str | None = Field(default=None, sa_type=Text)
    last_modified: str | None = Field(default=None, sa_type=Text)
    checked_at: datetime | None = _moment()
    changed_at: datetime | None = _moment()
    failures: int = 0
    error: str | None = Field(default=None, sa_type=Text)


class CapFeedEntry(SQLModel, table=True):
    """An entry of a CAP feed dealt with once, and how: imported, ignored, or refused and why."""

    __tablename__ = "cap_feed_entry"
    __table_args__ = (UniqueConstraint("feed_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    feed_id: int = Field(
        sa_column=Column(ForeignKey("cap_feed.id", ondelete="CASCADE"), nullable=False)
    )
    key: str = Field(max_length=64)  # SHA-256 of the entry's id and update time
    entry: str = Field(sa_type=Text)
    outcome: str = Field(max_length=20)
    detail: str = Field(default="", sa_type=Text)
    alert_id: int | None = Field(
        default=None,
        sa_column=Column(ForeignKey("alert.id", ondelete="SET NULL"), nullable=True),
    )
    seen_at: datetime = _created()


class AuditEntry(SQLModel, table=True):
    """Who did what, when: alerts raised and cancelled, rosters imported, tokens created."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: int | None = Field(default=None, sa_type=BigId, primary_key=True)
    at: datetime = _created()
    actor: str = Field(max_length=100)
    action: str = Field(max_length=64)
    target: str = Field(default="", max_length=200)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    source: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})


STATION = metadata.tables["station"]
PERSON = metadata.tables["person"]
PERSON_GROUP = metadata.tables["person_group"]
ALERT = metadata.tables["alert"]
RECIPIENT = metadata.tables["recipient"]
DELIVERY = metadata.tables["delivery"]
RESPONSE = metadata.tables["response"]
DRILL_SCHEDULE_VERSION = metadata.tables["drill_schedule_version"]
CAP_IMPORT = metadata.tables["cap_import"]
CAP_FEED = metadata.tables["cap_feed"]
CAP_FEED_ENTRY = metadata.tables["cap_feed_entry"]
"""Core tables for bulk statements, where ORM objects would cost more than they give."""
