"""Benchmark: the report of a 100,000-person alert, against one raw SQL query of its figures.

The people are inserted straight into the tables (the import is not what is measured); the
alert is raised and materialised through the store, as the daemon would. Answers are spread
over an hour (80 % answer; one in ten needs help), SMS is delivered to most, 2 % fail with
one of three reasons, e-mail is accepted for all; each message sent has its price. Timed:
`notifier.store.report_data` and `notifier.reports` for the JSON (read, computed, costs
summed, serialised) and for the PNG (the same, then drawn), against one raw SQL statement
counting recipients, answers and messages per state and reading the three percentiles by
rank with window functions (no list of people, no curve, no costs).

Run: `.venv/bin/python -m bench.report [--people 100000] [--postgres URL]`
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import bindparam, insert, select, text, update

from bench.roster_import import CONTACTS, MOBILE_PREFIX
from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Role
from notifier.report_output import ReportFormat, render
from notifier.roster_import import import_stations
from notifier.store import alerts, materialisation, schema
from notifier.store.engine import Database
from notifier.store.report_data import read_report
from notifier.store.tables import DELIVERY, PERSON, RECIPIENT, Alert
from notifier.store.types import utc_now
from tests.postgres import throwaway_schema

ADMIN = Principal("bench", Role.ADMIN)
HOUR = 3600.0
SMS_MICROS = 7_900  # 0.0079 a segment
EMAIL_MICROS = 100
REASONS = ("Twilio 21211: invalid number", "Twilio 30003: unreachable", "Twilio 30005: unknown")
RAW_FIGURES = """
WITH answered AS (
    SELECT first_response_at AS at,
           ROW_NUMBER() OVER (ORDER BY first_response_at) AS n,
           COUNT(*) OVER () AS total
    FROM recipient WHERE alert_id = :alert AND first_response_at IS NOT NULL
)
SELECT
    (SELECT COUNT(*) FROM recipient WHERE alert_id = :alert) AS recipients,
    (SELECT COUNT(*) FROM recipient WHERE alert_id = :alert AND response = 'safe') AS safe,
    (SELECT COUNT(*) FROM recipient WHERE alert_id = :alert AND response = 'help') AS help,
    (SELECT COUNT(*) FROM recipient WHERE alert_id = :alert AND response = 'other') AS other,
    (SELECT COUNT(*) FROM delivery WHERE alert_id = :alert AND purpose = 'alert'
        AND channel = 'sms' AND status = 'delivered') AS sms_delivered,
    (SELECT COUNT(*) FROM delivery WHERE alert_id = :alert AND purpose = 'alert'
        AND channel = 'sms' AND status = 'failed') AS sms_failed,
    (SELECT COUNT(*) FROM delivery WHERE alert_id = :alert AND purpose = 'alert'
        AND channel = 'email' AND status = 'sent') AS email_sent,
    (SELECT MAX(total) FROM answered) AS acknowledged,
    (SELECT at FROM answered WHERE n = (total * 50 + 99) / 100) AS p50,
    (SELECT at FROM answered WHERE n = (total * 90 + 99) / 100) AS p90,
    (SELECT at FROM answered WHERE n = (total * 99 + 99) / 100) AS p99
