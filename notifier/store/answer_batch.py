"""Answers recorded many at a time: what `responses.record_answer` does for each answer, in a
few statements for all of them, on a connection inside the caller's transaction.

The answers of a batch are taken in order, as if recorded one after the other: the same
provider message id twice records the first, and a person's answers fold into their current
response as one by one ("needs help" stands until they say they are safe). The recipients'
rows are updated so that an answer recorded at the same moment by another replica is seen:
a batch of only neutral answers keeps a "needs help" found in the row itself. Confirmations
are queued in one statement, as urgent as their alert, after what the outbox already holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from notifier.domain import OPEN_ALERT_STATUSES, DeliveryStatus, ResponseKind
from notifier.store.outbox import Notice
from notifier.store.responses import MAX_TEXT, Answer, Outcome
from notifier.store.tables import ALERT, DELIVERY, RECIPIENT, RESPONSE

_OPEN = frozenset(OPEN_ALERT_STATUSES)
_HELP = ResponseKind.HELP.value
_OTHER = ResponseKind.OTHER.value
_NEVER = ""
"""A response no recipient has: the `sticky` value of an update that keeps nothing."""
_KEEPS_HELP = "keeps help"


@dataclass(frozen=True, slots=True)
class Recorded:
    """What became of one answer, and how many answers its person has given to its alert
    once it was recorded (0 when it was not)."""

    outcome: Outcome
    answers: int = 0


def record_answers(
    connection: Connection,
    answers: Sequence[Answer],
    now: datetime,
    *,
    known: Mapping[tuple[int, int], str | None] | None = None,
) -> list[Recorded]:
    """Record the answers in order, as `record_answer` would one after the other.

    `known`, read in the same transaction, is the current response of every recipient (by
    alert and person) of the answers' open alerts, as the SMS replies' lookup finds them:
    then neither the alerts nor the recipients are read again (a round trip each).
    """
    results: list[Recorded | None] = [
        Recorded(Outcome.EMPTY) if answer.empty else None for answer in answers
    ]
    live = [index for index, result in enumerate(results) if result is None]
    if not live:
        return [result or Recorded(Outcome.EMPTY) for result in results]
    alert_ids = sorted({answers[index].alert_id for index in live})
    people = sorted({answers[index].person for index in live})
    if known is None:
        open_alerts = _open_alerts(connection, alert_ids)
        current = _current_responses(connection, alert_ids, people)
    else:
        open_alerts = {alert_id for alert_id, _ in known}
        current = dict(known)  # folded into as the answers are taken
    candidates: list[int] = []
    for index in live:
        answer = answers[index]
        if answer.alert_id not in open_alerts:
            results[index] = Recorded(Outcome.NOT_OPEN)
        elif (answer.alert_id, answer.person) not in current:
            results[index] = Recorded(Outcome.NOT_RECIPIENT)
        else:
            candidates.append(index)
    inserted = _insert_responses(connection, [answers[index] for index in candidates], now)
    recorded = [index for index, kept in zip(candidates, inserted, strict=True) if kept]
    for index, kept in zip(candidates, inserted, strict=True):
        if not kept:
            results[index] = Recorded(Outcome.DUPLICATE)
    if recorded:
        outcomes = _fold_into_recipients(connection, [answers[i] for i in recorded], current, now)
        numbers = _numbered(connection, [answers[i] for i in recorded], alert_ids, people)
        for index, outcome, number in zip(recorded, outcomes, numbers, strict=True):
            results[index] = Recorded(outcome, number)
    return [result or Recorded(Outcome.EMPTY) for result in results]


def queue_notices(connection: Connection, notices: Sequence[Notice], now: datetime) -> None:
    """Queue the notices in one statement, each as urgent as its alert, in their order; one
    already in the outbox (the same alert, person, channel, purpose and round) is left as it
    is. On PostgreSQL the notices go as arrays (`unnest`): one statement, not one per row."""
    if not notices:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(
            _NOTICES_FROM_ARRAYS,
            {
                "alert_ids": [notice.alert_id for notice in notices],
                "people": [notice.person for notice in notices],
                "channels": [notice.channel.value for notice in notices],
                "purposes": [notice.purpose.value for notice in notices],
                "rounds": [notice.round for notice in notices],
                "subjects": [notice.subject for notice in notices],
                "bodies": [notice.body for notice in notices],
                "status": DeliveryStatus.QUEUED.value,
                "now": now,
            },
        )
        return
    rows = [
        {
            "alert_id": notice.alert_id,
            "person": notice.person,
            "channel": notice.channel.value,
            "purpose": notice.purpose.value,
            "round": notice.round,
            "subject": notice.subject,
            "body": notice.body,
            "alert_priority": notice.alert_id,
            "status": DeliveryStatus.QUEUED.value,
            "next_attempt_at": now,
            "created_at": now,
        }
        for notice in notices
    ]
    connection.execute(_NOTICE_INSERT, rows)


def _open_alerts(connection: Connection, alert_ids: Sequence[int]) -> set[int]:
    query = select(ALERT.c.id, ALERT.c.status).where(ALERT.c.id.in_(alert_ids))
    return {alert_id for alert_id, status in connection.execute(query) if status in _OPEN}


def _current_responses(
    connection: Connection, alert_ids: Sequence[int], people: Sequence[int]
) -> dict[tuple[int, int], str | None]:
    """The current response of each recipient among the alerts and people (by primary key)."""
    r = RECIPIENT.c
    query = select(r.alert_id, r.person, r.response).where(
        r.alert_id.in_(alert_ids), r.person.in_(people)
    )
    return {
        (alert_id, person): response for alert_id, person, response in connection.execute(query)
    }


def _insert_responses(
    connection: Connection, answers: Sequence[Answer], now: datetime
) -> list[bool]:
    """Insert the answers into the history; for each, whether it was (False: its provider
    message id was recorded before, or earlier in the batch)."""
    if not answers:
        return []
    rows = [
        {
            "alert_id": answer.alert_id,
            "person": answer.person,
            "kind": answer.kind.value,
            "channel": answer.channel.value,
            "text": answer.text[:MAX_TEXT],
            "provider_message_id": answer.provider_message_id,
            "received_at": now,
        }
        for answer in answers
    ]
    statement = _RESPONSE_INSERTS[connection.dialect.name]
    kept = {found for found in connection.execute(statement, rows).scalars() if found is not None}
    seen: set[str] = set()
    inserted: list[bool] = []
    for answer in answers:
        provider_id = answer.provider_message_id
        inserted.append(provider_id is None or (provider_id in kept and provider_id not in seen))
        if provider_id is not None:
            seen.add(provider_id)
    return inserted


def _fold_into_recipients(
    connection: Connection,
    answers: Sequence[Answer],
    current: dict[tuple[int, int], str | None],
    now: datetime,
) -> list[Outcome]:
    """Make each person's answers their current response, in order; each answer's outcome
    (judged from the responses read before: exact but for another replica's same moment)."""
    outcomes: list[Outcome] = []
    final: dict[tuple[int, int], str] = {}
    for answer in answers:
        key = (answer.alert_id, answer.person)
        current[key] = _after(current[key], answer.kind)
        final[key] = _batch_after(final.get(key), answer.kind)
        neutral = answer.kind is ResponseKind.OTHER
        outcomes.append(
            Outcome.HELP_STANDS if neutral and current[key] == _HELP else Outcome.RECORDED
        )
    rows = [
        {
            "key_alert": alert_id,
            "key_person": person,
            "sticky": _HELP if value == _KEEPS_HELP else _NEVER,
            "answer": _OTHER if value == _KEEPS_HELP else value,
            "now": now,
        }
        for (alert_id, person), value in sorted(final.items())
    ]
    if connection.dialect.name == "postgresql":
        columns = {name: [row[name] for row in rows] for name in _FOLD_ARRAYS}
        connection.execute(_FOLD_FROM_ARRAYS, {**columns, "now": now})
    else:
        connection.execute(_FOLD, rows)  # in key order: replicas' batches lock rows alike
    return outcomes


def _batch_after(before: str | None, kind: ResponseKind) -> str:
    """What a person's answers in the batch make of their response, whatever it was before
    (`_KEEPS_HELP`: neutral answers only, which keep "needs help" and make anything else
    `other`); `before` is what their earlier answers in the batch made of it."""
    if kind is not ResponseKind.OTHER:
        return kind.value
    if before is None or before == _KEEPS_HELP:
        return _KEEPS_HELP
    return _HELP if before == _HELP else _OTHER


def _after(before: str | None, kind: ResponseKind) -> str:
    """The current response once `kind` is recorded on top of `before`."""
    if kind is ResponseKind.OTHER and before == _HELP:
        return _HELP
    return kind.value


def _numbered(
    connection: Connection,
    answers: Sequence[Answer],
    alert_ids: Sequence[int],
    people: Sequence[int],
) -> list[int]:
    """For each answer just recorded, its person's answers to its alert up to it."""
    r = RESPONSE.c
    query = (
        select(r.alert_id, r.person, func.count())
        .where(r.alert_id.in_(alert_ids), r.person.in_(people))
        .group_by(r.alert_id, r.person)
    )
    totals = {(alert_id, person): int(n) for alert_id, person, n in connection.execute(query)}
    later = Counter((answer.alert_id, answer.person) for answer in answers)
    numbers: list[int] = []
    for answer in answers:
        key = (answer.alert_id, answer.person)
        later[key] -= 1
        numbers.append(totals[key] - later[key])
    return numbers


def _response_insert(module: Any) -> Any:
    return (
        module.insert(RESPONSE).on_conflict_do_nothing().returning(RESPONSE.c.provider_message_id)
    )


_RESPONSE_INSERTS = {
    "postgresql": _response_insert(postgresql),
    "sqlite": _response_insert(sqlite),
}


_NOTICE_INSERT = (
    sqlite.insert(DELIVERY)
    .values(
        priority=select(ALERT.c.priority)
        .where(ALERT.c.id == bindparam("alert_priority"))
        .scalar_subquery()
    )
    .on_conflict_do_nothing()
)
"""SQLite's: one row of the notices at a time (`executemany`), each at its alert's priority."""

_NOTICES_FROM_ARRAYS = text(
    """
    INSERT INTO delivery (alert_id, person, channel, purpose, round, status, priority, attempts,
                          next_attempt_at, subject, body, created_at)
    SELECT n.alert_id, n.person, n.channel, n.purpose, n.round, CAST(:status AS text),
           a.priority, 0, CAST(:now AS timestamptz), n.subject, n.body, CAST(:now AS timestamptz)
    FROM unnest(CAST(:alert_ids AS integer[]), CAST(:people AS integer[]),
                CAST(:channels AS text[]), CAST(:purposes AS text[]), CAST(:rounds AS integer[]),
                CAST(:subjects AS text[]), CAST(:bodies AS text[])) WITH ORDINALITY
         AS n(alert_id, person, channel, purpose, round, subject, body, position)
    JOIN alert AS a ON a.id = n.alert_id
    ORDER BY n.position
    ON CONFLICT DO NOTHING
    """
)
"""PostgreSQL's: every notice in one statement, from arrays, in order, at its alert's priority."""

_FOLD = (
    update(RECIPIENT)
    .where(
        RECIPIENT.c.alert_id == bindparam("key_alert"),
        RECIPIENT.c.person == bindparam("key_person"),
    )
    .values(
        response=case(
            (RECIPIENT.c.response == bindparam("sticky"), RECIPIENT.c.response),
            else_=bindparam("answer"),
        ),
        last_response_at=bindparam("now"),
        first_response_at=func.coalesce(RECIPIENT.c.first_response_at, bindparam("now")),
    )
)
"""A recipient's response after the batch's answers: `answer`, unless it is `sticky`."""

_FOLD_ARRAYS = ("key_alert", "key_person", "sticky", "answer")
"""`_FOLD`'s parameters that `_FOLD_FROM_ARRAYS` takes as arrays, a value for each row."""

_FOLD_FROM_ARRAYS = text(
    """
    WITH batch AS (
        SELECT * FROM unnest(CAST(:key_alert AS integer[]), CAST(:key_person AS integer[]),
                             CAST(:sticky AS text[]), CAST(:answer AS text[]))
             AS b(alert_id, person, sticky, answer)
    ), locked AS MATERIALIZED (
        SELECT r.alert_id, r.person FROM recipient AS r
        JOIN batch AS b ON r.alert_id = b.alert_id AND r.person = b.person
        ORDER BY r.alert_id, r.person
        FOR NO KEY UPDATE OF r
    )
    UPDATE recipient AS r
    SET response = CASE WHEN r.response = b.sticky THEN r.response ELSE b.answer END,
        last_response_at = CAST(:now AS timestamptz),
        first_response_at = coalesce(r.first_response_at, CAST(:now AS timestamptz))
    FROM locked AS l JOIN batch AS b ON b.alert_id = l.alert_id AND b.person = l.person
    WHERE r.alert_id = l.alert_id AND r.person = l.person
    """
)
"""`_FOLD` for every recipient of a batch in one PostgreSQL statement, from arrays: the rows
are locked first, in key order, as `_FOLD` row after row locks them (replicas' batches then
never wait on each other in a cycle)."""
