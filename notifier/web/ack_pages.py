"""The acknowledgement page behind an e-mail's link: GET shows the buttons, POST records."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from notifier import ack_tokens
from notifier.domain import AlertStatus, Channel, Language, ResponseKind
from notifier.errors import InputError
from notifier.inbound.answer_intake import AnswerIntake
from notifier.messages import Templates
from notifier.store.engine import Database
from notifier.store.responses import AckTarget, Answer, Outcome, ack_target
from notifier.web.forms import read_form

log = structlog.get_logger(__name__)

SECURITY_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",  # the token is in the URL
        "X-Robots-Tag": "noindex",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        "X-Content-Type-Options": "nosniff",
    }
)
"""Sent with every response of these routes."""

ANSWERS: Mapping[str, ResponseKind] = MappingProxyType(
    {"safe": ResponseKind.SAFE, "help": ResponseKind.HELP}
)
"""The values of the form field `response` and the answers they record."""
BAD_RESPONSE = 'The form field "response" must be "safe" or "help".'
_OPEN = (AlertStatus.DISPATCHING, AlertStatus.DISPATCHED)
_LANGUAGE_CODES = frozenset(language.value for language in Language)
_BUTTON = (
    '<button type="submit" name="response" value="{value}" style="display:block;width:100%;'
    "margin:0 0 16px;padding:20px 12px;border:0;border-radius:8px;background:{colour};"
    'color:#ffffff;font-size:22px;font-weight:bold;font-family:inherit">{label}</button>'
)
_NOTICE = (
    '<p style="margin:0 0 16px;padding:12px;border:2px solid {colour};border-radius:4px"{attrs}>'
)


@dataclass(frozen=True, slots=True)
class AckPage:
    """One page in words already chosen; `html()` is pure and escapes every text."""

    language: Language
    message: str
    title: str = ""
    buttons: tuple[str, str] | None = None  # the labels of "safe" and "help"
    answer: str = ""  # the recorded answer, in words
    change: str = ""
    problem: str = ""  # what was wrong with the form, in English

    def html(self) -> str:
        """A complete HTML5 document: no script, no external resource, big buttons."""
        direction = "rtl" if self.language is Language.AR else "ltr"
        parts = []
        if self.problem:
            attrs = ' lang="en" dir="ltr" role="alert"'
            parts.append(_NOTICE.format(colour="#b91c1c", attrs=attrs) + _e(self.problem) + "</p>")
        if self.title:
            parts.append(f'<h1 style="margin:0 0 16px;font-size:24px">{_e(self.title)}</h1>')
        if self.answer:
            change = f"<br>{_e(self.change)}" if self.change else ""
            box = _NOTICE.format(colour="#15803d", attrs="")
            parts.append(f"{box}<strong>{_e(self.answer)}</strong>{change}</p>")
        parts.append(f'<p style="margin:0 0 24px;font-size:20px">{_e(self.message)}</p>')
        if self.buttons is not None:
            safe, help_ = self.buttons
            parts.append(
                '<form method="post">\n'
                + _BUTTON.format(value="safe", colour="#15803d", label=_e(safe))
                + "\n"
                + _BUTTON.format(value="help", colour="#b91c1c", label=_e(help_))
                + "\n</form>"
            )
        return (
            f'<!DOCTYPE html>\n<html lang="{self.language.value}" dir="{direction}">\n<head>\n'
            '<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(self.title or self.message)}</title>\n</head>\n"
            '<body style="margin:0;padding:16px;background:#ffffff;color:#111111;'
            'font-family:Arial,Helvetica,sans-serif;font-size:18px;line-height:1.5">\n'
            '<main style="max-width:480px;margin:0 auto">\n'
            + "\n".join(parts)
            + "\n</main>\n</body>\n</html>\n"
        )


def best_language(accept_language: str) -> Language:
    """The language of `Accept-Language` the reader prefers most among ours; English if none."""
    best, best_weight = Language.EN, 0.0
    for item in accept_language.split(","):
        tag, _, parameters = item.partition(";")
        primary = tag.strip().split("-")[0].lower()
        weight = _quality(parameters)
        if primary in _LANGUAGE_CODES and weight > best_weight:
            best, best_weight = Language(primary), weight
    return best


def _quality(parameters: str) -> float:
    """The `q` of one Accept-Language item: 1 when absent, 0 when malformed."""
    name, _, value = parameters.strip().partition("=")
    if name.strip().lower() != "q":
        return 1.0
    try:
        weight = float(value)
    except ValueError:
        return 0.0
    return weight if 0.0 <= weight <= 1.0 else 0.0


async def show_question(request: Request) -> Response:
    """GET /ack/{token}: the question and its buttons; never records (mail scanners open links)."""
    found = await _target(request)
    if isinstance(found, Response):
        return found
    return _question(request, found)


async def record(request: Request) -> Response:
    """POST /ack/{token}: record safe or help for the token's person, then show it (303)."""
    found = await _target(request)
    if isinstance(found, Response):
        return found
    try:
        kind = ANSWERS.get((await read_form(request)).first("response"))
    except InputError:  # not a form of UTF-8 text: the page says what the form must hold
        kind = None
    if kind is None:
        log.info("ack_refused", reason="bad_response", alert_id=found.alert_id)
        return _question(request, found, problem=BAD_RESPONSE, status_code=400)
    answers: AnswerIntake = request.app.state.answers
    outcome = await answers.record(Answer(found.alert_id, found.person, kind, Channel.EMAIL))
    if outcome is Outcome.RECORDED:
        log.info("ack_recorded", alert_id=found.alert_id, kind=kind.value)
    else:  # cancelled or closed since the page was checked: the GET will say so
        log.info("ack_refused", reason=outcome.value, alert_id=found.alert_id)
    redirect = RedirectResponse(request.url.path, status_code=303)
    redirect.headers.update(SECURITY_HEADERS)
    return redirect


