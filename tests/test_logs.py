"""Logs: JSON lines for collectors, with phone numbers, e-mail addresses and tokens masked."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import logging
from datetime import UTC, datetime
from typing import Literal

import pytest
import structlog

from notifier import ack_tokens
from notifier.access import TOKEN_PREFIX
from notifier.logs import configure_logging, mask_email, mask_phone, mask_tokens
from notifier.settings import LoggingSettings


def test_masking_keeps_only_what_identifies_the_route() -> None:
    """A phone keeps its country prefix and last digits; an address its first letter and domain."""
    assert mask_phone("sent to +254722000111") == "sent to +2547******11"
    assert mask_email("to jane.doe@un.example.org") == "to j***@un.example.org"


def test_structlog_and_stdlib_records_are_masked_json() -> None:
    """Both structlog events and standard library records come out as masked JSON lines."""
    stream = io.StringIO()
    configure_logging(LoggingSettings(format="json"), stream)
    structlog.get_logger("test").info(
        "sms_sent", phone="+41229171234", note="reply from jane@example.org"
    )
    logging.getLogger("some.library").warning("connect to +15550100123 failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "sms_sent"
    assert lines[0]["phone"] == "+4122*****34"
    assert lines[0]["note"] == "reply from j***@example.org"
    assert lines[1]["event"] == "connect to +1555*****23 failed"
    assert "+41229171234" not in stream.getvalue()
    assert "jane@" not in stream.getvalue()


PHONE = "+254722000111"
ADDRESS = "jane.doe@example.org"
ACK_TOKEN = ack_tokens.issue(
    b"a-test-secret-key-for-tokens", 7, 42, datetime(2030, 1, 1, tzinfo=UTC)
)
API_TOKEN = TOKEN_PREFIX + "PVjaFyF_Wesb8jZY5CKhUy_rK9x2KCcSskRye0N7G08"
"""A token of `new_token`'s shape, fixed so that every test worker collects the same ids."""
LOCAL_VALUE = "value-of-a-local-variable"


def _fail_with_personal_data() -> None:
    """Raise an exception whose text holds a phone number, an address and tokens."""
    shouted = LOCAL_VALUE.upper()  # a frame's local variable: no traceback may show it
    raise RuntimeError(
        f"sms to {PHONE} for {ADDRESS} failed ({len(shouted)}): link https://n.example.org/ack/"
        f"{ACK_TOKEN}, reply to ack+{ACK_TOKEN}@reply.example.org, caller {API_TOKEN}"
    )


def _assert_masked(output: str) -> None:
    assert "RuntimeError" in output
    assert mask_phone(PHONE) in output
    for secret in (PHONE, ADDRESS, ACK_TOKEN, API_TOKEN, LOCAL_VALUE.upper()):
        assert secret not in output
        assert secret.upper() not in output


@pytest.mark.parametrize("format_", ["json", "console"])
def test_exception_logged_by_structlog_is_masked(format_: Literal["json", "console"]) -> None:
    """log.exception's traceback is masked, in JSON and on the console, and shows no locals."""
    stream = io.StringIO()
    configure_logging(LoggingSettings(format=format_), stream)
    try:
        _fail_with_personal_data()
    except RuntimeError:
        structlog.get_logger("test").exception("send_failed")
    _assert_masked(stream.getvalue())


@pytest.mark.parametrize("format_", ["json", "console"])
def test_exception_logged_by_the_standard_library_is_masked(
    format_: Literal["json", "console"],
) -> None:
    """A stdlib record with exc_info (as uvicorn logs an application's error) is masked."""
    stream = io.StringIO()
    configure_logging(LoggingSettings(format=format_), stream)
    try:
        _fail_with_personal_data()
    except RuntimeError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    _assert_masked(stream.getvalue())


@pytest.mark.parametrize("format_", ["json", "console"])
async def test_exception_asyncio_reports_is_masked(format_: Literal["json", "console"]) -> None:
    """asyncio's "Task exception was never retrieved", with its traceback, is masked."""
    stream = io.StringIO()
    configure_logging(LoggingSettings(format=format_), stream)

    async def fail() -> None:
        _fail_with_personal_data()

    task = asyncio.create_task(fail())
    await asyncio.wait([task])
    del task  # never awaited: asyncio reports the exception when the task is collected
    gc.collect()
    output = stream.getvalue()
    assert "Task exception was never retrieved" in output
    _assert_masked(output)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"GET /ack/{ACK_TOKEN} 200", "GET /ack/*** 200"),
        (f"rcpt ack+{ACK_TOKEN.upper()}@reply.example.org", "rcpt ack+***@reply.example.org"),
        (f"token {ACK_TOKEN}.", "token ***."),
        (f"Authorization: Bearer {API_TOKEN}", "Authorization: Bearer ***"),
        (f"created {API_TOKEN}", "created ntf_***"),
        ("/ack/anything-after-it?x=1", "/ack/***?x=1"),
        ("alert 42 sent to 3 people", "alert 42 sent to 3 people"),
        ("digest " + "ab" * 32, "digest " + "ab" * 32),
    ],
)
def test_tokens_are_masked(text: str, masked: str) -> None:
    """Ack tokens (bare, after ack+ and /ack/) and API tokens (ntf_…, after Bearer) are masked."""
    assert mask_tokens(text) == masked
