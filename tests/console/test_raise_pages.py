"""Raising an alert from the console: the form, its preview, the emergency's confirmation."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re
from collections.abc import AsyncIterator, Sequence
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlmodel import col

from notifier.settings import HttpSettings, SecuritySettings, Settings, VoiceSettings
from notifier.sms_length import sms_length
from notifier.store.engine import Database
from notifier.store.tables import Alert, AuditEntry
from notifier.web.app import create_app
from tests.console.console_app import SECRET, Console, console_on, csrf_of
from tests.seeding import seed
from tests.web.wake import WakeCounter

ARABIC_PERSON = "N00090,سارة أحمد,sara@example.org,+254722000090,NBO,ar,"
ARABIC_TEXT = "يرجى مغادرة المبنى فوراً والتوجه إلى نقطة التجمع في الموقف الشمالي وانتظار التعليمات."
DRILL = [
    ("stations", "NBO"),
    ("severity", "minor"),
    ("kind", "drill"),
    ("channels", "sms"),
    ("channels", "email"),
    ("title", "Monthly drill"),
    ("message", "This is a drill.\r\nReply 1 if you are safe."),
]
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclasses.dataclass(frozen=True, slots=True)
class Raising:
    """The console with a counter in place of the dispatcher's wake-up call."""

    console: Console
    wakes: WakeCounter

    async def post(
        self, path: str, session: str, fields: Sequence[tuple[str, str]], **headers: str
    ) -> httpx.Response:
        """POST the form `fields` (names may repeat) to `path` with the session cookie."""
        self.console.client.cookies.clear()
        headers |= {
            "Cookie": f"notifier_session={session}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return await self.console.client.post(path, content=urlencode(fields), headers=headers)

    async def csrf(self, session: str) -> str:
        """The session's CSRF value, from the console's home page."""
        return csrf_of((await self.console.get("/", session)).text)

    async def alerts(self) -> list[Alert]:
        """Every alert stored, oldest first."""
        async with self.console.database.session(read_only=True) as session:
            found = await session.execute(select(Alert).order_by(col(Alert.id)))
            return list(found.scalars())


@pytest.fixture
async def raising(database: Database) -> AsyncIterator[Raising]:
    """The console over NBO's three people, one Arabic speaker at NBO and one person at GVA."""
    async with console_on(database) as console:
        await seed(database, [ARABIC_PERSON])
        settings = Settings(
            http=HttpSettings(public_url="http://127.0.0.1:8080"),
            security=SecuritySettings(secret_key=SecretStr(SECRET)),
        )
        wakes = WakeCounter()
        app = create_app(database, settings, clock=console.clock, wake_dispatcher=wakes)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Raising(dataclasses.replace(console, client=client), wakes)


def send_form(preview: str) -> list[tuple[str, str]]:
    """The hidden fields of the preview page's form that raises the alert."""
    form = preview[preview.index('action="/alerts/new"') :]
    return [(name, html.unescape(value)) for name, value in _HIDDEN.findall(form)]


def figures(page: str) -> dict[str, str]:
    """The page's figures: each <dt> with its <dd>."""
    return {
        html.unescape(term): html.unescape(value)
        for term, value in re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", page)
    }


async def test_the_form_offers_the_stations_the_principal_may_alert(raising: Raising) -> None:
    """An NBO officer's form offers NBO alone, ticked; an admin's offers every station."""
    console = raising.console
    officer = await console.get("/alerts/new", await console.sign_in(console.nbo_officer))
    assert officer.status_code == 200
    assert re.findall(r'name="stations" value="(\w+)"', officer.text) == ["NBO"]
    assert 'value="NBO" checked' in officer.text
    admin = await console.get("/alerts/new", await console.sign_in(console.admin))
    assert re.findall(r'name="stations" value="(\w+)"', admin.text) == ["BEY", "BKK", "GVA", "NBO"]
    assert 'value="NBO" checked' not in admin.text


async def test_officer_previews_then_raises_a_drill(raising: Raising) -> None:
    """The preview counts NBO's people and writes nothing; its form raises the drill, audited."""
    console = raising.console
    session = await console.sign_in(console.nbo_officer)
    csrf = await raising.csrf(session)
    preview = await raising.post("/alerts/new/preview", session, [("csrf", csrf), *DRILL])
    assert preview.status_code == 200, preview.text
    shown = figures(preview.text)
    assert (shown["Recipients"], shown["SMS"], shown["E-mail"], shown["Unreachable"]) == (
        "4",
        "4",
        "4",
        "0",
    )
    assert "confirm_emergency" not in preview.text
    assert await raising.alerts() == []
    fields = send_form(preview.text)
    assert ("message", "This is a drill.\nReply 1 if you are safe.") in fields
    raised = await raising.post("/alerts/new", session, fields)
    assert raised.status_code == 303
    [alert] = await raising.alerts()
    assert raised.headers["location"] == f"/alerts/{alert.id}"
    assert (alert.kind, alert.severity, alert.title) == ("drill", "minor", "Monthly drill")
    assert alert.message == "This is a drill.\nReply 1 if you are safe."
    assert alert.created_by == "Amina NBO"
    assert raising.wakes.calls == 1
    async with console.database.session(read_only=True) as db:
        audited = await db.execute(
            select(AuditEntry).where(col(AuditEntry.action) == "alert.raise")
        )
        entries = [(e.actor, e.target, e.source) for e in audited.scalars()]
        assert entries == [("Amina NBO", f"alert:{alert.id}", "api 127.0.0.1")]
    page = await console.get(raised.headers["location"], session)
    assert page.status_code == 200
    assert "Monthly drill" in page.text


async def test_an_emergency_needs_the_confirmation(raising: Raising) -> None:
    """Without the box ticked the preview comes back (422) and nothing is raised; with it, it is."""
    console = raising.console
    session = await console.sign_in(console.nbo_officer)
    csrf = await raising.csrf(session)
    emergency = [(name, "emergency" if name == "kind" else value) for name, value in DRILL]
    preview = await raising.post("/alerts/new/preview", session, [("csrf", csrf), *emergency])
    assert preview.status_code == 200
    assert 'name="confirm_emergency" value="yes"' in preview.text
    fields = send_form(preview.text)
    unconfirmed = await raising.post("/alerts/new", session, fields)
    assert unconfirmed.status_code == 422
    assert "tick the confirmation to send it" in unconfirmed.text
    assert 'name="confirm_emergency"' in unconfirmed.text
    assert await raising.alerts() == []
    assert raising.wakes.calls == 0
    wrong = await raising.post("/alerts/new", session, [*fields, ("confirm_emergency", "")])
    assert wrong.status_code == 422
    assert await raising.alerts() == []
    confirmed = await raising.post("/alerts/new", session, [*fields, ("confirm_emergency", "yes")])
    assert confirmed.status_code == 303
    assert [alert.kind for alert in await raising.alerts()] == ["emergency"]
    assert raising.wakes.calls == 1


async def test_another_station_is_refused_as_the_api_refuses_it(raising: Raising) -> None:
    """An NBO officer naming GVA gets 403 from the preview and the raise, as from the API."""
    console = raising.console
    session = await console.sign_in(console.nbo_officer)
    csrf = await raising.csrf(session)
    geneva = [("csrf", csrf), *[(n, "GVA" if n == "stations" else v) for n, v in DRILL]]
    assert (await raising.post("/alerts/new/preview", session, geneva)).status_code == 403
    assert (await raising.post("/alerts/new", session, geneva)).status_code == 403
    api = await console.client.post(
        "/api/v1/alerts",
        json={"title": "t", "message": "m", "stations": ["GVA"], "kind": "drill"},
        headers={"Authorization": f"Bearer {console.nbo_officer}"},
    )
    assert api.status_code == 403
    assert await raising.alerts() == []
    assert raising.wakes.calls == 0


async def test_a_person_of_another_station_is_unknown(raising: Raising) -> None:
    """An NBO officer naming GVA's person by id gets the form back with the error beside it."""
    console = raising.console
    session = await console.sign_in(console.nbo_officer)
    csrf = await raising.csrf(session)
    fields = [("csrf", csrf), *DRILL, ("people", "G00001")]
    response = await raising.post("/alerts/new/preview", session, fields)
    assert response.status_code == 422
    assert '<p class="field-problem" id="problem-people">unknown person_id(s): G00001</p>' in (
        response.text
    )
    assert 'value="G00001"' in response.text


async def test_a_viewer_is_refused_the_form_and_its_posts(raising: Raising) -> None:
    """A viewer gets 403 on GET and on each POST, even with the session's CSRF value."""
    console = raising.console
    session = await console.sign_in(console.viewer)
    csrf = await raising.csrf(session)
    assert (await console.get("/alerts/new", session)).status_code == 403
    for path in ("/alerts/new/preview", "/alerts/new", "/alerts/new/edit"):
        response = await raising.post(path, session, [("csrf", csrf), *DRILL])
        assert response.status_code == 403, path
        assert "Not allowed" in response.text
    assert await raising.alerts() == []


async def test_a_post_without_its_csrf_value_raises_nothing(raising: Raising) -> None:
    """Without the CSRF field, or with another, raising is refused (403) and nothing is stored."""
    console = raising.console
    session = await console.sign_in(console.nbo_officer)
    for csrf in ([], [("csrf", "0" * 64)]):
        response = await raising.post("/alerts/new", session, [*csrf, *DRILL])
        assert response.status_code == 403
        preview = await raising.post("/alerts/new/preview", session, [*csrf, *DRILL])
        assert preview.status_code == 403
    assert await raising.alerts() == []
    assert raising.wakes.calls == 0


async def test_signed_out_posts_go_to_the_sign_in(raising: Raising) -> None:
    """Without a session every raise page redirects to /login and nothing is raised."""
    console = raising.console
    assert (await console.get("/alerts/new", None)).headers["location"] == "/login"
    console.client.cookies.clear()
    response = await console.client.post("/alerts/new", data=dict(DRILL))
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert await raising.alerts() == []


async def test_the_preview_shows_the_ucs2_segments_of_arabic(raising: Raising) -> None:
    """The Arabic speaker's SMS is shown in UCS-2 with its segment count; English in GSM-7."""
    console = raising.console
    session = await console.sign_in(console.nbo_officer)
    csrf = await raising.csrf(session)
    fields = [("csrf", csrf), *DRILL, ("text_ar", ARABIC_TEXT)]
    preview = await raising.post("/alerts/new/preview", session, fields)
    assert preview.status_code == 200
    sections = dict(re.findall(r"<h3>([^<]+)</h3>(.*?)</section>", preview.text, re.DOTALL))
    arabic = sections["العربية"]
    text = html.unescape(
        re.findall(r'<pre class="sms" lang="ar" dir="auto">(.*?)</pre>', arabic, re.DOTALL)[0]
    )
    assert ARABIC_TEXT in text
    length = sms_length(text)
    assert length.encoding == "UCS-2"
    assert length.segments >= 2
    assert figures(arabic) == {
        "People": "1",
        "Encoding": "UCS-2",
        "SMS segments": str(length.segments),
    }
    assert figures(sections["English"])["Encoding"] == "GSM-7"
    assert figures(sections["English"])["People"] == "3"
    assert ("text_ar", ARABIC_TEXT) in send_form(preview.text)


async def test_a_bad_field_shows_the_form_again_with_its_values(raising: Raising) -> None:
    """No channel ticked: 422, the error beside the channels, every other value kept."""
    console = raising.console
    session = await console.sign_in(console.nbo_officer)
    csrf = await raising.csrf(session)
    fields = [("csrf", csrf), *[(n, v) for n, v in DRILL if n != "channels"]]
    response = await raising.post(
        "/alerts/new/preview", session, [*fields, ("text_fr", "Exercice")]
    )
    assert response.status_code == 422
    page = response.text
    assert 'id="problem-channels">name at least one of sms, email, voice</p>' in page
    assert 'value="Monthly drill"' in page
    assert ">This is a drill.\nReply 1 if you are safe.</textarea>" in page
    assert ">Exercice</textarea>" in page
    assert "<details open>" in page
    assert 'value="drill" checked' in page
    assert 'value="minor" selected' in page
    assert 'value="sms" checked' not in page


async def test_change_brings_the_form_back_filled(raising: Raising) -> None:
    """The preview's Change button posts its values to /alerts/new/edit: the form, filled."""
    console = raising.console
    session = await console.sign_in(console.nbo_officer)
    csrf = await raising.csrf(session)
    preview = await raising.post("/alerts/new/preview", session, [("csrf", csrf), *DRILL])
    edit = await raising.post("/alerts/new/edit", session, send_form(preview.text))
    assert edit.status_code == 200
    assert 'value="Monthly drill"' in edit.text
    assert 'action="/alerts/new/preview"' in edit.text
    assert await raising.alerts() == []


async def test_the_raise_pages_speak_french(raising: Raising) -> None:
    """With Accept-Language: fr, the form and the preview are in French."""
    console = raising.console
    session = await console.sign_in(console.nbo_officer)
    form = await console.get("/alerts/new", session, **{"Accept-Language": "fr"})
    assert "<h1>Lancer une alerte</h1>" in form.text
    assert "Gravité" in form.text
    assert "Texte par langue (facultatif)" in form.text
    csrf = csrf_of(form.text)
    emergency = [(n, "emergency" if n == "kind" else v) for n, v in DRILL]
    preview = await raising.post(
        "/alerts/new/preview", session, [("csrf", csrf), *emergency], **{"Accept-Language": "fr"}
    )
    assert "<h1>Aperçu</h1>" in preview.text
    assert "Coût estimé" in preview.text
    assert "Je confirme : c’est une urgence réelle" in preview.text
    assert "Envoyer l’alerte" in preview.text


async def test_raised_counts_are_those_of_the_api(raising: Raising) -> None:
    """An alert raised from the console reaches the same people as the API counts them."""
    console = raising.console
    session = await console.sign_in(console.nbo_officer)
    csrf = await raising.csrf(session)
    preview = await raising.post("/alerts/new/preview", session, [("csrf", csrf), *DRILL])
    await raising.post("/alerts/new", session, send_form(preview.text))
    [alert] = await raising.alerts()
    api = await console.client.get(
        f"/api/v1/alerts/{alert.id}", headers={"Authorization": f"Bearer {console.admin}"}
    )
    assert api.json()["recipients"] == int(figures(preview.text)["Recipients"])
    async with console.database.session(read_only=True) as db:
        count = await db.execute(select(func.count()).select_from(Alert))
        assert count.scalar() == 1


async def test_the_longest_texts_in_every_language_fit_the_form(raising: Raising) -> None:
    """Seven texts of 2000 Chinese characters (130 KB URL-encoded, eight times the webhooks'
    limit) are read: the raise form has its own limit, `console.max_form_bytes`."""
    console = raising.console
    session = await console.sign_in(console.nbo_officer)
    csrf = await raising.csrf(session)
    longest = "字" * 2000
    texts = [(f"text_{code}", longest) for code in ("en", "fr", "es", "ru", "zh", "ar")]
    fields = [("csrf", csrf), *DRILL[:-1], ("message", longest), *texts]
    assert len(urlencode(fields)) > 120_000
    preview = await raising.post("/alerts/new/preview", session, fields)
    assert preview.status_code == 200, preview.text[:500]
    raised = await raising.post("/alerts/new", session, send_form(preview.text))
    assert raised.status_code == 303
    [alert] = await raising.alerts()
    assert alert.message == longest
    assert alert.messages == {code: longest for code in ("en", "fr", "es", "ru", "zh", "ar")}


async def test_too_large_a_form_gets_the_form_back_with_the_reason(raising: Raising) -> None:
    """A form over `console.max_form_bytes` answers 413 with the form and why; nothing is
    raised."""
    console = raising.console
    session = await console.sign_in(console.nbo_officer)
    csrf = await raising.csrf(session)
    texts = [(f"text_{code}", "字" * 12_000) for code in ("zh", "ar", "ru")]
    fields = [("csrf", csrf), *DRILL, *texts]
    for path in ("/alerts/new/preview", "/alerts/new"):
        response = await raising.post(path, session, fields)
        assert response.status_code == 413
        assert "The form was too large to be read" in response.text
        assert 'action="/alerts/new/preview"' in response.text
    viewer = await console.sign_in(console.viewer)
    refused = await raising.post(
        "/alerts/new", viewer, [("csrf", await raising.csrf(viewer)), *texts]
    )
    assert refused.status_code == 403
    assert await raising.alerts() == []


async def test_the_same_send_form_twice_raises_one_alert(raising: Raising) -> None:
    """The preview's form sent twice, one after the other and then twice at once, leads to
    the one alert it raised; a new preview raises a new one."""
    console = raising.console
    session = await console.sign_in(console.nbo_officer)
    csrf = await raising.csrf(session)
    preview = await raising.post("/alerts/new/preview", session, [("csrf", csrf), *DRILL])
    fields = send_form(preview.text)
    first = await raising.post("/alerts/new", session, fields)
    again = await raising.post("/alerts/new", session, fields)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert len(await raising.alerts()) == 1
    preview = await raising.post("/alerts/new/preview", session, [("csrf", csrf), *DRILL])
    fields = send_form(preview.text)
    both = await asyncio.gather(*(raising.post("/alerts/new", session, fields) for _ in "ab"))
    assert [r.status_code for r in both] == [303, 303]
    assert both[0].headers["location"] == both[1].headers["location"] != first.headers["location"]
    alerts = await raising.alerts()
    assert len(alerts) == 2
    assert alerts[0].submission != alerts[1].submission


async def test_a_forged_submission_value_is_refused(raising: Raising) -> None:
    """A one-time value that is not one shows the form again (422), and raises nothing."""
    console = raising.console
    session = await console.sign_in(console.nbo_officer)
    csrf = await raising.csrf(session)
    preview = await raising.post("/alerts/new/preview", session, [("csrf", csrf), *DRILL])
    fields = [
        (n, "'; DROP TABLE alert" if n == "submission" else v) for n, v in send_form(preview.text)
    ]
    refused = await raising.post("/alerts/new", session, fields)
    assert refused.status_code == 422
    assert await raising.alerts() == []


async def test_calls_are_offered_only_when_they_are_placed(database: Database) -> None:
    """Without `voice.from_number` the form offers SMS and e-mail; with it, a voice call."""
    async with console_on(database) as console:
        for number, offered in (("", False), ("+15005550007", True)):
            settings = Settings(
                http=HttpSettings(public_url="http://127.0.0.1:8080"),
                security=SecuritySettings(secret_key=SecretStr(SECRET)),
                voice=VoiceSettings(from_number=number),
            )
            app = create_app(database, settings, clock=console.clock)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                page = dataclasses.replace(console, client=client)
                form = await page.get("/alerts/new", await page.sign_in(page.nbo_officer))
            channels = re.findall(r'name="channels" value="(\w+)"', form.text)
            assert channels == (["sms", "email", "voice"] if offered else ["sms", "email"])
            assert ("Voice call" in form.text) is offered
