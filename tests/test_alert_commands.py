"""`notifier alert send | status | cancel | close` run as an officer would, on a real SQLite file."""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from sqlalchemy import select

from notifier.access import Principal
from notifier.alert_watch import AWAITING_ANSWERS, ProgressTracker, Snapshot, follow, watch
from notifier.cli import main
from notifier.domain import AlertStatus, Channel, DeliveryStatus, ResponseKind, Role
from notifier.settings import load_settings
from notifier.store import alerts, materialisation, outbox, responses, schema, tokens
from notifier.store.alert_views import AlertCounts
from notifier.store.engine import Database
from notifier.store.responses import Outcome
from notifier.store.tables import ALERT, DELIVERY, Alert
from notifier.store.types import utc_now
from notifier.web.app import create_app
from tests.seeding import nairobi_people, seed

OFFICER = Principal("cli:test", Role.ADMIN)
LEASE = timedelta(seconds=60)
ROSTER = [
    *nairobi_people(3),
    *nairobi_people(1, start=3, groups="wardens"),
    "G1,Hélène Dubois,helene@example.org,,GVA,fr,wardens",
]
EARTHQUAKE = ("--title", "Earthquake", "--message", "Leave the building by the stairs.")
RATES = {"sms": 2.0, "email": 4.0}


@dataclass(frozen=True)
class Setup:
    """A configuration file and the database it names, migrated and seeded."""

    config: str
    database: Database


@pytest.fixture
async def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Setup]:
    """Four people at NBO (one a warden), one warden at GVA; SMS at 2/s, e-mail at 4/s."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    config = tmp_path / "notifier.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n[sms]\nrate_per_second = 2\n[email]\nrate_per_second = 4\n'
    )
    for name in ("NOTIFIER_CONFIG", "NOTIFIER_DATABASE__URL"):
        monkeypatch.delenv(name, raising=False)
    async with Database.open(url) as database:
        await schema.upgrade(database)
        await seed(database, ROSTER)
        yield Setup(str(config), database)


async def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command line in a thread, as its own process would: it runs its own event loop."""
    status = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


async def _send(setup: Setup, capsys: pytest.CaptureFixture[str], *argv: str) -> int:
    status, out, _ = await _run(capsys, "alert", "send", "--config", setup.config, "--json", *argv)
    assert status == 0
    alert_id: int = json.loads(out)["id"]
    return alert_id


async def _alert_ids(database: Database) -> list[int]:
    async with database.session() as session:
        return list((await session.execute(select(ALERT.c.id))).scalars())


async def _progress(database: Database, alert_id: int, *, sms_sent: int) -> None:
    """Do what the daemon does first: materialise, claim every SMS, mark `sms_sent` of them sent."""
    now = utc_now()
    async with database.session() as session:
        await materialisation.materialise_batch(session, alert_id, 1000, now)
    async with database.session() as session:
        claimed = await outbox.claim(session, Channel.SMS, 100, "test", now, LEASE)
    async with database.session() as session:
        for delivery in claimed[:sms_sent]:
            await outbox.mark_sent(session, delivery.id, f"provider-{delivery.id}", now)


async def _settle(database: Database, alert_id: int) -> None:
    """Do what the daemon does to the end: claim what is queued, mark everything sent, settle."""
    now = utc_now()
    async with database.session() as session:
        await materialisation.materialise_batch(session, alert_id, 1000, now)
    async with database.session() as session:
        for channel in Channel:
            await outbox.claim(session, channel, 100, "test", now, LEASE)
    async with database.session() as session:
        pending = select(DELIVERY.c.id).where(
            DELIVERY.c.alert_id == alert_id, DELIVERY.c.status == DeliveryStatus.SENDING.value
        )
        for delivery_id in (await session.execute(pending)).scalars():
            await outbox.mark_sent(session, delivery_id, f"provider-{delivery_id}", now)
        assert await outbox.settle_alerts(session, now) == 1


