"""Answers from every channel recorded in shared transactions (a group commit).

SMS replies, e-mail replies and the acknowledgement page hand their answers here. Each waits
until the transaction holding it has committed, so nothing acknowledged (a 200 to Twilio, a
250 to a mail server, a page saying "recorded") is lost. One answer alone is recorded at once;
answers arriving while a transaction is under way wait for it to end, then all go together in
the next (up to `batch`), so that a burst shares its commits and its lookups instead of
queuing for one transaction each. A batch that fails is taken again one answer at a time, so
that one bad answer fails alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Final

import structlog
from sqlalchemy import Connection

from notifier.clock import Clock
from notifier.inbound.sms_batch import TakenSms, take_replies
from notifier.inbound.sms_reply import InboundSms, SmsAnswered, take_sms
from notifier.messages import Templates
from notifier.store.answer_batch import Recorded, record_answers
from notifier.store.engine import Database
from notifier.store.responses import Answer, Outcome

log = structlog.get_logger(__name__)

BATCH: Final = 500
"""The most answers one transaction takes."""

_Item = InboundSms | Answer
_Result = TakenSms | Recorded | None


class AnswerIntake:
    """Takes inbound SMS and answers, recording them in shared transactions."""

    def __init__(
        self, database: Database, templates: Templates, clock: Clock, *, batch: int = BATCH
    ) -> None:
        self._database = database
        self._templates = templates
        self._clock = clock
        self._batch = batch
        self._waiting: list[tuple[_Item, asyncio.Future[_Result]]] = []
        self._leader: asyncio.Task[None] | None = None

    async def take_sms(self, sms: InboundSms) -> SmsAnswered:
        """Act on one inbound SMS, as `sms_reply.take_sms` does, once it is committed."""
        taken = await self._submit(sms)
        if not isinstance(taken, TakenSms):  # a carrier keyword, or no open alert: alone
            async with self._database.session() as session:
                return await take_sms(session, self._templates, sms, self._clock.now())
        for alert_id, kind, outcome in taken.outcomes:
            log.info("sms_answer", alert_id=alert_id, kind=kind.value, outcome=outcome.value)
        return taken.answered

    async def record(self, answer: Answer) -> Outcome:
        """Record one answer, as `responses.record_answer` does, once it is committed."""
        recorded = await self._submit(answer)
        assert isinstance(recorded, Recorded), "an answer is always recorded or refused"
        return recorded.outcome

    async def _submit(self, item: _Item) -> _Result:
        future: asyncio.Future[_Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._leader is None:
            self._leader = asyncio.create_task(self._lead())
        return await future

    async def _lead(self) -> None:
        """Take what waits, a batch at a time, until nothing does."""
        try:
            while self._waiting:
                batch = self._waiting[: self._batch]
                del self._waiting[: self._batch]
                await self._run(batch)
        except BaseException:
            for _, future in self._waiting:
                future.cancel()
            self._waiting.clear()
            raise
        finally:
            self._leader = None

    async def _run(self, batch: list[tuple[_Item, asyncio.Future[_Result]]]) -> None:
        items = [item for item, _ in batch]
        now = self._clock.now()
        try:
            results = await self._database.run(
                lambda connection: _take(connection, self._templates, items, now)
            )
        except Exception as error:
            if len(batch) > 1:
                log.warning("answer_batch_failed", answers=len(batch), error=str(error))
                for one in batch:
                    await self._run([one])
            elif not batch[0][1].done():
                batch[0][1].set_exception(error)
            return
        except BaseException:
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # its request may have gone: the answer stays recorded
                future.set_result(result)


def _take(
    connection: Connection, templates: Templates, items: Sequence[_Item], now: datetime
) -> list[_Result]:
    """Take the batch's SMS replies, then its other answers, in the caller's transaction."""
    texts = [i for i, item in enumerate(items) if isinstance(item, InboundSms)]
    others = [i for i, item in enumerate(items) if isinstance(item, Answer)]
    results: list[_Result] = [None] * len(items)
    messages = [item for item in items if isinstance(item, InboundSms)]
    for i, taken in zip(texts, take_replies(connection, templates, messages, now), strict=True):
        results[i] = taken
    answers = [item for item in items if isinstance(item, Answer)]
    for i, recorded in zip(others, record_answers(connection, answers, now), strict=True):
        results[i] = recorded
    return results
