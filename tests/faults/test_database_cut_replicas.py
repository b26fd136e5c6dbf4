"""PostgreSQL cut from every replica mid fan-out, during a burst of replies, then restored:
the replicas live on, everyone is reached, and every reply is recorded once.

The replies come as Twilio posts them, from keep-alive senders spread over the replicas; a
reply not answered 200 is posted again (to the other replica), as Twilio's fallback URL does.
The figures of the whole set (messages sent twice, replies answered during the cut, how long
until sending resumed) are printed for docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from twilio.request_validator import RequestValidator

from notifier.store import schema
from notifier.store.engine import Database
from notifier.store.tables import PERSON, RECIPIENT, RESPONSE
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilioServer
from tests.faults.replicas import (
    Replicas,
    duplicates,
    raise_alert,
    reached,
    sending_settings,
    sent,
    settle,
)
from tests.processes.daemons import ACCOUNT_SID, AUTH_TOKEN
from tests.processes.tcp_proxy import TcpProxy
from tests.seeding import nairobi_people, seed
from tests.sms_replies import reply_form

PEOPLE = 1000
REPLYING = 400
"""People who reply (the first ones): enough for the burst to span the cut."""
REPLICAS = 2
SMS_CONCURRENCY = 8
EMAIL_POOL = 4
SENDERS = 32
OUTAGE_SECONDS = 5.0
SETTLE_PATIENCE_SECONDS = 120
REPLY_PATIENCE_SECONDS = 120
PATH = "/webhooks/twilio/sms"


class Burst:
    """Replies posted until each is answered 200; what happened to them on the way."""

    def __init__(self, ports: list[int], forms: list[dict[str, str]]) -> None:
        self._urls = itertools.cycle(f"http://127.0.0.1:{port}{PATH}" for port in ports)
        self._queue = list(reversed(forms))
        self._validator = RequestValidator(AUTH_TOKEN)
        self.answered: set[str] = set()
        self.refused: Counter[str] = Counter()
        """Posts answered with anything but 200 (by status), or not answered at all (by error)."""
        self.answered_at: list[float] = []

    async def run(self) -> None:
        # aiohttp rather than httpx: with this many senders httpx's pool, not the replicas,
        # would set the pace (bench/replies.py measured it).
        timeout = aiohttp.ClientTimeout(total=15)
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=SENDERS), timeout=timeout
        ) as client:
            await asyncio.gather(*(self._sender(client) for _ in range(SENDERS)))

    async def _sender(self, client: aiohttp.ClientSession) -> None:
        began = time.monotonic()
        while self._queue:
            form = self._queue.pop()
            while time.monotonic() - began < REPLY_PATIENCE_SECONDS:
                url = next(self._urls)
                signature = self._validator.compute_signature(url, form)
                try:
                    async with client.post(
                        url, data=form, headers={"X-Twilio-Signature": signature}
                    ) as response:
                        await response.read()
                    if response.status == 200:
                        self.answered.add(form["MessageSid"])
                        self.answered_at.append(time.monotonic())
                        break
                    self.refused[str(response.status)] += 1
                except (aiohttp.ClientError, TimeoutError) as error:
                    self.refused[type(error).__name__] += 1
                await asyncio.sleep(0.2)


async def _materialised(database: Database) -> None:
    query = select(func.count()).select_from(RECIPIENT)
    while True:
        async with database.session(read_only=True) as session:
            if (await session.scalar(query)) == PEOPLE:
                return
        await asyncio.sleep(0.05)


async def _recorded(database: Database) -> tuple[set[str], int]:
    """The MessageSids recorded as answers, and how many answer rows hold one."""
    async with database.session(read_only=True) as session:
        sids = await session.execute(select(RESPONSE.c.provider_message_id))
        found = [sid for sid in sids.scalars() if sid is not None]
    return set(found), len(found)


@pytest.mark.postgres
async def test_replicas_wait_out_a_database_cut_during_a_burst_of_replies(
    postgres_database: str, tmp_path: Path
) -> None:
    """Two replicas reach PostgreSQL through a proxy; a third of the way through the alert,
    with replies pouring in, the proxy cuts every connection for 5 s. Afterwards everyone
    has both messages, at most what was in flight twice, and every reply one answer row."""
    async with Database.open(postgres_database) as database:
        await schema.upgrade(database)
        await seed(database, nairobi_people(PEOPLE))
        async with database.session(read_only=True) as session:
            phones = list(
                (await session.execute(select(PERSON.c.phone).order_by(PERSON.c.id))).scalars()
            )
        forms = [
            reply_form(ACCOUNT_SID, phone, index) for index, phone in enumerate(phones[:REPLYING])
        ]
        target = make_url(postgres_database)
        async with (
            TcpProxy(target.port or 5432, target.host or "127.0.0.1") as proxy,
            FakeSmtpServer() as smtp,
            FakeTwilioServer(ACCOUNT_SID, AUTH_TOKEN, delay=0.02) as twilio,
        ):
            through_proxy = target.set(host="127.0.0.1", port=proxy.port)
            replicas = Replicas(
                through_proxy.render_as_string(hide_password=False),
                smtp,
                twilio,
                tmp_path,
                sending_settings(SMS_CONCURRENCY, EMAIL_POOL, NOTIFIER_LOGGING__LEVEL="info"),
            )
            try:
                await replicas.start(REPLICAS)
                await raise_alert(database)
                await _materialised(database)
                burst = Burst([replica.port for replica in replicas.running], forms)
                replying = asyncio.create_task(burst.run())
                while sent(smtp, twilio) < 2 * PEOPLE // 3:
                    await asyncio.sleep(0.01)
                proxy.cut()
                cut_at, at_cut = time.monotonic(), sent(smtp, twilio)
                replies_at_cut = len(burst.answered)
                await asyncio.sleep(OUTAGE_SECONDS)
                proxy.restore()
                restored_at, at_restore = time.monotonic(), sent(smtp, twilio)
                while sent(smtp, twilio) == at_restore:
                    await asyncio.sleep(0.01)
                resumed = time.monotonic() - restored_at
                await replying
                replied = time.monotonic() - restored_at
                took = await settle(database, replicas, SETTLE_PATIENCE_SECONDS)
                alive = [replica.process.poll() is None for replica in replicas.running]
            finally:
                replicas.stop_all()
            recorded, rows = await _recorded(database)
    logs = replicas.logs()
    assert all(alive), f"a replica died during the cut:\n{logs[-3000:]}"
    assert '"database_unavailable"' in logs, "the cut never reached the replicas"
    assert reached(smtp, twilio) == (PEOPLE, PEOPLE), logs[-3000:]
    twice = duplicates(smtp, twilio)
    bound = REPLICAS * (SMS_CONCURRENCY + EMAIL_POOL)
    assert twice <= bound, f"{twice} messages sent twice, more than the {bound} in flight"
    assert len(burst.answered) == REPLYING, f"{REPLYING - len(burst.answered)} replies not taken"
    assert (len(recorded), rows) == (REPLYING, REPLYING), "a reply lost or recorded twice"
    during = sum(cut_at < at < restored_at for at in burst.answered_at)
    print(
        f"\n{REPLICAS} replicas, {PEOPLE} people × 2 channels, cut {OUTAGE_SECONDS:.0f} s at "
        f"{at_cut} sent ({replies_at_cut} replies taken); {at_restore - at_cut} sent during the "
        f"cut, {during} replies answered during it, posts refused {dict(burst.refused)}; sending "
        f"resumed {resumed:.1f} s after the restore, the replies all taken {replied:.1f} s after it, all settled {took:.1f} s later; lost 0; "
        f"sent twice {twice} (≤ {bound}); replies recorded {len(recorded)}, once each"
    )
