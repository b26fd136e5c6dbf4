"""Draw the drill report the README shows: `docs/drill-report.png` and its text on stdout.

A fictional roster of 800 people at four stations (`bench.roster_import`) is imported as any
roster is, a drill schedule is added and run (`drill run`), and the dispatcher sends it
through the console channels (into memory), pricing each message at the example prices
below. The answers are made up: 85 % of the people answer, a few minutes after the alert for
most and up to an hour for some, one in twenty needing help. The report is then written as
`notifier report ALERT_ID` would.

Run: `.venv/bin/python docs/drill_report.py > /tmp/drill-report.txt`
"""

from __future__ import annotations

import asyncio
import io
import random
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))  # run as a script from anywhere in the checkout

from bench.roster_import import CONTACTS, generate_roster  # noqa: E402
from notifier.access import Principal  # noqa: E402
from notifier.channels.console import ConsoleEmailChannel, ConsoleSmsChannel  # noqa: E402
from notifier.clock import SystemClock  # noqa: E402
from notifier.dispatch.dispatcher import Dispatcher, configured_lanes  # noqa: E402
from notifier.dispatch.rendering import MessageFactory  # noqa: E402
from notifier.domain import Channel, ResponseKind, Role  # noqa: E402
from notifier.drill_request import parse_drill_request  # noqa: E402
from notifier.logs import configure_logging  # noqa: E402
from notifier.messages import SHIPPED_TEMPLATES, load_templates  # noqa: E402
from notifier.report_output import ReportFormat, render  # noqa: E402
from notifier.roster_import import import_roster, import_stations  # noqa: E402
from notifier.settings import Settings  # noqa: E402
from notifier.store import drills, responses, schema  # noqa: E402
from notifier.store.engine import Database  # noqa: E402
from notifier.store.report_data import read_report  # noqa: E402
from notifier.store.responses import Answer  # noqa: E402
from notifier.store.tables import ALERT, PERSON, RECIPIENT, Alert  # noqa: E402
from notifier.store.types import utc_now  # noqa: E402

PEOPLE = 800
ADMIN = Principal("security-officer", Role.ADMIN)
EXAMPLE_PRICES = {  # made up for the example
    "currency": "USD",
    "sms_segment_price": "0.0330",
    "sms_segment_prices": {"KE": "0.0451", "CH": "0.0788"},
    "email_price": "0.0001",
}
OWN_WORDS = ("at the gate, fine", "working from home today", "on mission in Goma")
PNG = REPOSITORY / "docs" / "drill-report.png"


async def main() -> None:
    """Build the drill, send it, answer it, and write its report."""
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'notifier.db'}"
        settings = Settings.model_validate(
            {
                "database": {"url": url},
                "security": {"secret_key": "an example key of at least thirty-two characters"},
                "email": {"backend": "console", "rate_per_second": 1000},
                "sms": {"backend": "console", "rate_per_second": 1000},
                "logging": {"level": "warning"},
                "costs": EXAMPLE_PRICES,
            }
        )
        configure_logging(settings.logging)  # the console channels log every message at info
        async with Database.open(url) as database:
            alert = await _drill(database, Path(directory) / "roster.csv")
            await _send(database, settings)
            await _answer(database, alert)
            async with database.session(read_only=True) as session:
                alert = await session.get_one(Alert, alert.id)  # dispatched by now
                report = await read_report(session, alert, settings.costs.currency)
    PNG.write_bytes(render(alert, report, ReportFormat.PNG).content)
    sys.stdout.write(render(alert, report, ReportFormat.TEXT).content.decode())


async def _drill(database: Database, roster: Path) -> Alert:
    """Stations and people imported, a monthly drill added and run now: its alert."""
    await schema.upgrade(database)
    await import_stations(database, CONTACTS / "stations.csv", actor="docs")
    generate_roster(roster, PEOPLE)
    await import_roster(database, roster, actor="docs")
    request = parse_drill_request(
        {
            "name": "monthly",
            "stations": ["NBO", "GVA", "BKK", "SCL"],
            "cron": "0 10 1-7 * mon",
            "timezone": "UTC",
        }
    )
    templates = load_templates(SHIPPED_TEMPLATES)
    async with database.session() as session:
        await drills.add_drill(session, request, ADMIN, utc_now())
    async with database.session() as session:
        return await drills.run_drill(session, "monthly", ADMIN, templates)


async def _send(database: Database, settings: Settings) -> None:
    """Run the dispatcher until every message of the drill has gone out."""
    lanes = configured_lanes(
        settings,
        email=ConsoleEmailChannel(io.StringIO()),
        sms=ConsoleSmsChannel(io.StringIO()),
    )
    factory = MessageFactory(load_templates(SHIPPED_TEMPLATES), settings)
    dispatcher = Dispatcher(database, lanes, factory, settings.dispatch, SystemClock(), "docs")
    stopping = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stopping, 5.0))
    while not await _dispatched(database):  # noqa: ASYNC110 (the database says when)
        await asyncio.sleep(0.2)
    stopping.set()
    await running


async def _dispatched(database: Database) -> bool:
    async with database.session(read_only=True) as session:
        return await session.scalar(select(ALERT.c.status)) == "dispatched"


async def _answer(database: Database, alert: Alert) -> None:
    """Made-up answers: most within minutes, some late, a few never; one in twenty needs help."""
    rng = random.Random(12)
    assert alert.id is not None
    async with database.session(read_only=True) as session:
        query = select(RECIPIENT.c.person).where(RECIPIENT.c.alert_id == alert.id)
        people = sorted((await session.execute(query)).scalars())
        sms_people = set(
            (await session.execute(select(PERSON.c.id).where(PERSON.c.phone.is_not(None))))
            .scalars()
            .all()
        )
    answers = []
    for person in people:
        if rng.random() > 0.85:
            continue
        seconds = min(rng.lognormvariate(5.4, 0.9), 3500.0)  # median about 4 minutes
        draw = rng.random()
        kind = ResponseKind.HELP if draw < 0.05 else ResponseKind.OTHER if draw < 0.08 else None
        text = "2" if kind is ResponseKind.HELP else rng.choice(OWN_WORDS) if kind else "1"
        channel = Channel.SMS if person in sms_people else Channel.EMAIL
        answers.append(
            (seconds, Answer(alert.id, person, kind or ResponseKind.SAFE, channel, text))
        )
    for seconds, answer in sorted(answers, key=lambda pair: pair[0]):
        async with database.session() as session:
            await responses.record_answer(
                session, answer, alert.created_at + timedelta(seconds=seconds)
            )


if __name__ == "__main__":
    asyncio.run(main())
