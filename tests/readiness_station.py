"""NBO built to sit at a chosen readiness level (0 to 5) on 1 December 2026, through the store.

Ten people at NBO; drills are alerts of kind `drill` to NBO raised on the 15th of past months,
their recipients' answers written with known delays (30 s, 60 s, … by roster order), a drill
schedule, a focal point, "help" answers and the focal points' lists sent after them. Each
builder returns the keys of the criteria NBO misses.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update

from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import AlertKind, Role
from notifier.store import alerts, materialisation
from notifier.store.engine import Database
from notifier.store.tables import ALERT, DELIVERY, PERSON, RECIPIENT, DrillSchedule
from tests.seeding import seed

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ADMIN = Principal("admin", Role.ADMIN)
FOCAL_GROUP = "security-focal-points"
MONTHLY = [
    datetime(2025 + (month > 0), (month + 11) % 12 + 1, 15, 10, tzinfo=UTC) for month in range(12)
]
"""The 15th of each month from December 2025 to November 2026, 10:00 UTC."""
QUARTERLY = [datetime(2026, month, 15, 10, tzinfo=UTC) for month in (1, 4, 7, 10)]


def roster(*, email_only: int, focal: bool) -> list[str]:
    """Ten people at NBO, the last `email_only` of them without a phone; N00000 a focal point
    when `focal`."""
    rows = []
    for index in range(10):
        phone = "" if index >= 10 - email_only else f"+25472{index:07d}"
        groups = FOCAL_GROUP if focal and index == 0 else ""
        rows.append(f"N{index:05d},Person {index},n{index}@example.org,{phone},NBO,en,{groups}")
    return rows


async def raise_drill(database: Database, at: datetime, acknowledged: int) -> int:
    """A drill alert to NBO raised `at`; its first `acknowledged` recipients (by person_id)
    answer safe 30 s, 60 s, … after it. The alert's id."""
    request = AlertRequest(
        title="Monthly drill", message="This is a drill.", kind=AlertKind.DRILL, stations=("NBO",)
    )
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, ADMIN)
        assert alert.id is not None
        alert.created_at = at
    async with database.session() as session:
        done = await materialisation.materialise_batch(session, alert.id, 100, at)
        assert done.finished
        people = (await session.execute(select(PERSON.c.id).order_by(PERSON.c.person_id))).scalars()
        for index, person in enumerate(list(people)[:acknowledged]):
            answered = at + timedelta(seconds=30 * (index + 1))
            await session.execute(
                update(RECIPIENT)
                .where(RECIPIENT.c.alert_id == alert.id, RECIPIENT.c.person == person)
                .values(response="safe", first_response_at=answered, last_response_at=answered)
            )
    return alert.id


async def answer_help(database: Database, alert_id: int, *, listed: bool) -> None:
    """N00009 of the drill changes their answer to "help" 5 minutes after it; when `listed`,
    the focal point N00000 is sent the list 16 minutes after it."""
    async with database.session() as session:
        ids = dict((await session.execute(select(PERSON.c.person_id, PERSON.c.id))).all())
        created = (
            await session.execute(select(ALERT.c.created_at).where(ALERT.c.id == alert_id))
        ).scalar_one()
        await session.execute(
            update(RECIPIENT)
            .where(RECIPIENT.c.alert_id == alert_id, RECIPIENT.c.person == ids["N00009"])
            .values(response="help", last_response_at=created + timedelta(minutes=5))
        )
        if listed:
            sent = created + timedelta(minutes=16)
            await session.execute(
                insert(DELIVERY).values(
                    alert_id=alert_id,
                    person=ids["N00000"],
                    channel="email",
                    purpose="escalation",
                    round=1,
                    status="sent",
                    next_attempt_at=sent,
                    created_at=sent,
                    sent_at=sent,
                    body="needing help: Person 9",
                )
            )


async def add_schedule(database: Database, *, paused: bool = False) -> None:
    """A monthly drill schedule of NBO."""
    async with database.session() as session:
        session.add(
            DrillSchedule(
                name="nbo-monthly",
                stations=["NBO"],
                cron="0 10 15 * *",
                timezone="Africa/Nairobi",
                paused=paused,
                created_by="test",
            )
        )


async def drills(
    database: Database, times: Sequence[datetime], acknowledged: Sequence[int]
) -> list[int]:
    """A drill at each of `times`, acknowledged by as many as given; their ids."""
    return [
        await raise_drill(database, at, count)
        for at, count in zip(times, acknowledged, strict=True)
    ]


ALWAYS_MISSED_BELOW_4 = {"last_drill_acknowledged_advanced", "reachable_both", "sustained"}


async def build(database: Database, level: int) -> set[str]:
    """Make NBO sit at `level`; the keys of the criteria it misses."""
    if level == 0:
        await seed(database, roster(email_only=5, focal=False))
        return {
            "drill_run", "schedule", "quarterly", "reachable_sms", "monthly", "focal_point",
            "last_drill_acknowledged", "last_drill_acknowledged_advanced", "last_drill_p90",
            "reachable_both", "sustained", "not_falling",
        }  # fmt: skip
    if level == 1:
        await seed(database, roster(email_only=5, focal=False))
        await raise_drill(database, MONTHLY[-1], 5)
        return {
            "schedule", "quarterly", "reachable_sms", "monthly", "focal_point",
            "last_drill_acknowledged", "last_drill_acknowledged_advanced", "reachable_both",
            "sustained", "not_falling",
        }  # fmt: skip
    if level == 2:
        await seed(database, roster(email_only=1, focal=False))
        await add_schedule(database)
        await drills(database, QUARTERLY, [8] * 4)
        return {"monthly", "focal_point", *ALWAYS_MISSED_BELOW_4}
    if level == 3:
        await seed(database, roster(email_only=1, focal=True))
        await add_schedule(database)
        await drills(database, MONTHLY, [8] * 12)
        return ALWAYS_MISSED_BELOW_4
    await seed(database, roster(email_only=0, focal=True))
    await add_schedule(database)
    if level == 4:
        ids = await drills(database, MONTHLY, [10] * 10 + [8, 10])
        await answer_help(database, ids[-1], listed=True)
        return {"sustained", "not_falling"}
    ids = await drills(database, MONTHLY, [10] * 12)
    await answer_help(database, ids[-1], listed=True)
    return set()
