"""A lane's senders take the most urgent delivery it holds, chosen when the rate lets it go,
and hold back less urgent ones while more urgent work is not yet sent; it gives way to one
still queued."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from notifier.channels.console import ConsoleSmsChannel
from notifier.dispatch.lane import Job, Lane
from notifier.dispatch.rate_limit import TokenBucket
from notifier.dispatch.rendering import Addressee
from notifier.domain import PRIORITY_OF_KIND, AlertKind, Channel, Language
from notifier.store.sending import ClaimedDelivery

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DRILL = PRIORITY_OF_KIND[AlertKind.DRILL]
EMERGENCY = PRIORITY_OF_KIND[AlertKind.EMERGENCY]


def job(delivery_id: int, priority: int) -> Job:
    """A claimed SMS delivery of an alert of `priority`."""
    delivery = ClaimedDelivery(
        delivery_id, 1, delivery_id, Channel.SMS, 1, 0, NOW, priority=priority
    )
    return Job(delivery, None, Addressee(delivery_id, "+254700000000", None, Language.EN))


def lane() -> Lane:
    """An SMS lane of two senders."""
    return Lane(Channel.SMS, ConsoleSmsChannel(), 2, TokenBucket(1000))


async def still_waiting(task: asyncio.Task[Job]) -> bool:
    """Whether `task` is still waiting after its lane had time to look again."""
    await asyncio.sleep(0.3)
    return not task.done()


async def test_the_most_urgent_held_delivery_goes_first() -> None:
    """Drill deliveries claimed first, an emergency's after: the emergency's go first, then
    the drill's in the order claimed."""
    sms = lane()
    sms.took([job(1, DRILL), job(2, DRILL)])
    sms.took([job(3, EMERGENCY), job(4, EMERGENCY)])
    taken = [(await sms.next_job()).delivery.id for _ in range(4)]
    assert taken == [3, 4, 1, 2]
    assert sms.holds_less_urgent_than(EMERGENCY)
    for delivery_id in taken:
        sms.finished_one(delivery_id)
    assert not sms.holds_less_urgent_than(EMERGENCY)


async def test_a_sender_waiting_for_the_rate_chooses_when_its_turn_comes() -> None:
    """A sender waiting its turn at the lane's rate holds no delivery: an emergency's
    claimed while it waits is the one it sends, before the drill's claimed earlier."""
    sms = Lane(Channel.SMS, ConsoleSmsChannel(), 2, TokenBucket(5, burst=1))
    sms.took([job(1, DRILL), job(2, DRILL)])
    assert (await sms.next_job()).delivery.id == 1  # the one token there was
    waiting = asyncio.create_task(sms.next_job())  # its turn in about 200 ms
    await asyncio.sleep(0.05)
    assert not waiting.done()
    sms.took([job(3, EMERGENCY)])
    assert (await asyncio.wait_for(waiting, 5)).delivery.id == 3
    assert [entry[2].delivery.id for entry in sms.jobs] == [2]


async def test_less_urgent_deliveries_wait_while_an_emergency_is_materialised() -> None:
    """While an emergency is still being put in the outbox, a held drill delivery is not
    taken; an emergency delivery claimed meanwhile is; once it is all in, the drill goes on."""
    sms = lane()
    sms.took([job(1, DRILL)])
    sms.hold_back(EMERGENCY)
    first = asyncio.create_task(sms.next_job())
    assert await still_waiting(first)
    sms.took([job(2, EMERGENCY)])
    assert (await asyncio.wait_for(first, 5)).delivery.id == 2
    second = asyncio.create_task(sms.next_job())
    assert await still_waiting(second)
    sms.hold_back(DRILL)  # only the drill itself is left to materialise
    assert (await asyncio.wait_for(second, 5)).delivery.id == 1


async def test_nothing_to_hold_back_for_holds_nothing_back() -> None:
    """With nothing to hold back for, or only the drill itself, the drill is taken at once."""
    sms = lane()
    sms.took([job(1, DRILL), job(2, DRILL)])
    sms.hold_back(None)
    assert (await asyncio.wait_for(sms.next_job(), 5)).delivery.id == 1
    sms.hold_back(DRILL)
    assert (await asyncio.wait_for(sms.next_job(), 5)).delivery.id == 2


async def test_deliveries_just_queued_hold_back_what_is_less_urgent_at_once() -> None:
    """Told that emergency deliveries were queued, the lane sends no more of the drill it
    holds; told of the drill's own, it holds nothing back; the outbox's word prevails."""
    sms = lane()
    sms.took([job(1, DRILL), job(2, DRILL)])
    sms.hold_back_also(DRILL)
    assert (await asyncio.wait_for(sms.next_job(), 5)).delivery.id == 1
    sms.hold_back_also(EMERGENCY)
    waiting = asyncio.create_task(sms.next_job())
    assert await still_waiting(waiting)
    sms.hold_back_also(DRILL)  # less urgent than what is held back for: no change
    assert await still_waiting(waiting)
    sms.reading_outbox()  # the next pass of the outbox: the emergency is all sent
    sms.hold_back(None)
    assert (await asyncio.wait_for(waiting, 5)).delivery.id == 2


async def test_what_was_queued_while_the_outbox_was_read_stays_held_back() -> None:
    """The outbox is read, an emergency is queued (another replica's news), then the lane is
    told what was read, which knew only the drill: it still holds the drill back, until what
    is read after the emergency was queued says it is gone."""
    sms = lane()
    sms.took([job(1, DRILL), job(2, DRILL)])
    sms.reading_outbox()
    sms.hold_back_also(EMERGENCY)
    sms.hold_back(DRILL)  # as read before the emergency was queued
    waiting = asyncio.create_task(sms.next_job())
    assert await still_waiting(waiting), "the drill went out with the emergency unsent"
    sms.reading_outbox()
    sms.hold_back(EMERGENCY)  # read after: its messages unsent
    assert await still_waiting(waiting)
    sms.reading_outbox()
    sms.hold_back(DRILL)  # the emergency all sent
    assert (await asyncio.wait_for(waiting, 5)).delivery.id == 1


async def test_a_lane_gives_way_with_what_no_sender_has_begun() -> None:
    """Giving way to emergencies takes out the drill deliveries not yet begun, and only them:
    their room is free, and the emergency's and the one begun stay held."""
    sms = lane()
    sms.took([job(1, DRILL), job(2, DRILL), job(3, DRILL)])
    begun = await sms.next_job()
    sms.took([job(4, EMERGENCY)])
    given = sms.give_way(EMERGENCY)
    assert sorted(job.delivery.id for job in given) == [2, 3]
    assert set(sms.holding) == {begun.delivery.id, 4}
    assert (await sms.next_job()).delivery.id == 4
    assert not sms.jobs
    sms.finished_one(begun.delivery.id)
    sms.finished_one(4)
    assert sms.empty.is_set()
    assert not sms.holds_less_urgent_than(EMERGENCY)
