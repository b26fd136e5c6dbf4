"""Escalation: silent people are chased on their other channel and focal points get the list."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.dispatch.escalator import Escalator
from notifier.domain import Channel, Language, ResponseKind, Role
from notifier.escalation import ListedPerson, focal_point_list, next_round_at, resend_channels
from notifier.messages import load_templates
from notifier.settings import AlertsSettings, EscalationSettings
from notifier.store import alerts, materialisation, responses
from notifier.store.engine import Database
from notifier.store.tables import ALERT, DELIVERY, PERSON, RECIPIENT, AuditEntry
from tests.clock import HandClock
from tests.seeding import seed

REPOSITORY = Path(__file__).parent.parent.parent
TEMPLATES = load_templates(REPOSITORY / "config" / "templates")
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
TIMEOUT = timedelta(minutes=15)
FOCAL = "security-focal-points"
ROWS = [
    "SAFE1,Amina Safe,safe@example.org,+254733100001,NBO,en,",
    "HELP1,Brian Help,help@example.org,+254733100002,NBO,en,",
    "QUIET1,Carol Quiet,quiet@example.org,+254733100003,NBO,en,",
    "MAIL1,Dawit Mailonly,mail@example.org,,NBO,en,",
    f"FOCAL1,Esther Focal,focal@example.org,+254733100005,NBO,fr,{FOCAL}",
    f"FOCAL2,Farid Focal,,+41227000005,GVA,ar,{FOCAL}",
]


def test_the_first_round_is_due_a_timeout_after_the_alert() -> None:
    """Round one falls the timeout after the alert; later ones when the last round said."""
    later = T0 + timedelta(hours=1)
    assert next_round_at(T0, None, 0, TIMEOUT) == T0 + TIMEOUT
    assert next_round_at(T0, later, 1, TIMEOUT) == later


@pytest.mark.parametrize(
    ("reached", "reachable", "expected"),
    [
        ({Channel.SMS}, {Channel.SMS, Channel.EMAIL}, {Channel.EMAIL}),
        ({Channel.EMAIL}, {Channel.SMS, Channel.EMAIL}, {Channel.SMS}),
        ({Channel.SMS}, {Channel.SMS}, {Channel.SMS}),
        ({Channel.SMS, Channel.EMAIL}, {Channel.SMS, Channel.EMAIL}, {Channel.SMS, Channel.EMAIL}),
        ({Channel.SMS}, set(), set()),
    ],
)
def test_resend_prefers_the_channel_not_tried(
    reached: set[Channel], reachable: set[Channel], expected: set[Channel]
) -> None:
    """The other channel when the person has it; the same one when it is all they have."""
    assert resend_channels(reached, reachable) == expected


def test_the_list_puts_help_first_and_is_cut_for_sms() -> None:
    """Help before silence, each with a phone number; a short list says how many are left out."""
    people = [ListedPerson(f"P{i}", f"Name {i}", f"+2547{i:08d}") for i in range(5)]
    words = TEMPLATES.strings[next(iter(TEMPLATES.strings))]
    subject, body = focal_point_list(
        words,
        station="NBO",
        title="Fire\r\nBcc: x",
        needing_help=people[:1],
        not_answered=people[1:],
        max_lines=3,
    )
    assert "\n" not in subject and "Fire Bcc: x" in subject
    lines = body.splitlines()
    assert lines.index("- Name 0 (P0) +254700000000") < lines.index("- Name 1 (P1) +254700000001")
    assert "- Name 3 (P3) +254700000003" not in lines
    assert "+2" in lines


class Setting:
    """An alert to NBO by SMS, answered by two of its people; an escalator on a hand clock."""

    def __init__(
        self, database: Database, max_rounds: int = 2, auto_close_hours: float = 72
    ) -> None:
        self.database = database
        self.clock = HandClock(T0)
        self.wakes = 0
        settings = EscalationSettings(
            ack_timeout_minutes=15, focal_point_group=FOCAL, max_rounds=max_rounds
        )
        self.escalator = Escalator(
            database,
            TEMPLATES,
            settings,
            self.clock,
            self.wake,
            alert_settings=AlertsSettings(auto_close_hours=auto_close_hours),
        )
        self.alert_id = 0

    def wake(self) -> None:
        """Count the dispatcher's wake-ups."""
        self.wakes += 1

    async def raise_alert(self) -> None:
        """Raise the alert at T0, list its audience and record the two answers."""
        await seed(self.database, ROWS)
        request = AlertRequest(
            title="Fire", message="Leave.", stations=("NBO",), channels=(Channel.SMS,)
        )
        async with self.database.session() as session:
            alert = await alerts.create_alert(session, request, Principal("a", Role.ADMIN))
        assert alert.id is not None
        async with self.database.session() as session:
            await session.execute(update(ALERT).where(ALERT.c.id == alert.id).values(created_at=T0))
        self.alert_id = alert.id
        async with self.database.session() as session:
            while not (
                await materialisation.materialise_batch(session, alert.id, 100, T0)
            ).finished:
                pass
        await self.answer("SAFE1", "safe")
        await self.answer("HELP1", "help")

    async def answer(self, person_id: str, kind: str) -> None:
        """Record a person's answer as the reply paths do."""
        async with self.database.session() as session:
            person = select(PERSON.c.id).where(PERSON.c.person_id == person_id).scalar_subquery()
            await session.execute(
                update(RECIPIENT)
                .where(RECIPIENT.c.alert_id == self.alert_id, RECIPIENT.c.person == person)
                .values(response=kind, first_response_at=self.clock.at)
            )

    async def reply(self, person_id: str, kind: ResponseKind, text: str) -> None:
        """Record an answer with its text through the store function the reply paths use."""
        async with self.database.session() as session:
            query = select(PERSON.c.id).where(PERSON.c.person_id == person_id)
            person = (await session.execute(query)).scalar_one()
            answer = responses.Answer(self.alert_id, person, kind, Channel.SMS, text)
            await responses.record_answer(session, answer, self.clock.at)

    async def deliveries(self, purpose: str = "alert") -> list[tuple[str, str, int]]:
        """(person_id, channel, round) of the alert's deliveries of one purpose."""
        query = (
            select(PERSON.c.person_id, DELIVERY.c.channel, DELIVERY.c.round)
            .join(PERSON, PERSON.c.id == DELIVERY.c.person)
            .where(DELIVERY.c.alert_id == self.alert_id, DELIVERY.c.purpose == purpose)
        )
        async with self.database.session() as session:
            return sorted(tuple(row) for row in await session.execute(query))

    async def status(self) -> tuple[str, datetime | None]:
        """The alert's status and the time it was closed, if it was."""
        query = select(ALERT.c.status, ALERT.c.closed_at).where(ALERT.c.id == self.alert_id)
        async with self.database.session() as session:
            status, closed_at = (await session.execute(query)).one()
        return status, closed_at

    async def lists(self) -> list[tuple[str, str, str | None, str]]:
        """(person_id, channel, subject, body) of the focal points' lists."""
        query = (
            select(PERSON.c.person_id, DELIVERY.c.channel, DELIVERY.c.subject, DELIVERY.c.body)
            .join(PERSON, PERSON.c.id == DELIVERY.c.person)
            .where(DELIVERY.c.purpose == "escalation")
            .order_by(DELIVERY.c.id)
        )
        async with self.database.session() as session:
            return [tuple(row) for row in await session.execute(query)]


