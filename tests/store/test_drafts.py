"""Draft alerts in the store: left alone by dispatch, escalation, closing and readiness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from notifier.access import Principal
from notifier.cap_import import DraftContent
from notifier.domain import AlertKind, AlertStatus, Role, Severity
from notifier.errors import ConflictError
from notifier.store import alerts, drafts, escalations, materialisation
from notifier.store.drafts import CapOrigin
from notifier.store.engine import Database
from notifier.store.readiness_data import station_facts
from notifier.store.tables import ALERT
from tests.cap_stations import seed_cap_world

ADMIN = Principal("officer-a", Role.ADMIN, source="test")
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
DRILL = DraftContent(AlertKind.DRILL, Severity.MINOR, "Flood drill", "Go upstairs.", {"en": "Go"})
ORIGIN = CapOrigin("met@example.org", "MET-1", NOW - timedelta(hours=1))


async def _draft(database: Database) -> int:
    async with database.session() as session:
        alert = await drafts.create_draft(session, DRILL, ["NBO"], ORIGIN, ADMIN)
    assert alert.id is not None
    return alert.id


async def _status(database: Database, alert_id: int) -> str:
    async with database.session(read_only=True) as session:
        status = await session.scalar(select(ALERT.c.status).where(ALERT.c.id == alert_id))
    return str(status)


async def test_a_draft_is_neither_dispatched_escalated_nor_closed(database: Database) -> None:
    """Materialising, escalating and the automatic closing all pass a draft by."""
    await seed_cap_world(database)
    alert_id = await _draft(database)
    async with database.session() as session:
        assert await materialisation.alerts_to_materialise(session) == []
        done = await materialisation.materialise_batch(session, alert_id, 100, NOW)
        assert (done.recipients, done.deliveries) == (0, 0)
        assert await escalations.escalating_alerts(session, 5) == []
        assert await alerts.close_expired(session, NOW + timedelta(days=365), NOW) == []
    assert await _status(database, alert_id) == AlertStatus.DRAFT.value


async def test_a_drill_draft_is_no_drill_run_for_readiness(database: Database) -> None:
    """A station's readiness counts drills raised, not drafts of drills."""
    await seed_cap_world(database)
    await _draft(database)
    async with database.session(read_only=True) as session:
        facts = await station_facts(
            session, ["NBO"], NOW - timedelta(days=365), NOW + timedelta(days=1), "focal"
        )
    assert facts["NBO"].drill_times == ()


async def test_sending_a_draft_raises_it_now_once(database: Database) -> None:
    """Sent, the draft is dispatching and raised at that moment; sending it again conflicts."""
    await seed_cap_world(database)
    alert_id = await _draft(database)
    async with database.session() as session:
        alert = await drafts.send_draft(session, alert_id, ADMIN, NOW)
    assert (alert.status, alert.created_at) == (AlertStatus.DISPATCHING.value, NOW)
    async with database.session() as session:
        assert await materialisation.alerts_to_materialise(session) == [(alert_id, 2)]
    with pytest.raises(ConflictError, match="not a draft"):
        async with database.session() as session:
            await drafts.send_draft(session, alert_id, ADMIN, NOW)


async def test_the_same_message_is_found_by_sender_and_identifier(database: Database) -> None:
    """An import is remembered by sender and identifier together, not by either alone."""
    await seed_cap_world(database)
    alert_id = await _draft(database)
    async with database.session(read_only=True) as session:
        assert await drafts.imported_draft(session, ORIGIN) == alert_id
        other_sender = CapOrigin("other@example.org", ORIGIN.identifier, ORIGIN.sent)
        assert await drafts.imported_draft(session, other_sender) is None
        other_id = CapOrigin(ORIGIN.sender, "MET-2", ORIGIN.sent)
        assert await drafts.imported_draft(session, other_id) is None