async def test_send_prints_id_code_and_recipients(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """send writes the alert and prints its id, code, kind, severity and audience size."""
    status, out, err = await _run(
        capsys, "alert", "send", "--config", setup.config, "--stations", "nbo", *EARTHQUAKE
    )
    assert status == 0
    assert re.fullmatch(
        r"alert 1 raised \(code [A-Z2-9]{4}, emergency, severe\): 4 recipients\n", out
    )
    assert "notifier alert status 1 --watch" in err
    assert await _alert_ids(setup.database) == [1]


async def test_send_json_is_the_api_202_body(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """send --json prints exactly the API's 202 object: id, code, kind, status, recipients,
    fallback."""
    status, out, _ = await _run(
        capsys,
        "alert",
        "send",
        "--config",
        setup.config,
        "--stations",
        "NBO,GVA",
        "--kind",
        "drill",
        "--severity",
        "MINOR",
        "--channels",
        "email",
        "--json",
        *EARTHQUAKE,
    )
    body = json.loads(out)
    assert status == 0
    assert set(body) == {"id", "code", "kind", "status", "recipients", "fallback"}
    assert (body["id"], body["kind"], body["status"], body["recipients"], body["fallback"]) == (
        1,
        "drill",
        "dispatching",
        5,
        {"sms": 0, "whatsapp": 0, "voice": 0},
    )
    async with setup.database.session() as session:
        alert = await session.get(Alert, 1)
    assert alert is not None
    assert (alert.severity, alert.channels, alert.code) == ("minor", ["email"], body["code"])


@pytest.mark.parametrize(
    ("audience", "recipients"),
    [
        (("--stations", "NBO"), 4),
        (("--stations", "NBO,GVA", "--groups", "wardens"), 2),
        (("--people", "G1"), 1),
        (("--stations", "NBO", "--people", "G1"), 5),
    ],
)
async def test_send_counts_the_audience(
    setup: Setup,
    capsys: pytest.CaptureFixture[str],
    audience: tuple[str, ...],
    recipients: int,
) -> None:
    """The recipients printed are the active people the stations, groups and people name."""
    status, out, _ = await _run(
        capsys, "alert", "send", "--config", setup.config, "--json", *audience, *EARTHQUAKE
    )
    assert status == 0
    assert json.loads(out)["recipients"] == recipients


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--stations", "NBO", "--title", "  ", "--message", "m"), "--title: required text"),
        (("--stations", "NBO", "--title", "t", "--message", ""), "--message: required text"),
        (
            ("--stations", "NBO", "--severity", "huge", *EARTHQUAKE),
            "--severity: 'huge' is not one of extreme, severe, moderate, minor",
        ),
        (
            ("--stations", "NBO", "--kind", "party", *EARTHQUAKE),
            "--kind: 'party' is not one of emergency, drill, test",
        ),
        (
            ("--stations", "NBO", "--channels", "fax", *EARTHQUAKE),
            "--channels: expected sms, email and/or voice, got ['fax']",
        ),
        (EARTHQUAKE, "--stations: name at least one station (or person)"),
        (("--stations", "N-1", *EARTHQUAKE), "--stations: 'N-1' is not a station code"),
        (("--stations", "XYZ", *EARTHQUAKE), "--stations: unknown station(s): XYZ"),
        (
            ("--people", "G1", "--groups", "wardens", *EARTHQUAKE),
            "--groups: groups select people within the stations named",
        ),
        (
            ("--stations", "NBO", "--groups", "nobody", *EARTHQUAKE),
            "--groups: no one is in group(s): nobody",
        ),
        (("--people", "NOPE", *EARTHQUAKE), "--people: unknown person_id(s): NOPE"),
    ],
)
async def test_invalid_fields_exit_1_naming_the_option(
    setup: Setup, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    """A field the API would refuse exits 1 with one line naming the option; nothing is written."""
    status, out, err = await _run(capsys, "alert", "send", "--config", setup.config, *argv)
    assert (status, out, err.strip()) == (1, "", message)
    assert await _alert_ids(setup.database) == []


def test_missing_title_is_a_usage_error() -> None:
    """Leaving out --title or --message is a usage error, exit 2."""
    with pytest.raises(SystemExit) as usage:
        main(["alert", "send", "--stations", "NBO", "--message", "m"])
    assert usage.value.code == 2


async def test_status_shows_counts_per_channel_and_state(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """status prints the header, audience and answers, then per channel done/total, each state
    and the time left at the configured rate."""
    alert_id = await _send(setup, capsys, "--stations", "NBO", *EARTHQUAKE)
    await _progress(setup.database, alert_id, sms_sent=1)
    status, out, _ = await _run(capsys, "alert", "status", "--config", setup.config, "1")
    lines = out.splitlines()
    assert status == 0
    assert re.fullmatch(r"alert 1 \([A-Z2-9]{4}\) emergency, severe: Earthquake", lines[0])
    assert re.fullmatch(
        r"status dispatching; raised \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by cli:\S+; "
        r"stations NBO; channels sms, email",
        lines[1],
    )
    assert lines[2] == "recipients 4; safe 0, help 0, other 0, not answered 4"
    assert _words(lines[4]) == (
        "channel done/total queued sending sent delivered failed cancelled time left"
    )
    # SMS: 4 claimed, 1 sent, 3 still sending at 2/s; e-mail: 4 queued at 4/s.
    assert _words(lines[5]) == "sms 1/4 0 3 1 0 0 0 rate limit ~2s at 2/s"
    assert _words(lines[6]) == "email 0/4 4 0 0 0 0 0 rate limit ~1s at 4/s"


async def test_status_json_is_the_api_body(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """status --json prints the same object as GET /api/v1/alerts/{id}, key for key."""
    alert_id = await _send(setup, capsys, "--stations", "NBO", *EARTHQUAKE)
    await _progress(setup.database, alert_id, sms_sent=2)
    status, out, _ = await _run(capsys, "alert", "status", "--config", setup.config, "1", "--json")
    async with setup.database.session() as session:
        token = await tokens.create_token(session, "viewer", Role.VIEWER, [], actor="test")
    app = create_app(setup.database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(
            f"/api/v1/alerts/{alert_id}", headers={"Authorization": f"Bearer {token}"}
        )
    assert status == 0
    assert response.status_code == 200
    assert json.loads(out) == response.json()
    assert list(json.loads(out)) == list(response.json())
    assert json.loads(out)["channels"]["sms"] == {
        "queued": 0,
        "sending": 2,
        "sent": 2,
        "delivered": 0,
        "failed": 0,
        "cancelled": 0,
    }


@pytest.mark.parametrize("command", ["status", "cancel", "close"])
async def test_unknown_alert_exits_1(
    setup: Setup, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """An alert id that does not exist exits 1 with `alert 42 does not exist`."""
    status, out, err = await _run(capsys, "alert", command, "--config", setup.config, "42")
    assert (status, out, err.strip()) == (1, "", "alert 42 does not exist")


async def test_cancel_prints_the_new_status(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """cancel stops the queued messages and says so; a second cancel changes nothing."""
    alert_id = await _send(setup, capsys, "--stations", "NBO", *EARTHQUAKE)
    await _progress(setup.database, alert_id, sms_sent=4)
    status, out, _ = await _run(capsys, "alert", "cancel", "--config", setup.config, "1")
    assert status == 0
    assert re.fullmatch(
        r"alert 1 \([A-Z2-9]{4}\): cancelled \(was dispatching\); 4 queued messages will not "
        r"be sent, 4 were already sent\n",
        out,
    )
    status, out, _ = await _run(capsys, "alert", "cancel", "--config", setup.config, "1")
    assert status == 0
    assert out.endswith(": already cancelled; nothing changed\n")
    _, out, _ = await _run(capsys, "alert", "status", "--config", setup.config, "1", "--json")
    assert json.loads(out)["status"] == "cancelled"
    assert json.loads(out)["channels"]["email"]["cancelled"] == 4


async def test_send_wait_returns_once_the_alert_is_settled(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """send --wait prints progress lines while dispatching, then the final status, and exits 0
    once every delivery is settled."""
    waiting = asyncio.create_task(
        _run(
            capsys,
            "alert",
            "send",
            "--config",
            setup.config,
            "--stations",
            "NBO",
            "--wait",
            *EARTHQUAKE,
        )
    )
    for _ in range(500):
        if await _alert_ids(setup.database):
            break
        await asyncio.sleep(0.01)
    [alert_id] = await _alert_ids(setup.database)
    await asyncio.sleep(0.1)  # let it show the alert dispatching at least once
    assert not waiting.done()
    await _settle(setup.database, alert_id)
    status, out, _ = await asyncio.wait_for(waiting, timeout=10)
    lines = out.splitlines()
    assert status == 0
    assert lines[0].startswith("alert 1 raised (code ")
    assert lines[1].startswith("alert 1 dispatching | sms 0/0, waiting for the list | ")
    assert any(line.startswith("alert 1 dispatched | sms 4/4 (4 sent), done | ") for line in lines)
    assert "status dispatched; raised " in out
    assert _words(lines[-1]) == "email 4/4 0 0 4 0 0 0"


async def test_follow_draws_a_live_table_on_a_terminal(setup: Setup) -> None:
    """On a terminal, follow redraws a table with bars and time left until the alert settles."""
    alert_id = await _send_directly(setup)
    await _progress(setup.database, alert_id, sms_sent=1)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    following = asyncio.create_task(
        follow(
            setup.database, alert_id, OFFICER, RATES, console, stop=asyncio.Event(), refresh=0.01
        )
    )
    await asyncio.sleep(0.1)
    assert not following.done()
    await _settle(setup.database, alert_id)
    final = await asyncio.wait_for(following, timeout=10)
    drawn = screen.getvalue()
    assert final.alert.status == AlertStatus.DISPATCHED
    assert "done/total" in drawn
    assert "sms:   rate limit ~2s at 2/s" in drawn
    assert "━" in drawn


async def test_ctrl_c_stops_the_watching_not_the_alert(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C while watching returns at once and quietly; the alert is still being sent."""
    alert_id = await _send_directly(setup)
    settings = load_settings(Path(setup.config), {})
    before = signal.getsignal(signal.SIGINT)
    console = Console(file=io.StringIO())
    watching = asyncio.create_task(watch(setup.database, alert_id, OFFICER, settings, console))
    for _ in range(200):
        if signal.getsignal(signal.SIGINT) is not before:
            break
        await asyncio.sleep(0.01)
    assert signal.getsignal(signal.SIGINT) is not before, "watch did not take over Ctrl-C"
    signal.raise_signal(signal.SIGINT)
    final = await asyncio.wait_for(watching, timeout=5)
    assert final.alert.status == AlertStatus.DISPATCHING
    assert signal.getsignal(signal.SIGINT) is before
    assert "stopped watching; alert 1 is still being sent" in capsys.readouterr().err


def test_tracker_shows_the_observed_rate_and_a_stall() -> None:
    """From successive counts the tracker derives the observed rate, and notes a stalled alert."""
    tracker = ProgressTracker(RATES)
    tracker.record(_snapshot(sms_sent=0, sms_queued=100), now=0.0)
    rows = tracker.record(_snapshot(sms_sent=10, sms_queued=90), now=5.0)
    assert rows[0].estimate.observed == pytest.approx(2.0)
    assert rows[0].estimate.at_limit
    assert tracker.note(_snapshot(sms_sent=10, sms_queued=90), now=5.0) == ""
    tracker.record(_snapshot(sms_sent=10, sms_queued=90), now=30.0)
    assert "`notifier serve`" in tracker.note(_snapshot(sms_sent=10, sms_queued=90), now=30.0)


async def _send_directly(setup: Setup) -> int:
    """Raise an alert to NBO by the command line, without printing through capsys."""
    status = await asyncio.to_thread(
        main, ["alert", "send", "--config", setup.config, "--stations", "NBO", *EARTHQUAKE]
    )
    assert status == 0
    [alert_id] = await _alert_ids(setup.database)
    return alert_id


def _words(line: str) -> str:
    """The line with its column padding squeezed to single spaces."""
    return " ".join(line.split())


def _snapshot(*, sms_sent: int, sms_queued: int) -> Snapshot:
    alert = Alert(
        id=1,
        code="K7Q2",
        kind="emergency",
        severity="severe",
        title="Earthquake",
        message="Leave the building by the stairs.",
        status=AlertStatus.DISPATCHING.value,
        created_by="cli:test",
        channels=["sms"],
        audience={"scope": ["NBO"]},
        created_at=datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
    )
    states = dict.fromkeys(("queued", "sending", "sent", "delivered", "failed", "cancelled"), 0)
    counts = AlertCounts(
        recipients=100,
        acknowledged=0,
        responses={"safe": 0, "help": 0, "other": 0},
        channels={"sms": states | {"sent": sms_sent, "queued": sms_queued}, "email": states},
    )
    return Snapshot(alert, counts)


async def test_status_shows_answers_and_time_to_acknowledge(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """Answers 40 s, 100 s and 3 min after the alert: counts, median 100 s, 90 % within 3 min."""
    alert_id = await _send(setup, capsys, "--stations", "NBO", *EARTHQUAKE)
    await _progress(setup.database, alert_id, sms_sent=0)
    async with setup.database.session() as session:
        alert = (await session.execute(select(ALERT).where(ALERT.c.id == alert_id))).one()
        people = [
            row.person
            for row in await session.execute(
                select(DELIVERY.c.person).where(DELIVERY.c.channel == "sms").order_by("person")
            )
        ]
        for person, kind, seconds in zip(
            people, ("safe", "help", "other"), (40, 100, 180), strict=False
        ):
            answer = responses.Answer(alert_id, person, ResponseKind(kind), Channel.SMS, kind)
            at = alert.created_at + timedelta(seconds=seconds)
            assert await responses.record_answer(session, answer, at) is Outcome.RECORDED
    status, out, _ = await _run(capsys, "alert", "status", "--config", setup.config, "1")
    assert status == 0
    assert out.splitlines()[2] == (
        "recipients 4; safe 1, help 1, other 1, not answered 1; "
        "time to acknowledge: median 1 min 40 s, 90% within 3 min 0 s"
    )
    lines = out.splitlines()
    listed = lines[lines.index("need help (1):") + 1 : lines.index("other answers (1):") - 1]
    assert len(listed) == 1
    assert re.fullmatch(r"  Person \d+ \(N\d{5}, NBO\) \+25472\d{7}", listed[0])
    status, out, _ = await _run(capsys, "alert", "status", "--config", setup.config, "--json", "1")
    view = json.loads(out)
    assert view["not_answered"] == 1
    assert view["time_to_acknowledge"] == {"median_seconds": 100.0, "p90_seconds": 180.0}


async def test_status_shows_what_people_wrote(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "2" then "my leg is broken" stays under need help, with the text; a free-text answer is
    listed with its text under other answers."""
    alert_id = await _send(setup, capsys, "--stations", "NBO", *EARTHQUAKE)
    await _progress(setup.database, alert_id, sms_sent=0)
    async with setup.database.session() as session:
        query = select(DELIVERY.c.person).where(DELIVERY.c.channel == "sms").order_by("person")
        first, second, *_ = list((await session.execute(query)).scalars())
        for person, kind, text in (
            (first, ResponseKind.HELP, "2"),
            (first, ResponseKind.OTHER, "my leg is broken\x1b[2J"),
            (second, ResponseKind.OTHER, "where is the assembly point?"),
        ):
            answer = responses.Answer(alert_id, person, kind, Channel.SMS, text)
            await responses.record_answer(session, answer, utc_now())
    status, out, _ = await _run(capsys, "alert", "status", "--config", setup.config, "1")
    assert status == 0
    lines = out.splitlines()
    assert lines[2].startswith("recipients 4; safe 0, help 1, other 1, not answered 2")
    need_help = lines.index("need help (1):")
    assert re.fullmatch(
        r'  Person \d+ \(N\d{5}, NBO\) \+25472\d{7} "my leg is broken \[2J"', lines[need_help + 1]
    )
    other = lines.index("other answers (1):")
    assert re.fullmatch(
        r'  Person \d+ \(N\d{5}, NBO\) \+25472\d{7} "where is the assembly point\?"',
        lines[other + 1],
    )


async def test_close_prints_the_new_status(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """close says what the answers were and what will not be sent; closing again, or closing a
    cancelled alert, changes nothing and says so."""
    alert_id = await _send(setup, capsys, "--stations", "NBO", *EARTHQUAKE)
    await _progress(setup.database, alert_id, sms_sent=4)
    await _answer(setup.database, alert_id, ResponseKind.HELP)
    status, out, _ = await _run(capsys, "alert", "close", "--config", setup.config, "1")
    assert status == 0
    first, second = out.splitlines()
    assert re.fullmatch(
        r"alert 1 \([A-Z2-9]{4}\): closed \(was dispatching\); answers are no longer taken; "
        r"safe 0, help 1, other 0, not answered 3; 4 queued messages will not be sent",
        first,
    )
    assert second == "people who needed help are listed by `notifier alert status 1`"
    _, out, _ = await _run(capsys, "alert", "status", "--config", setup.config, "1", "--json")
    assert json.loads(out)["status"] == "closed"
    assert json.loads(out)["channels"]["email"]["cancelled"] == 4
    status, out, _ = await _run(capsys, "alert", "close", "--config", setup.config, "1")
    assert (status, out) == (0, out.split(":")[0] + ": already closed; nothing changed\n")
    await _send(setup, capsys, "--stations", "NBO", *EARTHQUAKE)
    assert (await _run(capsys, "alert", "cancel", "--config", setup.config, "2"))[0] == 0
    status, out, _ = await _run(capsys, "alert", "close", "--config", setup.config, "2")
    assert status == 0
    assert out.endswith(": already cancelled; nothing changed\n")


async def _answer(database: Database, alert_id: int, kind: ResponseKind) -> None:
    """Record `kind` from the first SMS recipient of the alert, as a reply would."""
    async with database.session() as session:
        query = (
            select(DELIVERY.c.person)
            .where(DELIVERY.c.alert_id == alert_id, DELIVERY.c.channel == "sms")
            .order_by(DELIVERY.c.person)
        )
        person = (await session.execute(query)).scalars().first()
        assert person is not None
        answer = responses.Answer(alert_id, person, kind, Channel.SMS, kind.value)
        assert await responses.record_answer(session, answer, utc_now()) is Outcome.RECORDED


async def _close(database: Database, alert_id: int) -> None:
    async with database.session() as session:
        await alerts.close_alert(session, alert_id, OFFICER)


@pytest.mark.parametrize("terminal", [False, True], ids=["lines", "live"])
async def test_follow_shows_answers_after_sending_until_closed(
    setup: Setup, terminal: bool
) -> None:
    """Following answers goes on once every message is out, shows an answer as it arrives, in
    the plain lines and in the live table, and ends when the alert is closed."""
    alert_id = await _send_directly(setup)
    await _settle(setup.database, alert_id)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=terminal, width=200, color_system=None)
    following = asyncio.create_task(
        follow(
            setup.database,
            alert_id,
            OFFICER,
            RATES,
            console,
            stop=asyncio.Event(),
            answers=True,
            refresh=0.01,
            line_every=0.05,
        )
    )
    try:
        await _shown(screen, "safe 0, help 0, other 0, not answered 4")
        assert not following.done()
        await _answer(setup.database, alert_id, ResponseKind.SAFE)
        await _shown(screen, "safe 1, help 0, other 0, not answered 3")
        assert not following.done()
        await _close(setup.database, alert_id)
        final = await asyncio.wait_for(following, timeout=10)
    finally:
        following.cancel()
    assert final.alert.status == AlertStatus.CLOSED


async def test_follow_prints_a_plain_line_only_when_answers_change(setup: Setup) -> None:
    """Once every message is out, the plain view prints a line when the answers change, not
    every few seconds, and a last one when the alert is closed."""
    alert_id = await _send_directly(setup)
    await _settle(setup.database, alert_id)
    screen = io.StringIO()
    console = Console(file=screen, width=300)
    following = asyncio.create_task(
        follow(
            setup.database,
            alert_id,
            OFFICER,
            RATES,
            console,
            stop=asyncio.Event(),
            answers=True,
            refresh=0.01,
            line_every=0.01,
        )
    )
    try:
        await _shown(screen, "not answered 4")
        await asyncio.sleep(0.3)  # many reads, nothing new
        await _answer(setup.database, alert_id, ResponseKind.HELP)
        await _shown(screen, "help 1")
        await _close(setup.database, alert_id)
        await asyncio.wait_for(following, timeout=10)
    finally:
        following.cancel()
    lines = screen.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("alert 1 dispatched | sms 4/4 (4 sent), done | ")
    assert "help 1" in lines[1]
    assert lines[2].startswith("alert 1 closed | ")


async def test_status_watch_follows_until_the_alert_is_closed(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """status --watch (its own process) on an alert whose messages are all out keeps following;
    an answer that arrives meanwhile is in the status printed once the alert is closed."""
    alert_id = await _send(setup, capsys, "--stations", "NBO", *EARTHQUAKE)
    await _settle(setup.database, alert_id)
    watching = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "notifier",
        "alert",
        "status",
        "--config",
        setup.config,
        str(alert_id),
        "--watch",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert watching.stdout is not None
        first = await asyncio.wait_for(watching.stdout.readline(), timeout=30)
        assert first.decode().startswith("alert 1 dispatched | ")
        assert first.decode().rstrip("\n").endswith("| " + AWAITING_ANSWERS)
        await _answer(setup.database, alert_id, ResponseKind.SAFE)
        await asyncio.sleep(1.0)
        assert watching.returncode is None, "status --watch ended while the alert was open"
        await _close(setup.database, alert_id)
        out, _ = await asyncio.wait_for(watching.communicate(), timeout=30)
    finally:
        if watching.returncode is None:
            watching.kill()
            await watching.wait()
    assert watching.returncode == 0
    lines = out.decode().splitlines()
    assert lines[0].startswith("alert 1 closed | ")
    assert "status closed; raised " in out.decode()
    assert "safe 1, help 0, other 0, not answered 3" in out.decode().split("status closed")[1]


async def _shown(screen: io.StringIO, text: str) -> None:
    """Wait (up to 10 s) until `text` has been written to the screen."""
    for _ in range(1000):
        if text in screen.getvalue():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{text!r} never shown in:\n{screen.getvalue()}")


async def test_send_says_who_gets_the_other_channel(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """SMS only, to NBO and to G1 who has no phone: send says 1 of them gets e-mail instead."""
    argv = ("--stations", "NBO", "--people", "G1", "--channels", "sms", *EARTHQUAKE)
    status, out, _ = await _run(capsys, "alert", "send", "--config", setup.config, *argv)
    assert status == 0
    assert out.endswith(
        ": 5 recipients; 1 of them by email, for lack of a phone that takes SMS\n"
    ), out
    status, out, _ = await _run(capsys, "alert", "send", "--config", setup.config, "--json", *argv)
    assert json.loads(out)["fallback"] == {"email": 1}


async def test_status_shows_the_audience_as_given_and_the_fallback(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """An alert to a person by id shows `people G1`, not the station derived from them, and
    that SMS was asked for but e-mail carried it, before and after the outbox is filled."""
    alert_id = await _send(setup, capsys, "--people", "G1", "--channels", "sms", *EARTHQUAKE)
    for filled in (False, True):
        if filled:
            await _progress(setup.database, alert_id, sms_sent=0)
        status, out, _ = await _run(capsys, "alert", "status", "--config", setup.config, "1")
        assert status == 0
        header = out.splitlines()[1]
        assert header.endswith(
            "; people G1; channels sms (1 by email instead, for lack of a phone that takes SMS)"
        ), header
        assert "stations" not in header
        status, out, _ = await _run(
            capsys, "alert", "status", "--config", setup.config, "1", "--json"
        )
        body = json.loads(out)
        assert body["fallback"] == {"email": 1}
        assert body["audience"] == {"stations": [], "groups": [], "people": ["G1"]}
    assert body["channels"]["email"]["queued"] == 1


async def test_a_failed_sms_is_not_counted_as_a_fallback(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """E-mail sent after an SMS failed for good is a fail-over, not a lack of phone: not counted."""
    alert_id = await _send(setup, capsys, "--stations", "NBO", "--channels", "sms", *EARTHQUAKE)
    now = utc_now()
    async with setup.database.session() as session:
        await materialisation.materialise_batch(session, alert_id, 1000, now)
    async with setup.database.session() as session:
        claimed = await outbox.claim(session, Channel.SMS, 100, "test", now, LEASE)
    async with setup.database.session() as session:
        assert await outbox.mark_failed(session, claimed[0], "21211 invalid number", now)
    status, out, _ = await _run(capsys, "alert", "status", "--config", setup.config, "1", "--json")
    body = json.loads(out)
    assert status == 0
    assert body["channels"]["email"]["queued"] == 1
    assert body["fallback"] == {"email": 0}


async def test_alert_list_shows_the_newest_first(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """`alert list` prints id, code, kind, status, created, recipients and title, newest first;
    --status filters; --json gives the API's rows."""
    first = await _send(setup, capsys, "--stations", "NBO", *EARTHQUAKE)
    second = await _send(setup, capsys, "--people", "G1", "--kind", "drill", *EARTHQUAKE)
    await _run(capsys, "alert", "cancel", "--config", setup.config, str(first))
    status, out, _ = await _run(capsys, "alert", "list", "--config", setup.config)
    lines = out.splitlines()
    assert status == 0
    assert _words(lines[0]) == "id code kind status created (UTC) recipients title"
    assert _words(lines[1]).startswith(f"{second} ")
    assert " drill dispatching " in _words(lines[1])
    assert _words(lines[1]).endswith(" 0 Earthquake")
    assert " emergency cancelled " in _words(lines[2])
    assert lines[3] == "2 alerts"
    status, out, _ = await _run(
        capsys, "alert", "list", "--config", setup.config, "--status", "cancelled", "--json"
    )
    rows = json.loads(out)
    assert status == 0
    assert [(row["id"], row["status"]) for row in rows] == [(first, "cancelled")]
    assert {"id", "code", "kind", "status", "title", "created_at", "recipients"} <= set(rows[0])


async def test_alert_list_refuses_an_unknown_status(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    """`alert list --status bogus` exits 1 naming the option and the values it takes."""
    status, out, err = await _run(
        capsys, "alert", "list", "--config", setup.config, "--status", "bogus"
    )
    assert (status, out) == (1, "")
    assert err.startswith("--status: 'bogus' is not one of active, draft, dispatching")
