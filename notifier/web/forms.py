"""Posted forms (`application/x-www-form-urlencoded`), parsed from the bounded body.

Every value of every field is kept, in order: Twilio signs a repeated field with all its
values, so the signature is checked over all of them. The body is read through `BodyLimit`
(`http.max_form_bytes`), and at most `MAX_FIELDS` fields are parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import Request

from notifier.errors import InputError

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 200
"""Fields a form may have: Twilio's inbound SMS has about 40 with ten media attached."""


@dataclass(frozen=True, slots=True)
class Form:
    """A form's (name, value) pairs, in the order they were posted."""

    pairs: tuple[tuple[str, str], ...]

    def values(self, name: str) -> list[str]:
        """Every value posted for `name`, in order."""
        return [value for key, value in self.pairs if key == name]

    def first(self, name: str) -> str:
        """The first value of `name`, or "" when it was not posted."""
        return next((value for key, value in self.pairs if key == name), "")


async def read_form(request: Request) -> Form:
    """The request's form; InputError when it is not a URL-encoded form of UTF-8 text."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise InputError(f"expected a form ({FORM_TYPE})")
    return parse_form(await request.body())


def parse_form(body: bytes) -> Form:
    """The fields of a URL-encoded body; InputError if it is not UTF-8 or has too many."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except UnicodeDecodeError:
        raise InputError("the form is not UTF-8 text") from None
    except ValueError:  # parse_qsl's "Max number of fields exceeded"
        raise InputError(f"the form has more than {MAX_FIELDS} fields") from None
    return Form(tuple(pairs))
