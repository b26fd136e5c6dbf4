"""Several `notifier serve` replicas on one database, for the fault tests: start, kill, count."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Role
from notifier.store import alerts
from notifier.store.engine import Database
from notifier.store.tables import DELIVERY
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilioServer
from tests.processes.daemons import daemon_environment, free_port, start_daemon, stop, wait_healthy

UNSETTLED = ("queued", "sending")
ALERT_TEXT = "Leave now."
"""The officer's text of the alerts raised here: it is in every alert message."""


@dataclass
class Replica:
    """One running daemon: its process, HTTP port and log."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def lease_name(self) -> str:
        """What its leases' `leased_by` contains: `-{pid}-` (see `daemon.worker_id`)."""
        return f"%-{self.process.pid}-%"


@dataclass
class Replicas:
    """Daemons sharing `database_url`, sending to the fakes; `settings` are NOTIFIER_* extras."""

    database_url: str
    smtp: FakeSmtpServer
    twilio: FakeTwilioServer
    directory: Path
    settings: Mapping[str, str] = field(default_factory=dict)
    running: list[Replica] = field(default_factory=list)
    started: int = 0

    async def start(self, count: int = 1) -> None:
        """Start `count` more replicas and wait until each answers /healthz."""
        for _ in range(count):
            port = free_port()
            env = daemon_environment(
                self.database_url, self.smtp.port, self.twilio.base_url, port, **self.settings
            )
            log = self.directory / f"replica-{self.started}.log"
            self.started += 1
            replica = Replica(start_daemon(env, log), port, log)
            self.running.append(replica)
            await wait_healthy(replica.process, port, log)

    def kill(self, replica: Replica) -> None:
        """SIGKILL `replica` and wait for it to be gone."""
        replica.process.send_signal(signal.SIGKILL)
        replica.process.wait(10)
        self.running.remove(replica)

    def stop_all(self) -> None:
        for replica in self.running:
            stop(replica.process)
        self.running.clear()

    def logs(self) -> str:
        return "".join(path.read_text() for path in sorted(self.directory.glob("replica-*.log")))


def sending_settings(sms_concurrency: int, email_pool: int, **more: str) -> dict[str, str]:
    """The settings of replicas with `sms_concurrency` SMS under way and `email_pool` SMTP
    connections each, and `more` (NOTIFIER_* names)."""
    return {
        "NOTIFIER_SMS__CONCURRENCY": str(sms_concurrency),
        "NOTIFIER_EMAIL__POOL_SIZE": str(email_pool),
        **more,
    }


def sent(smtp: FakeSmtpServer, twilio: FakeTwilioServer) -> int:
    """Messages the fakes received, SMS and e-mail."""
    return len(twilio.messages) + len(smtp.messages)


def reached(smtp: FakeSmtpServer, twilio: FakeTwilioServer) -> tuple[int, int]:
    """People sent an SMS, people sent an e-mail."""
    return (
        len({message.to for message in twilio.messages}),
        len({message.rcpt_tos for message in smtp.messages}),
    )


def duplicates(smtp: FakeSmtpServer, twilio: FakeTwilioServer) -> int:
    """Alert messages beyond the first to the same address on the same channel (an answer's
    confirmation SMS is another message, not a repeat)."""
    sms = Counter(message.to for message in twilio.messages if ALERT_TEXT in message.body)
    mail = Counter(message.rcpt_tos for message in smtp.messages)
    return sum(sms.values()) - len(sms) + sum(mail.values()) - len(mail)


async def raise_alert(database: Database, title: str = "Earthquake") -> None:
    """An emergency for NBO on every channel, as an officer raises it."""
    async with database.session() as session:
        request = AlertRequest(title=title, message=ALERT_TEXT, stations=("NBO",))
        await alerts.create_alert(session, request, Principal("officer", Role.ADMIN))


async def unsettled(database: Database) -> int:
    """Deliveries still queued or being sent."""
    async with database.session(read_only=True) as session:
        query = select(func.count()).where(DELIVERY.c.status.in_(UNSETTLED))
        return int((await session.execute(query)).scalar_one())


async def held_by(database: Database, replica: Replica) -> set[int]:
    """The deliveries `replica` holds under lease."""
    async with database.session(read_only=True) as session:
        query = select(DELIVERY.c.id).where(
            (DELIVERY.c.status == "sending") & DELIVERY.c.leased_by.like(replica.lease_name)
        )
        return set((await session.execute(query)).scalars())


async def still_unsent(database: Database, ids: set[int]) -> int:
    """How many of `ids` are not sent yet."""
    async with database.session(read_only=True) as session:
        query = select(func.count()).where(
            DELIVERY.c.id.in_(sorted(ids)) & DELIVERY.c.status.in_(UNSETTLED)
        )
        return int((await session.execute(query)).scalar_one())


async def settle(database: Database, replicas: Replicas, patience: float) -> float:
    """Wait until no delivery is queued or being sent (or `patience` seconds); seconds taken."""
    began = time.monotonic()
    while time.monotonic() - began < patience:
        if not await unsettled(database):
            break
        assert replicas.running, "no replica left"
        await asyncio.sleep(0.2)
    return time.monotonic() - began