async def _target(request: Request) -> AckTarget | Response:
    """The open alert and recipient the token names, or the page saying why there is none."""
    secret = request.app.state.settings.security.secret_key.get_secret_value().encode()
    reader = best_language(request.headers.get("accept-language", ""))
    try:
        claim = ack_tokens.verify(
            secret, request.path_params["token"], request.app.state.clock.now()
        )
    except ack_tokens.ExpiredTokenError:
        log.info("ack_refused", reason="expired")
        return _page(AckPage(reader, _words(request, reader)["page.expired"]), 410)
    except ack_tokens.InvalidTokenError:
        log.info("ack_refused", reason="invalid")
        return _page(AckPage(reader, _words(request, reader)["page.invalid"]), 404)
    database: Database = request.app.state.database
    async with database.session() as session:
        found = await ack_target(session, claim.alert_id, claim.person)
    if found is None or not found.recipient:
        # Same page as a forged link: reveal neither the alert nor the person's language.
        log.info("ack_refused", reason="not_recipient", alert_id=claim.alert_id)
        return _page(AckPage(reader, _words(request, reader)["page.invalid"]), 404)
    if found.status not in _OPEN:
        log.info("ack_refused", reason="closed", alert_id=claim.alert_id)
        words = _words(request, found.language)
        return _page(AckPage(found.language, words["page.closed"], found.title), 200)
    return found


def _question(
    request: Request, found: AckTarget, *, problem: str = "", status_code: int = 200
) -> Response:
    words = _words(request, found.language)
    recorded = ""
    if found.response in ANSWERS.values():  # an "other" answer (free SMS text) is not shown
        recorded = words[f"answer.recorded_{found.response}"]
    page = AckPage(
        found.language,
        words["page.question"],
        found.title,
        buttons=(words["page.safe"], words["page.help"]),
        answer=recorded,
        change=words["page.change"] if recorded else "",
        problem=problem,
    )
    return _page(page, status_code)


def _page(page: AckPage, status_code: int) -> HTMLResponse:
    return HTMLResponse(page.html(), status_code=status_code, headers=dict(SECURITY_HEADERS))


def _words(request: Request, language: Language) -> Mapping[str, str]:
    templates: Templates = request.app.state.templates
    return templates.strings[language]


def _e(text: str) -> str:
    return html.escape(text, quote=True)


ROUTES: list[BaseRoute] = [
    Route("/ack/{token}", show_question, methods=["GET"]),
    Route("/ack/{token}", record, methods=["POST"]),
]
