"""Escalation decisions: when an alert's next round is due, on which channels, and the list.

Pure functions over values; `notifier.dispatch.escalator` does the reading and writing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifier.domain import Channel

SMS_LIST_LINES = 8
"""An SMS to a focal point names this many people at most; the e-mail names everyone."""
EMAIL_LIST_LINES = 2000
SMS_TEXT_CHARS = 60
"""How much of what a person wrote an SMS list quotes; the e-mail quotes up to EMAIL_TEXT_CHARS."""
EMAIL_TEXT_CHARS = 500


@dataclass(frozen=True, slots=True)
class ListedPerson:
    """Someone on a focal point's list: name, phone number (or e-mail address) and id, and
    what they last wrote that read as neither safe nor help ("" if nothing)."""

    person_id: str
    name: str
    contact: str
    text: str = ""


def next_round_at(
    created_at: datetime, escalate_at: datetime | None, rounds_done: int, timeout: timedelta
) -> datetime:
    """When the next round is due: the timeout after the alert, then after each round."""
    if rounds_done == 0 or escalate_at is None:
        return created_at + timeout
    return escalate_at


def resend_channels(reached: Set[Channel], reachable: Set[Channel]) -> set[Channel]:
    """The channels to chase a person on: the ones not tried yet, else the ones tried.
    WhatsApp, a choice of the person's, is never a new one: it is chased on if it was tried."""
    reachable = set(reachable) - {Channel.WHATSAPP} | (set(reached) & {Channel.WHATSAPP})
    untried = reachable - set(reached)
    return untried or reachable & set(reached)


def focal_point_list(
    words: Mapping[str, str],
    *,
    station: str,
    title: str,
    needing_help: Sequence[ListedPerson],
    not_answered: Sequence[ListedPerson],
    max_lines: int,
    max_text: int = EMAIL_TEXT_CHARS,
    wrote: Sequence[ListedPerson] = (),
) -> tuple[str, str]:
    """The subject and text of a focal point's list: who needs help first, then who answered
    with words that read as neither safe nor help, then who is silent; each person's own
    words, when they wrote some, quoted after them (cut to `max_text`)."""
    subject = words["escalation.subject"].format(title=" ".join(title.split()))
    summary = words["escalation.summary"].format(
        station=station, help=len(needing_help), unanswered=len(not_answered)
    )
    parts = [summary]
    budget = max_lines
    for heading, people in (
        (words["escalation.help_heading"], needing_help),
        (words["escalation.other_heading"], wrote),
        (words["escalation.unanswered_heading"], not_answered),
    ):
        if not people:
            continue
        shown = people[: max(0, budget)]
        budget -= len(shown)
        lines = [_line(person, max_text) for person in shown]
        if len(people) > len(shown):
            lines.append(f"+{len(people) - len(shown)}")
        parts.append(heading + ":\n" + "\n".join(lines))
    return subject, "\n\n".join(parts)


def _line(person: ListedPerson, max_text: int) -> str:
    """`- Name (ID) +254…`, then `"what they wrote"` when they wrote something."""
    line = f"- {person.name} ({person.person_id}) {person.contact}"
    text = " ".join(person.text.split())
    if not text:
        return line
    if len(text) > max_text:
        text = text[: max(0, max_text - 3)].rstrip() + "..."
    return f'{line} "{text}"'
