"""Compare a roster file with the people already known: who is added, changed, deactivated."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from notifier.domain import Channel
from notifier.rosters import PersonRecord


@dataclass(frozen=True, slots=True)
class KnownPerson:
    """A person as the database holds them, reduced to what a roster file can set."""

    pk: int
    person_id: str
    name: str
    email: str | None
    phone: str | None
    station: str
    language: str
    groups: tuple[str, ...]
    channels: tuple[str, ...]
    """Their channels' names in order of preference; empty: the default, SMS and e-mail."""
    active: bool


@dataclass(frozen=True, slots=True)
class Change:
    """A person the file changes, and the names of the fields that differ."""

    known: KnownPerson
    record: PersonRecord
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RosterPlan:
    """What importing a file would do."""

    added: list[PersonRecord] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    deactivated: list[KnownPerson] = field(default_factory=list)
    unchanged: int = 0

    @property
    def is_empty(self) -> bool:
        """True when the import would write nothing."""
        return not (self.added or self.changed or self.deactivated)


def plan_import(
    records: Iterable[PersonRecord], known: Mapping[str, KnownPerson], *, prune: bool
) -> RosterPlan:
    """Upsert by person_id; with `prune`, deactivate people of the file's stations it leaves out."""
    plan = RosterPlan()
    unchanged = 0
    seen: set[str] = set()
    stations: set[str] = set()
    for record in records:
        seen.add(record.person_id)
        stations.add(record.station)
        person = known.get(record.person_id)
        if person is None:
            plan.added.append(record)
            continue
        differing = differences(person, record)
        if differing:
            plan.changed.append(Change(person, record, differing))
        else:
            unchanged += 1
    if prune:
        plan.deactivated.extend(
            person
            for person in known.values()
            if person.active and person.station in stations and person.person_id not in seen
        )
    return RosterPlan(plan.added, plan.changed, plan.deactivated, unchanged)


def differences(person: KnownPerson, record: PersonRecord) -> tuple[str, ...]:
    """The names of the fields whose values the record changes (`active` when it comes back).

    `channels` only when the record's file has the column: without it, people keep theirs.
    """
    pairs: dict[str, tuple[object, object]] = {
        "name": (person.name, record.name),
        "email": (person.email, record.email),
        "phone": (person.phone, record.phone),
        "station": (person.station, record.station),
        "language": (person.language, record.language.value),
        "groups": (tuple(sorted(person.groups)), tuple(sorted(record.groups))),
    }
    if record.channels_given:
        pairs["channels"] = (person.channels, channel_names(record.channels))
    pairs["active"] = (person.active, True)
    return tuple(name for name, (old, new) in pairs.items() if old != new)


def channel_names(channels: Iterable[Channel]) -> tuple[str, ...]:
    """The channels' names, in their order."""
    return tuple(channel.value for channel in channels)
