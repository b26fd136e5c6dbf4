"""`notifier demo`: the embedded database with the sample stations and rosters, served.

The demo keeps its secrets in a 0600 file beside its database (`notifier.demo_state`): a
restart prints the same admin token and makes no new one, and `notifier demo reply` signs
its SMS answers with the same auth token the daemon checks.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from notifier import demo_reply, demo_state, sources
from notifier.daemon import serve
from notifier.demo_state import DemoState
from notifier.domain import Role
from notifier.errors import InputError
from notifier.roster_import import import_roster, import_stations
from notifier.settings import MIN_SECRET_KEY_LENGTH, Settings
from notifier.store import people, schema, tokens
from notifier.store.engine import Database
from notifier.store.people import RosterEntry

EXAMPLE_STATION = "NBO"


@dataclass(frozen=True, slots=True)
class Prepared:
    """What `prepare` leaves: the state (with the admin token), whether the token is new, and
    someone with a phone to answer as."""

    state: DemoState
    new_token: bool
    example: RosterEntry | None


def run(settings: Settings, *, contacts: Path, actor: str) -> int:
    """Prepare the demo database, print how to use it, and serve with console channels."""
    path = demo_state.state_path(settings.database.url)
    state = demo_state.load(path)
    if state is None:
        state = demo_state.new_state()
        demo_state.save(path, state)
        print(f"demo: secrets kept in {path} (mode 0600)")
    settings = demo_settings(settings, state)
    prepared = asyncio.run(prepare(settings, contacts, actor, state))
    if prepared.new_token:
        demo_state.save(path, prepared.state)
    url = settings.http.public_url
    print(f"demo: serving on {url} (health: {url}/healthz)")
    print(f"demo: admin API token {prepared.state.admin_token}")
    print("demo: messages are printed here in full (console channels); stop with Ctrl-C")
    _print_how_to_answer(settings, prepared.example)
    sys.stdout.flush()
    return serve(settings)


def reply(settings: Settings, phone: str, text: str, *, curl: bool) -> int:
    """`demo reply`: answer the running demo by SMS from `phone`; print what it answered."""
    path = demo_state.state_path(settings.database.url)
    state = demo_state.load(path)
    if state is None:
        raise InputError(
            f"{path}: no demo state here: start `notifier demo` in this directory first"
        )
    signed = demo_reply.signed_reply(demo_settings(settings, state), phone, text)
    if curl:
        print(demo_reply.curl_command(signed))
        return 0
    status, lines = demo_reply.report(demo_reply.post(signed), signed)
    for line in lines:
        print(line, file=sys.stdout if status == 0 else sys.stderr)
    return status


def demo_settings(settings: Settings, state: DemoState) -> Settings:
    """The settings with console channels, and the demo's own secrets where none are set."""
    security = settings.security
    if len(security.secret_key.get_secret_value()) < MIN_SECRET_KEY_LENGTH:
        # model_copy does not validate: the value must already be what the field holds.
        security = security.model_copy(update={"secret_key": SecretStr(state.secret_key)})
    sms = settings.sms.model_copy(update={"backend": "console"})
    if not sms.auth_token.get_secret_value():
        sms = sms.model_copy(update={"auth_token": SecretStr(state.sms_auth_token)})
    return settings.model_copy(
        update={
            "security": security,
            "email": settings.email.model_copy(update={"backend": "console"}),
            "sms": sms,
        }
    )


async def prepare(settings: Settings, contacts: Path, actor: str, state: DemoState) -> Prepared:
    """Migrate, import `stations.csv` and every `roster-*` file; the admin token, kept or new."""
    stations = contacts / "stations.csv"
    if not stations.is_file():
        raise InputError(
            f"--contacts: {stations} not found; run from the repository or pass --contacts DIR"
        )
    source = sources.command_line()
    async with Database.open(settings.database.url) as database:
        await schema.upgrade(database)
        changes = await import_stations(database, stations, actor=actor, source=source)
        print(f"demo: stations {changes.added} added, {changes.changed} changed")
        for roster in sorted(contacts.glob("roster-*")):  # noqa: ASYNC240 (a handful of names)
            plan = await import_roster(database, roster, actor=actor, source=source)
            print(f"demo: {roster.name}: {len(plan.added)} added, {len(plan.changed)} changed")
        async with database.session() as session:
            kept = bool(state.admin_token) and (
                await tokens.find_token(session, state.admin_token) is not None
            )
            if not kept:  # first start, or the database was replaced, or the token revoked
                name = f"demo-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"
                token = await tokens.create_token(
                    session, name, Role.ADMIN, (), actor=actor, source=source
                )
                state = demo_state.with_admin_token(state, name, token)
            example = await _someone_to_answer_as(session)
    return Prepared(state, not kept, example)


async def _someone_to_answer_as(session: AsyncSession) -> RosterEntry | None:
    """A person with a phone, of the example station if there is one."""
    for station in (EXAMPLE_STATION, None):
        if station and not await people.station_exists(session, station):
            continue
        entries = await people.list_people(session, station=station)
        with_phone = [entry for entry in entries if entry.phone]
        if with_phone:
            return with_phone[0]
    return None


def _print_how_to_answer(settings: Settings, example: RosterEntry | None) -> None:
    if example is None or example.phone is None:
        print("demo: answer an SMS with `notifier demo reply PHONE TEXT`")
        return
    print(
        f"demo: raise a drill: notifier alert send --stations {example.station} --kind drill "
        '--title "Drill" --message "Go to the assembly point."'
    )
    print(
        f"demo: answer it by SMS as {example.name} ({example.person_id}, {example.station}): "
        f"notifier demo reply {example.phone} 1"
    )
    signed = demo_reply.signed_reply(settings, example.phone, "1")
    curl = demo_reply.curl_command(signed)
    print(f"demo: or with curl (answers once: a message id counts once): {curl}")