"""


async def prepare(database: Database, people: int) -> Alert:
    """Stations, `people` people, the alert to all of them with its answers and sends."""
    await schema.upgrade(database)
    await import_stations(database, CONTACTS / "stations.csv", actor="bench")
    stations = list(MOBILE_PREFIX)
    rows = [
        {
            "person_id": f"B{index:06d}",
            "name": f"Person {index}",
            "email": f"person.{index}@example.org",
            "phone": f"+1555{index:07d}",
            "station_code": stations[index % len(stations)],
            "language": "en",
            "active": True,
            "sms_opted_out": False,
            "created_at": utc_now(),
            "updated_at": utc_now(),
        }
        for index in range(people)
    ]
    async with database.session() as session:
        for start in range(0, people, 5000):
            await session.execute(insert(PERSON), rows[start : start + 5000])
    request = AlertRequest(title="Drill", message="Report in.", stations=tuple(stations))
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, ADMIN)
    assert alert.id is not None
    while True:
        async with database.session() as session:
            done = await materialisation.materialise_batch(session, alert.id, 20_000, utc_now())
        if done.finished:
            break
    await _answer_and_send(database, alert, people)
    return alert


async def _answer_and_send(database: Database, alert: Alert, people: int) -> None:
    rng = random.Random(7)
    async with database.session() as session:
        ids = list((await session.execute(select(PERSON.c.id).order_by(PERSON.c.id))).scalars())
    answers = []
    for person in ids[: int(people * 0.8)]:
        at = alert.created_at + timedelta(seconds=rng.expovariate(1 / 600) % HOUR)
        kind = "help" if rng.random() < 0.1 else "safe"
        answers.append({"p": person, "kind": kind, "at": at})
    r = RECIPIENT.c
    statement = (
        update(RECIPIENT)
        .where(r.alert_id == alert.id, r.person == bindparam("p"))
        .values(response=bindparam("kind"), first_response_at=bindparam("at"))
    )
    d = DELIVERY.c
    mine = (d.alert_id == alert.id) & (d.purpose == "alert")
    async with database.session() as session:
        for start in range(0, len(answers), 5000):
            await session.execute(statement, answers[start : start + 5000])
        sent_at = alert.created_at + timedelta(seconds=5)
        await session.execute(
            update(DELIVERY)
            .where(mine, d.channel == "sms")
            .values(status="delivered", sent_at=sent_at, segments=1, cost_micros=SMS_MICROS)
        )
        await session.execute(
            update(DELIVERY)
            .where(mine, d.channel == "email")
            .values(status="sent", sent_at=sent_at, cost_micros=EMAIL_MICROS)
        )
        for number, reason in enumerate(REASONS):
            failing = mine & (d.channel == "sms") & (d.person % 150 == number)
            await session.execute(
                update(DELIVERY).where(failing).values(status="failed", last_error=reason)
            )


async def time_formats(database: Database, alert: Alert) -> tuple[float, float, float, int]:
    """Seconds for the JSON report, the PNG report and the raw query; the JSON's size."""
    started = time.perf_counter()
    async with database.session(read_only=True) as session:
        report = await read_report(session, alert, "USD")
    size = len(render(alert, report, ReportFormat.JSON).content)
    json_seconds = time.perf_counter() - started
    started = time.perf_counter()
    async with database.session(read_only=True) as session:
        report = await read_report(session, alert, "USD")
    render(alert, report, ReportFormat.PNG)
    png_seconds = time.perf_counter() - started
    started = time.perf_counter()
    async with database.session(read_only=True) as session:
        figures = (await session.execute(text(RAW_FIGURES), {"alert": alert.id})).one()
    raw_seconds = time.perf_counter() - started
    assert figures.acknowledged == report.acknowledged, (figures, report.acknowledged)
    return json_seconds, png_seconds, raw_seconds, size


async def run(url: str, people: int) -> tuple[float, float, float, int]:
    """Prepare a database at `url` (a schema of its own on PostgreSQL) and time the report."""
    if url.startswith("postgresql"):
        async with throwaway_schema(url, "bench") as database:
            return await time_formats(database, await prepare(database, people))
    async with Database.open(url) as database:
        return await time_formats(database, await prepare(database, people))


def main() -> None:
    """Time the report on SQLite, and on PostgreSQL if given; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--postgres", metavar="URL", help="also time a PostgreSQL database at URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        targets = [("SQLite", f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}")]
        if args.postgres:
            targets.append(("PostgreSQL", args.postgres))
        print(f"people: {args.people}")
        for name, url in targets:
            json_seconds, png_seconds, raw_seconds, size = asyncio.run(run(url, args.people))
            print(
                f"{name}: JSON report {json_seconds:.2f} s ({size:,} bytes), "
                f"PNG report {png_seconds:.2f} s, raw SQL figures {raw_seconds:.2f} s"
            )


if __name__ == "__main__":
    main()
