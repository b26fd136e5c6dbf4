"""Import station and roster files: validate all, then write all in one transaction, or nothing."""

from __future__ import annotations

from pathlib import Path

from notifier.roster_plan import RosterPlan, plan_import
from notifier.rosters import parse_roster, parse_stations
from notifier.store import audit, people
from notifier.store.engine import Database
from notifier.store.people import StationChanges


async def import_stations(
    database: Database, path: Path, *, actor: str, source: str = ""
) -> StationChanges:
    """Upsert the stations of a file by code; a file with any bad row writes nothing.

    A change is audited as made by `actor` from `source` (`notifier.sources`).
    """
    records = parse_stations(path)
    async with database.session() as session:
        changes = await people.upsert_stations(session, records)
        if changes.added or changes.changed:
            audit.record(
                session,
                actor,
                "stations.import",
                str(path),
                source=source,
                added=changes.added,
                changed=changes.changed,
            )
    return changes


async def import_roster(
    database: Database,
    path: Path,
    *,
    actor: str,
    source: str = "",
    dry_run: bool = False,
    prune: bool = False,
) -> RosterPlan:
    """Upsert the people of a roster file by person_id; `prune` deactivates those it leaves out.

    A change is audited as made by `actor` from `source` (`notifier.sources`).
    """
    async with database.session() as session:
        countries = await people.station_countries(session)
        records = parse_roster(path, countries)
        plan = plan_import(records, await people.known_people(session), prune=prune)
        if dry_run or plan.is_empty:
            return plan
        await people.apply_plan(session, plan)
        audit.record(
            session,
            actor,
            "roster.import",
            str(path),
            source=source,
            added=len(plan.added),
            changed=len(plan.changed),
            deactivated=len(plan.deactivated),
        )
    return plan
