"""The audit log in the store: every kind of action leaves who, what, when and from where, and
the log reads back oldest first, from a day on, a bounded batch at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from notifier.access import Principal
from notifier.alert_request import parse_alert_request
from notifier.domain import Role
from notifier.drill_request import parse_drill_request
from notifier.messages import SHIPPED_TEMPLATES, load_templates
from notifier.roster_import import import_roster, import_stations
from notifier.store import alerts, audit, drills, tokens
from notifier.store.audit import AUDIT_LOG, LoggedAction, Position
from notifier.store.drill_firings import fire_due
from notifier.store.engine import Database
from tests.seeding import HEADER, STATIONS, nairobi_people, seed

NOW = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)
OFFICER = Principal("nbo", Role.OFFICER, frozenset({"NBO"}), source="api 192.0.2.10")
ADMIN = Principal("root", Role.ADMIN, source="cli root@ops-01")
SCHEDULER = Principal("scheduler", Role.ADMIN, source="daemon ops-02")
TEMPLATES = load_templates(SHIPPED_TEMPLATES)


async def _log(database: Database) -> list[LoggedAction]:
    async with database.session(read_only=True) as session:
        return await audit.read_entries(session, limit=1000)


def _who(entries: list[LoggedAction], action: str) -> list[tuple[str, str, str]]:
    """(actor, source, target) of the entries of `action`, in the log's order."""
    return [(e.actor, e.source, e.target) for e in entries if e.action == action]


async def _fill(database: Database, moments: list[datetime]) -> None:
    """One plain entry made at each of `moments`, written in one statement."""
    rows = [
        {"at": at, "actor": "a", "source": "s", "action": "test", "target": f"t{i}", "details": {}}
        for i, at in enumerate(moments)
    ]
    async with database.session() as session:
        await session.execute(insert(AUDIT_LOG), rows)


async def test_alert_actions_record_the_principal_and_its_source(database: Database) -> None:
    """Raising, cancelling and closing an alert each leave the caller's name and source."""
    await seed(database, nairobi_people(2))
    request = parse_alert_request({"title": "Fire", "message": "Leave.", "stations": ["NBO"]})
    async with database.session() as session:
        first = await alerts.create_alert(session, request, OFFICER)
        second = await alerts.create_alert(session, request, OFFICER)
    async with database.session() as session:
        await alerts.cancel_alert(session, first.id or 0, ADMIN)
        await alerts.close_alert(session, second.id or 0, OFFICER)
    entries = await _log(database)
    officer = ("nbo", "api 192.0.2.10")
    assert _who(entries, "alert.raise") == [
        (*officer, f"alert:{first.id}"),
        (*officer, f"alert:{second.id}"),
    ]
    assert _who(entries, "alert.cancel") == [("root", "cli root@ops-01", f"alert:{first.id}")]
    assert _who(entries, "alert.close") == [(*officer, f"alert:{second.id}")]


async def test_automatic_close_is_the_daemons(database: Database) -> None:
    """An alert closed by age is audited as `notifier`, from the daemon's host by default."""
    await seed(database, nairobi_people(1))
    request = parse_alert_request({"title": "Fire", "message": "Leave.", "stations": ["NBO"]})
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, OFFICER)
    async with database.session() as session:
        closed = await alerts.close_expired(session, NOW + timedelta(days=3650), NOW)
    assert closed == [alert.id]
    [(actor, source, target)] = _who(await _log(database), "alert.close")
    assert (actor, target) == ("notifier", f"alert:{alert.id}")
    assert source.startswith("daemon ") and len(source) > len("daemon ")


