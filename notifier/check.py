"""`notifier check`: the configuration, the database and each provider, one line each.

Each check says `ok` or why not; the command exits 1 when any fails. Providers are asked
only what proves the credentials work without sending anything: an SMTP login, and one
authenticated read of the Twilio account.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

from notifier.channels.email import SmtpEmailChannel
from notifier.channels.sms import TwilioSmsChannel
from notifier.errors import ConfigError, SchemaError, SendError
from notifier.settings import Settings, require_serve_secrets
from notifier.store import schema
from notifier.store.engine import Database

CONSOLE = "console (nothing sent)"
CONFIG_ERROR_PREFIX = "configuration error: "


@dataclass(frozen=True, slots=True)
class Outcome:
    """One check's result: `ok` (or a remark such as the console's), or the reason it failed."""

    name: str
    text: str
    failed: bool = False


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print one line per check; 1 if any failed, else 0."""
    outcomes = await check_all(settings)
    width = max(len(outcome.name) for outcome in outcomes)
    for outcome in outcomes:
        print(f"{outcome.name:<{width}}  {'FAILED: ' if outcome.failed else ''}{outcome.text}")
    return 1 if any(outcome.failed for outcome in outcomes) else 0


async def check_all(settings: Settings) -> list[Outcome]:
    """Every check, in order, each run even when an earlier one failed."""
    return [
        _configuration(settings),
        await _database(settings),
        await _email(settings),
        await _sms(settings),
    ]


def _configuration(settings: Settings) -> Outcome:
    """Loading it already succeeded (or the command stopped); here, what `serve` requires."""
    try:
        require_serve_secrets(settings)
    except ConfigError as error:
        reasons = [line.removeprefix(CONFIG_ERROR_PREFIX) for line in str(error).splitlines()]
        return Outcome("configuration", " | ".join(reasons), failed=True)
    return Outcome("configuration", "ok")


async def _database(settings: Settings) -> Outcome:
    try:
        async with Database.open(settings.database.url) as database:
            await schema.require_current(database)
            revision = await schema.current_revision(database)
    except SchemaError as error:
        return Outcome("database", str(error), failed=True)
    except (OSError, DBAPIError) as error:
        return Outcome("database", f"unreachable: {_first_line(error)}", failed=True)
    return Outcome("database", f"ok (schema {revision})")


async def _email(settings: Settings) -> Outcome:
    name = f"email ({settings.email.backend})"
    if settings.email.backend == "console":
        return Outcome(name, CONSOLE)
    where = f"{settings.email.host}:{settings.email.port}"
    return await _provider(name, where, lambda: _verify_smtp(settings))


async def _sms(settings: Settings) -> Outcome:
    name = f"sms ({settings.sms.backend})"
    if settings.sms.backend == "console":
        return Outcome(name, CONSOLE)
    if not (settings.sms.account_sid and settings.sms.auth_token.get_secret_value()):
        return Outcome(name, "not checked: sms.account_sid and sms.auth_token are needed", True)
    return await _provider(name, settings.sms.api_base_url, lambda: _verify_twilio(settings))


async def _provider(name: str, where: str, verify: Callable[[], Awaitable[None]]) -> Outcome:
    try:
        await verify()
    except (SendError, ConfigError) as error:
        reason = str(error).removeprefix(CONFIG_ERROR_PREFIX)
        return Outcome(name, f"{where}: {reason}", failed=True)
    return Outcome(name, f"ok ({where})")


async def _verify_smtp(settings: Settings) -> None:
    async with SmtpEmailChannel(settings.email) as channel:
        await channel.verify()


async def _verify_twilio(settings: Settings) -> None:
    async with TwilioSmsChannel(settings.sms, status_callback_url="") as channel:
        await channel.verify()


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
