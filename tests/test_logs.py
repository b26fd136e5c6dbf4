"""Logs: JSON lines for collectors, with phone numbers and e-mail addresses masked."""

from __future__ import annotations

import io
import json
import logging

import structlog

from notifier.logs import configure_logging, mask_email, mask_phone
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