def test_the_list_quotes_what_people_wrote_cut_for_sms() -> None:
    """Someone's own words follow their line, cut to the length given; silence adds nothing."""
    words = TEMPLATES.strings[Language.EN]
    needing = [ListedPerson("P0", "Name 0", "+254700000000", "my leg is broken, floor 3 " * 5)]
    quiet = [ListedPerson("P1", "Name 1", "+254700000001")]
    _, body = focal_point_list(
        words,
        station="NBO",
        title="Fire",
        needing_help=needing,
        not_answered=quiet,
        max_lines=8,
        max_text=30,
    )
    lines = body.splitlines()
    assert '- Name 0 (P0) +254700000000 "my leg is broken, floor 3 m..."' in lines
    assert "- Name 1 (P1) +254700000001" in lines


async def test_nothing_happens_before_the_timeout(database: Database) -> None:
    """A minute before the timeout no round runs and nothing is queued."""
    setting = Setting(database)
    await setting.raise_alert()
    before = await setting.deliveries()
    setting.clock.at = T0 + TIMEOUT - timedelta(minutes=1)
    assert await setting.escalator.run_due() == 0
    assert await setting.deliveries() == before
    assert await setting.lists() == []


async def test_silent_people_are_chased_and_focal_points_told(database: Database) -> None:
    """After the timeout: the silent are sent the alert on e-mail, the focal point the list."""
    setting = Setting(database)
    await setting.raise_alert()
    setting.clock.at = T0 + TIMEOUT
    assert await setting.escalator.run_due() == 1
    resent = [row for row in await setting.deliveries() if row[2] == 1]
    assert resent == [("FOCAL1", "email", 1), ("MAIL1", "email", 1), ("QUIET1", "email", 1)]
    [(focal, channel, subject, body)] = await setting.lists()
    assert (focal, channel) == ("FOCAL1", "email")
    assert subject == "Sans réponse : Fire"
    assert body.startswith("NBO : 1 ont besoin d'aide, 3 n'ont pas répondu.")
    assert "- Brian Help (HELP1) +254733100002" in body
    assert "- Carol Quiet (QUIET1) +254733100003" in body
    assert "- Dawit Mailonly (MAIL1) mail@example.org" in body
    assert "SAFE1" not in body
    assert setting.wakes == 1


