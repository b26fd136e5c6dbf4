"""Logging: JSON lines in production, readable lines on a terminal, personal data masked.

Masking runs on the finished text of each value, tracebacks included: an exception is
formatted (plainly, without any frame's local variables) before it is masked, for structlog
events and for the standard library's records (uvicorn's errors, asyncio's "Task exception
was never retrieved") alike.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

from notifier.settings import LoggingSettings

_PHONE = re.compile(r"\+\d{4,15}")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_PERSONAL_KEYS = frozenset({"phone", "email", "to", "from", "from_number", "sender", "recipient"})
_ACK_TOKEN_LENGTH = 45
_TOKEN = re.compile(
    r"(?i)(ack\+|/ack/|bearer\s+)[^\s@/?#&\"'<>,;()\[\]{}]+"  # what follows ack+, /ack/, Bearer
    r"|(ntf_)[\w-]+"  # an API token (notifier.access)
    rf"|(?<![\w-])[a-z2-7]{{{_ACK_TOKEN_LENGTH}}}(?![\w-])"  # an ack token alone (ack_tokens)
)


def mask_phone(text: str) -> str:
    """Keep a phone number's country prefix and last two digits: `+2547******11`."""
    return _PHONE.sub(lambda match: _mask_number(match.group(0)), text)


def mask_tokens(text: str) -> str:
    """Hide acknowledgement and API tokens: `/ack/***`, `ack+***@…`, `Bearer ***`, `ntf_***`."""
    folded = text.lower()
    # Most values are short and hold no prefix: checking that is several times cheaper.
    if len(text) < _ACK_TOKEN_LENGTH and not (
        "ack" in folded or "ntf_" in folded or "bearer" in folded
    ):
        return text
    return _TOKEN.sub(lambda match: (match.group(1) or match.group(2) or "") + "***", text)


def mask_email(text: str) -> str:
    """Keep the first letter and the domain of an e-mail address: `j***@example.org`."""
    return _EMAIL.sub(lambda match: f"{match.group(1)}***@{match.group(2)}", text)


def drop_console_extras(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: drop uvicorn's terminal-colour copy of its message."""
    event.pop("color_message", None)
    return event


def mask_personal_data(
    _logger: object, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask phone numbers, e-mail addresses and tokens in every string."""
    for key, value in event.items():
        event[key] = _mask_value(value, whole=key in _PERSONAL_KEYS)
    return event


def configure_logging(settings: LoggingSettings, stream: TextIO | None = None) -> None:
    """Route structlog and the standard library's records through one masking pipeline."""
    stream = stream or sys.stderr
    as_json = settings.format == "json" or (settings.format == "auto" and not stream.isatty())
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        drop_console_extras,
        # An exception becomes plain text here, so that what it says is masked too.
        structlog.processors.format_exc_info,
        mask_personal_data,
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if as_json
        # The exception arrives as text; were it not, plain is the formatter that shows no
        # frame's local variables (rich's, the default, shows them all).
        else structlog.dev.ConsoleRenderer(
            colors=stream.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            # Drop events below the level first: the rest of the chain (masking) costs.
            structlog.stdlib.filter_by_level,
            structlog.processors.StackInfoRenderer(),
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        # Below the level, a call returns at once: no event is built for the chain to drop.
        wrapper_class=structlog.make_filtering_bound_logger(settings.level.upper()),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Alembic narrates every connection at INFO (`db upgrade` prints its own summary), and
    # aiosmtpd every inbound SMTP session, with its addresses (the listener logs its own facts),
    # APScheduler every job added and run (the drill scheduler logs the drills raised).
    for chatty in ("alembic", "mail.log", "apscheduler"):
        logging.getLogger(chatty).setLevel(max(root.level, logging.WARNING))


def _mask_value(value: Any, *, whole: bool) -> Any:
    if isinstance(value, str):
        if whole and value and "@" not in value and "+" not in value:
            return "***"
        return mask_email(mask_phone(mask_tokens(value)))
    if isinstance(value, Mapping):
        return {key: _mask_value(item, whole=key in _PERSONAL_KEYS) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(item, whole=whole) for item in value]
    return value


def _mask_number(number: str) -> str:
    keep_head = min(5, max(1, len(number) - 6))
    return number[:keep_head] + "*" * (len(number) - keep_head - 2) + number[-2:]
