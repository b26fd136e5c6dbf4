"""Inbound SMS replies as Twilio posts them, for the tests of bursts of replies."""

from __future__ import annotations


def reply_form(account_sid: str, phone: str, index: int) -> dict[str, str]:
    """Person `index`'s reply from `phone`, with a MessageSid of its own: "2" (needs help)
    for one in ten, else "1" (safe)."""
    return {
        "AccountSid": account_sid,
        "MessageSid": f"SM{index:032x}",
        "From": phone,
        "To": "+15005550006",
        "Body": "2" if index % 10 == 0 else "1",
        "NumMedia": "0",
    }
