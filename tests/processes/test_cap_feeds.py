"""`notifier serve` polling a CAP feed: one replica of two polls it, and the other takes over
when that one dies."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import Table, func, select, text

from notifier.cap_feed_poller import APPLICATION_NAME
from notifier.store import schema
from notifier.store.engine import Database
from notifier.store.tables import ALERT, CAP_FEED_ENTRY
from tests.cap_stations import example, seed_cap_world
from tests.fakes.feed_server import FeedServer
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilioServer
from tests.processes.daemons import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    daemon_environment,
    free_port,
    start_daemon,
    stop,
    wait_healthy,
)
from tests.test_cap_feed_poller import atom

FEED = "/warnings.atom"
POLLERS = text(
    "SELECT application_name FROM pg_stat_activity"
    " WHERE datname = current_database() AND application_name LIKE :name"
)


async def _wait_for(database: Database, table: Table, count: int, what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        async with database.session(read_only=True) as session:
            found = await session.scalar(select(func.count()).select_from(table))
        if found == count:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: {found} rows, not {count}, after 30 s")


async def _pollers(database: Database) -> list[str]:
    async with database.session(read_only=True) as session:
        rows = await session.execute(POLLERS, {"name": f"{APPLICATION_NAME} %"})
        return list(rows.scalars())


@pytest.mark.postgres
async def test_one_replica_polls_and_another_takes_over_when_it_dies(
    postgres_database: str, tmp_path: Path
) -> None:
    async with (
        Database.open(postgres_database) as database,
        FeedServer() as feeds,
        FakeSmtpServer() as smtp,
        FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN) as twilio,
    ):
        await schema.upgrade(database)
        await seed_cap_world(database)
        feeds.publish("/cap/quake.xml", example("EarthquakeReport"), "application/cap+xml")
        feeds.publish("/cap/amber.xml", example("AmberAlert"), "application/cap+xml")
        feeds.publish(FEED, atom(("urn:quake", "/cap/quake.xml")))
        config = tmp_path / "notifier.toml"
        config.write_text(
            '[cap.geocodes.SAME]\n"006037" = ["LAX"]\n'  # the AMBER alert's county
            f'[[cap.feeds]]\nurl = "{feeds.url(FEED)}"\nevery_seconds = 1\n'
        )
        daemons = []
        try:
            for index in range(2):
                port = free_port()
                env = daemon_environment(
                    postgres_database, smtp.port, twilio.base_url, port, NOTIFIER_CONFIG=str(config)
                )
                log = tmp_path / f"daemon-{index}.log"
                daemons.append((start_daemon(env, log), port, log))
            for process, port, log in daemons:
                await wait_healthy(process, port, log)
            await _wait_for(database, ALERT, 1, "the feed's first message as a draft")
            [holder] = await _pollers(database)
            polled = feeds.reads(FEED) + feeds.not_modified(FEED)
            await asyncio.sleep(3)  # every second, by one replica: about three more polls
            assert 2 <= feeds.reads(FEED) + feeds.not_modified(FEED) - polled <= 5
            assert await _pollers(database) == [holder]
            # The holder dies without a word; the other polls from its next try.
            [dead] = [process for process, _, _ in daemons if f"-{process.pid}-" in holder]
            dead.kill()
            dead.wait()
            feeds.publish(
                FEED, atom(("urn:quake", "/cap/quake.xml"), ("urn:amber", "/cap/amber.xml"))
            )
            await _wait_for(database, ALERT, 2, "the new entry, imported by the survivor")
            [survivor] = await _pollers(database)
            assert survivor != holder
            await _wait_for(database, CAP_FEED_ENTRY, 2, "each entry remembered once")
        finally:
            for process, _, _ in daemons:
                stop(process)