async def test_drill_changes_and_firings_record_their_source(database: Database) -> None:
    """Adding, pausing, resuming, running and removing a drill, and its firing by the
    scheduler, each leave who did it and from where."""
    await seed(database, nairobi_people(2))
    request = parse_drill_request({"name": "m", "stations": ["NBO"], "cron": "* * * * *"})
    async with database.session() as session:
        await drills.add_drill(session, request, OFFICER, NOW)
    async with database.session() as session:
        await drills.set_paused(session, "m", ADMIN, paused=True, now=NOW)
    async with database.session() as session:
        await drills.set_paused(session, "m", ADMIN, paused=False, now=NOW)
    async with database.session() as session:
        raised = await fire_due(
            session, NOW + timedelta(minutes=1), timedelta(hours=1), TEMPLATES, SCHEDULER
        )
    assert len(raised) == 1
    async with database.session() as session:
        await drills.run_drill(session, "m", OFFICER, TEMPLATES)
    async with database.session() as session:
        await drills.remove_drill(session, "m", ADMIN, NOW)
    done = [
        (entry.action, entry.actor, entry.source)
        for entry in await _log(database)
        if entry.target == "drill:m"
    ]
    assert done == [
        ("drill.add", "nbo", "api 192.0.2.10"),
        ("drill.pause", "root", "cli root@ops-01"),
        ("drill.resume", "root", "cli root@ops-01"),
        ("drill.fire", "scheduler", "daemon ops-02"),
        ("drill.run", "nbo", "api 192.0.2.10"),
        ("drill.remove", "root", "cli root@ops-01"),
    ]


async def test_imports_and_tokens_record_their_source(database: Database, tmp_path: Path) -> None:
    """Station and roster imports, token creation and revocation leave actor and source."""
    stations = tmp_path / "stations.csv"
    stations.write_text(STATIONS, encoding="utf-8")
    roster = tmp_path / "roster.csv"
    roster.write_text(HEADER + "".join(f"{row}\n" for row in nairobi_people(3)), encoding="utf-8")
    here = "cli ops@ops-01"
    await import_stations(database, stations, actor="cli:ops", source=here)
    await import_roster(database, roster, actor="cli:ops", source=here)
    async with database.session() as session:
        await tokens.create_token(session, "board", Role.VIEWER, [], actor="cli:ops", source=here)
    async with database.session() as session:
        await tokens.revoke_token(session, "board", NOW, actor="cli:ops", source=here)
    entries = await _log(database)
    assert [(e.action, e.actor, e.source) for e in entries] == [
        ("stations.import", "cli:ops", here),
        ("roster.import", "cli:ops", here),
        ("token.create", "cli:ops", here),
        ("token.revoke", "cli:ops", here),
    ]
    assert entries[1].details == {"added": 3, "changed": 0, "deactivated": 0}
    assert entries[2].details == {"role": "viewer", "stations": []}


async def test_read_oldest_first_from_a_day_and_after_a_position(database: Database) -> None:
    """Entries come by time (ties by id) whatever order they were written in; `since` and
    `after` cut the log where they say."""
    day = datetime(2026, 6, 1, tzinfo=UTC)
    await _fill(database, [day + timedelta(hours=5), day - timedelta(seconds=1), day, day])
    async with database.session(read_only=True) as session:
        every = await audit.read_entries(session)
        since = await audit.read_entries(session, since=day)
        after = await audit.read_entries(session, after=Position(every[1].at, every[1].id))
        first_two = await audit.read_entries(session, limit=2)
        position = await audit.position_of(session, every[2].id)
        missing = await audit.position_of(session, 10**9)
    assert [entry.target for entry in every] == ["t1", "t2", "t3", "t0"]
    assert [entry.target for entry in since] == ["t2", "t3", "t0"]
    assert [entry.target for entry in after] == ["t3", "t0"]
    assert [entry.target for entry in first_two] == ["t1", "t2"]
    assert position == Position(day, every[2].id)
    assert missing is None


@pytest.mark.parametrize("batch", [1, 3, 7])
async def test_stream_gives_every_entry_once_in_bounded_batches(
    database: Database, batch: int
) -> None:
    """The stream's batches never exceed their size and together give the log once, in order,
    even when many entries share one moment."""
    start = datetime(2026, 6, 1, tzinfo=UTC)
    await _fill(database, [start + timedelta(seconds=i // 4) for i in range(21)])
    batches = [found async for found in audit.stream_entries(database, batch=batch)]
    assert all(0 < len(found) <= batch for found in batches)
    assert [entry.target for found in batches for entry in found] == [f"t{i}" for i in range(21)]


async def test_a_long_log_is_read_a_thousand_entries_at_a_time(database: Database) -> None:
    """20,000 entries come in batches of EXPORT_BATCH, not in one read."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    await _fill(database, [start + timedelta(seconds=i) for i in range(20_000)])
    sizes = [len(found) async for found in audit.stream_entries(database)]
    assert sizes == [audit.EXPORT_BATCH] * (20_000 // audit.EXPORT_BATCH)