async def test_the_list_shows_help_that_stands_with_its_text(database: Database) -> None:
    """ "2" then "my leg is broken" by SMS: the person is still listed as needing help, with
    the text; the silent are listed without any."""
    setting = Setting(database)
    await setting.raise_alert()
    await setting.reply("QUIET1", ResponseKind.HELP, "2")
    await setting.reply("QUIET1", ResponseKind.OTHER, "my leg is broken")
    setting.clock.at = T0 + TIMEOUT
    assert await setting.escalator.run_due() == 1
    [(_, _, _, body)] = await setting.lists()
    assert body.startswith("NBO : 2 ont besoin d'aide, 2 n'ont pas répondu.")
    lines = body.splitlines()
    assert '- Carol Quiet (QUIET1) +254733100003 "my leg is broken"' in lines
    assert "- Brian Help (HELP1) +254733100002" in lines
    assert "- Dawit Mailonly (MAIL1) mail@example.org" in lines


async def test_the_list_quotes_a_first_answer_in_words(database: Database) -> None:
    """ "my leg is broken" as the only answer: the focal point reads it under its own heading,
    between those who need help and the silent."""
    setting = Setting(database)
    await setting.raise_alert()
    await setting.reply("QUIET1", ResponseKind.OTHER, "my leg is broken")
    setting.clock.at = T0 + TIMEOUT
    assert await setting.escalator.run_due() == 1
    [(_, _, _, body)] = await setting.lists()
    lines = body.splitlines()
    quoted = lines.index('- Carol Quiet (QUIET1) +254733100003 "my leg is broken"')
    heading = lines.index(TEMPLATES.strings[Language.FR]["escalation.other_heading"] + ":")
    assert lines.index("- Brian Help (HELP1) +254733100002") < heading < quoted
    assert quoted < lines.index("- Dawit Mailonly (MAIL1) mail@example.org")


async def test_an_answer_stops_the_chase_and_rounds_end(database: Database) -> None:
    """Who answers after round one is not chased in round two; no round three."""
    setting = Setting(database)
    await setting.raise_alert()
    setting.clock.at = T0 + TIMEOUT
    assert await setting.escalator.run_due() == 1
    assert await setting.escalator.run_due() == 0  # the next round is a timeout away
    await setting.answer("QUIET1", "safe")
    setting.clock.at = T0 + 2 * TIMEOUT
    assert await setting.escalator.run_due() == 1
    second = [row[0] for row in await setting.deliveries() if row[2] == 2]
    assert "QUIET1" not in second and "MAIL1" in second
    setting.clock.at = T0 + 10 * TIMEOUT
    assert await setting.escalator.run_due() == 0


async def test_a_cancelled_alert_escalates_no_more(database: Database) -> None:
    """Cancelling the alert stops its escalation."""
    setting = Setting(database)
    await setting.raise_alert()
    async with database.session() as session:
        await alerts.cancel_alert(session, setting.alert_id, Principal("a", Role.ADMIN))
    setting.clock.at = T0 + TIMEOUT
    assert await setting.escalator.run_due() == 0
    assert await setting.lists() == []


async def test_a_round_runs_once_whoever_runs_it(database: Database) -> None:
    """Two escalators at the same moment (two replicas): the round runs once."""
    setting, other = Setting(database), Setting(database)
    await setting.raise_alert()
    other.clock.at = setting.clock.at = T0 + TIMEOUT
    ran = await asyncio.gather(setting.escalator.run_due(), other.escalator.run_due())
    assert sum(ran) == 1
    assert len(await setting.lists()) == 1


async def test_no_rounds_when_turned_off(database: Database) -> None:
    """max_rounds = 0 turns escalation off."""
    setting = Setting(database, max_rounds=0)
    await setting.raise_alert()
    setting.clock.at = T0 + 5 * TIMEOUT
    assert await setting.escalator.run_due() == 0


async def test_a_closed_alert_escalates_no_more(database: Database) -> None:
    """Closing the alert stops its escalation: no resend, no list, at any later time."""
    setting = Setting(database)
    await setting.raise_alert()
    before = await setting.deliveries()
    async with database.session() as session:
        await alerts.close_alert(session, setting.alert_id, Principal("a", Role.ADMIN))
    for rounds in (1, 2, 10):
        setting.clock.at = T0 + rounds * TIMEOUT
        assert await setting.escalator.run_due() == 0
    assert await setting.deliveries() == before
    assert await setting.lists() == []


async def test_an_alert_closes_by_itself_before_its_next_round(database: Database) -> None:
    """An alert raised `auto_close_hours` ago is closed before a due round runs: closed at the
    clock's time, its queued messages cancelled, the closing audited as the notifier's."""
    setting = Setting(database, max_rounds=10, auto_close_hours=1)
    await setting.raise_alert()
    for minutes in (15, 30, 45):
        setting.clock.at = T0 + timedelta(minutes=minutes)
        assert await setting.escalator.run_due() == 1
    setting.clock.at = T0 + timedelta(minutes=59)
    assert await setting.escalator.run_due() == 0
    assert await setting.status() == ("dispatching", None)
    setting.clock.at = T0 + timedelta(hours=1)  # round four is due, and so is the closing
    assert await setting.escalator.run_due() == 0
    assert await setting.status() == ("closed", T0 + timedelta(hours=1))
    assert len(await setting.lists()) == 3
    async with database.session() as session:
        query = select(DELIVERY.c.status).where(DELIVERY.c.alert_id == setting.alert_id)
        assert set((await session.execute(query)).scalars()) == {"cancelled"}
        query = select(AuditEntry).where(col(AuditEntry.action) == "alert.close")
        [entry] = (await session.execute(query)).scalars()
    assert (entry.actor, entry.target) == ("notifier", f"alert:{setting.alert_id}")
    assert entry.details == {"automatic": True}


async def test_an_alert_closes_by_itself_once_whoever_closes_it(database: Database) -> None:
    """Two escalators closing old alerts at the same moment (two replicas) close it once."""
    setting, other = Setting(database, auto_close_hours=1), Setting(database, auto_close_hours=1)
    await setting.raise_alert()
    other.clock.at = setting.clock.at = T0 + timedelta(hours=2)
    closed = await asyncio.gather(
        setting.escalator.close_expired(), other.escalator.close_expired()
    )
    assert sorted(closed) == [[], [setting.alert_id]]
    async with database.session() as session:
        query = select(col(AuditEntry.id)).where(col(AuditEntry.action) == "alert.close")
        assert len((await session.execute(query)).all()) == 1
