"""The officers' console in headless Chromium: sign in, raise, watch answers arrive, refusals.

One Chromium serves the whole module (its cookies cleared before each test); each test has
its own app on a loopback port, over SQLite and over PostgreSQL, with a clock set by hand.
Selenium blocks, so each browser step that waits for the app runs in a thread while the
app serves in the test's event loop; reading the page already shown needs no thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait
from sqlalchemy import select

from notifier.settings import HttpSettings, SecuritySettings, Settings, SmsSettings
from notifier.store import materialisation
from notifier.store.engine import Database
from notifier.store.tables import ALERT
from notifier.web.app import create_app
from tests.browser import browser_paths, serving, start_chromium
from tests.clock import HandClock
from tests.console.console_app import NOW, SECRET, seeded_with_tokens
from tests.web.test_webhooks import ACCOUNT_SID, AUTH_TOKEN, sign

PUBLIC_URL = "http://127.0.0.1:8080"  # what Twilio signs; the app serves on another port
DESKTOP = (1280, 800)
PHONE = (390, 844)
WAIT_SECONDS = 15  # the page polls every 3 s
HELPER_PHONE = "+254720000002"
HELPER = "Wanjiku Nyambura-Achieng Odhiambo-Kipchumba"
ROSTER = [
    "N00001,Achieng Atieno-Wairimu Kamau-Otieno,achieng.atieno-wairimu@example.org,"
    "+254720000001,NBO,en,wardens",
    f"N00002,{HELPER},wanjiku.nyambura-achieng@example.org,{HELPER_PHONE},NBO,en,",
    "N00003,Mohamed Abdirahman Hassan-Farah,,+254720000003,NBO,en,",
    "N00004,Brigitte Schaffhauser-Lindqvist,brigitte.schaffhauser@example.org,,NBO,fr,",
    "G00001,Hélène Dubois,helene@example.org,+41791234567,GVA,fr,wardens",
]
TITLE = (
    "Evacuation drill: Gigiri compound, blocks A to X, assembly at the northern car park "
    "beside the UNEP visitors' entrance"
)
MESSAGE = (
    "This is a drill. Leave the building by the nearest staircase, do not use the lifts, and "
    "go to the assembly point at the northern car park. Wardens count their floors there. "
    "Instructions: https://intranet.unon.org/security/evacuation-procedures/gigiri-compound/"
    "blocks-a-to-x/assembly-points.pdf\nReply 1 if you are safe, 2 if you need help."
)
HELP_WORDS = (
    "Stuck on the fourth floor of block Q, the north-east stairwell door is locked; "
    "plan: https://intranet.unon.org/security/floor-plans/block-Q/level-4-north-east.pdf"
)


@dataclass(frozen=True, slots=True)
class Served:
    """The console on loopback: its base URL, database, clock and four tokens."""

    base: str
    database: Database
    clock: HandClock
    admin: str
    nbo_officer: str
    gva_officer: str
    viewer: str

    async def raise_by_api(self, title: str, station: str) -> int:
        """Raise an alert at `station` through the API as admin, over HTTP; its id."""
        async with httpx.AsyncClient(base_url=self.base) as client:
            response = await client.post(
                "/api/v1/alerts",
                json={"title": title, "message": "Leave the building.", "stations": [station]},
                headers={"Authorization": f"Bearer {self.admin}"},
            )
        assert response.status_code == 202, response.text
        alert_id: int = response.json()["id"]
        return alert_id

    async def materialise(self, alert_id: int) -> None:
        """Put the alert's recipients in place, as the dispatcher does."""
        finished = False
        while not finished:
            async with self.database.session() as session:
                batch = await materialisation.materialise_batch(session, alert_id, 100, NOW)
            finished = batch.finished

    async def sms_reply(self, sender: str, body: str) -> None:
        """POST an inbound SMS to the webhook over HTTP, signed as Twilio signs it."""
        form = {
            "AccountSid": ACCOUNT_SID,
            "MessageSid": "SM" + hashlib.md5(body.encode()).hexdigest(),
            "From": sender,
            "To": "+15005550006",
            "Body": body,
            "NumMedia": "0",
        }
        path = "/webhooks/twilio/sms"
        headers = {"X-Twilio-Signature": sign(PUBLIC_URL + path, form)}
        async with httpx.AsyncClient(base_url=self.base) as client:
            response = await client.post(path, data=form, headers=headers)
        assert response.status_code == 200, response.text

    async def status_of(self, alert_id: int) -> str:
        """The alert's status in the database."""
        async with self.database.session(read_only=True) as session:
            query = select(ALERT.c.status).where(ALERT.c.id == alert_id)
            status: str = (await session.execute(query)).scalar_one()
        return status


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """One headless Chromium for the module's tests."""
    chrome = start_chromium(browser_paths(), *DESKTOP)
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.fixture
async def served(database: Database, browser: WebDriver) -> AsyncIterator[Served]:
    """The console served over `database`: NBO and GVA people, four tokens, a fresh browser."""
    issued = await seeded_with_tokens(database, ROSTER)
    settings = Settings(
        http=HttpSettings(public_url=PUBLIC_URL),
        security=SecuritySettings(secret_key=SecretStr(SECRET)),
        sms=SmsSettings(auth_token=SecretStr(AUTH_TOKEN)),
    )
    clock = HandClock(NOW)
    await asyncio.to_thread(_fresh, browser)
    async with serving(create_app(database, settings, clock=clock)) as base:
        yield Served(base, database, clock, *issued)


def _fresh(browser: WebDriver) -> None:
    """No cookie of an earlier test (cookies ignore the port), a desktop window."""
    browser.delete_all_cookies()
    browser.set_window_size(*DESKTOP)


def _wait(browser: WebDriver) -> WebDriverWait[WebDriver]:
    return WebDriverWait(browser, WAIT_SECONDS)


def _path(browser: WebDriver) -> str:
    return urlsplit(browser.current_url).path


def _heading(browser: WebDriver) -> str:
    return str(browser.find_element(By.TAG_NAME, "h1").text)


def _status(browser: WebDriver) -> int:
    """The HTTP status of the page shown, as the browser received it."""
    script = "return performance.getEntriesByType('navigation')[0].responseStatus;"
    return int(browser.execute_script(script))


def _submit(browser: WebDriver, button: WebElement) -> None:
    """Click a submit button and wait for the next page to replace this one.

    The page is marked in its window, which the next page does not have: Chromium's driver
    sometimes answers an element of the old page with an unknown error rather than "stale",
    and a script run while the next page loads may fail too, so those errors mean "not yet".
    """
    browser.execute_script("window.leftBehind = true;")
    button.click()
    replaced = "return document.readyState === 'complete' && window.leftBehind !== true;"
    WebDriverWait(browser, WAIT_SECONDS, ignored_exceptions=(WebDriverException,)).until(
        lambda shown: bool(shown.execute_script(replaced))
    )


def sign_in(browser: WebDriver, base: str, token: str) -> None:
    """Type the token into the sign-in form and send it; wait for the home page."""
    browser.get(f"{base}/login")
    browser.find_element(By.ID, "token").send_keys(token)
    _submit(browser, browser.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    assert _path(browser) == "/", browser.page_source


def fill_raise_form(browser: WebDriver) -> None:
    """From the home page, open the raise form and fill it for a drill at NBO."""
    browser.find_element(By.ID, "raise").click()
    _wait(browser).until(lambda b: _path(b) == "/alerts/new")
    station = browser.find_element(By.CSS_SELECTOR, "input[name=stations][value=NBO]")
    if not station.is_selected():  # an officer of one station finds it ticked already
        station.click()
    browser.find_element(By.CSS_SELECTOR, "input[name=kind][value=drill]").click()
    browser.find_element(By.ID, "title").send_keys(TITLE)
    browser.find_element(By.ID, "message").send_keys(MESSAGE)


def preview(browser: WebDriver) -> dict[str, str]:
    """Send the filled form to its preview; the preview's figures, by label."""
    _submit(browser, browser.find_element(By.CSS_SELECTOR, "form.raise button[type=submit]"))
    assert _heading(browser) == "Preview"
    return _terms(browser, "main > dl.figures > div", "dt")


def send(browser: WebDriver) -> int:
    """Send the previewed alert; the id of the alert whose page the browser lands on."""
    button = browser.find_element(By.XPATH, "//button[normalize-space()='Send the alert']")
    _submit(browser, button)
    found = re.fullmatch(r"/alerts/(\d+)", _path(browser))
    assert found is not None, browser.current_url
    return int(found.group(1))


def figures(browser: WebDriver) -> dict[str, str]:
    """The alert page's live figures, by their `data-figure` name."""
    return _terms(browser, ".alert-page > dl.figures > [data-figure]", "data-figure")


def _terms(browser: WebDriver, selector: str, named_by: str) -> dict[str, str]:
    """Each figure's shown value (its `dd`), by its `dt` or by the attribute `named_by`;
    read in one script rather than a round trip to the browser per element."""
    script = """
        const [selector, namedBy] = arguments;
        return Array.from(document.querySelectorAll(selector), (figure) => [
            namedBy === "dt" ? figure.querySelector("dt").innerText : figure.getAttribute(namedBy),
            figure.querySelector("dd").innerText,
        ]);
    """
    pairs = browser.execute_script(script, selector, named_by)
    return {str(name): str(value) for name, value in pairs}


def first_in_need(browser: WebDriver) -> tuple[str, str | None, str] | None:
    """The first person of the help list: name, tel: link and text; None if it is empty.

    Read in one script: the page's polling may replace the list's items between two calls.
    """
    found = browser.execute_script(
        """
        const first = document.querySelector("#help-list > li");
        if (first === null) return null;
        const phone = first.querySelector("a.phone");
        return [
            first.querySelector(".name").innerText,
            phone === null ? null : phone.getAttribute("href"),
            first.innerText,
        ];
        """
    )
    if found is None:
        return None
    name, phone, text = found
    return str(name), None if phone is None else str(phone), str(text)


def mark_page(browser: WebDriver) -> None:
    """Leave a mark in this page's window, which a reload would wipe out."""
    browser.execute_script("window.notReloaded = true;")


def still_marked(browser: WebDriver) -> bool:
    """Whether the page shown is still the one marked."""
    return bool(browser.execute_script("return window.notReloaded === true;"))


def wider_than_the_window(browser: WebDriver) -> tuple[int, int]:
    """The page's scroll width and the window's inner width, in CSS pixels."""
    widths = browser.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth];"
    )
    return int(widths[0]), int(widths[1])


def fits(browser: WebDriver) -> bool:
    """Whether the page needs no horizontal scrolling."""
    scroll_width, inner_width = wider_than_the_window(browser)
    return scroll_width <= inner_width


async def test_officer_raises_and_sees_help_arrive_without_reloading(
    browser: WebDriver, served: Served
) -> None:
    """The NBO officer signs in, fills, previews and sends a drill; a signed SMS "2" moves the
    page's counts and puts its sender, with a tel: link, at the top of the help list."""
    await asyncio.to_thread(sign_in, browser, served.base, served.nbo_officer)
    await asyncio.to_thread(fill_raise_form, browser)
    shown = await asyncio.to_thread(preview, browser)
    assert shown["Recipients"] == "4"
    assert (shown["SMS"], shown["E-mail"], shown["Unreachable"]) == ("3", "3", "0")
    assert int(shown["SMS segments"]) >= 6  # three phones, the long message in parts to each
    alert_id = await asyncio.to_thread(send, browser)
    assert _heading(browser) == TITLE
    assert await served.status_of(alert_id) == "dispatching"
    before = await asyncio.to_thread(figures, browser)
    assert (before["recipients"], before["acknowledged"], before["responses.help"]) == (
        "4",
        "0",
        "0",
    )
    assert await asyncio.to_thread(first_in_need, browser) is None
    await asyncio.to_thread(mark_page, browser)

    await served.materialise(alert_id)
    await served.sms_reply(HELPER_PHONE, "2")

    def answered(b: WebDriver) -> bool:
        now = figures(b)
        return now["responses.help"] == "1" and now["acknowledged"] == "1"

    await asyncio.to_thread(_wait(browser).until, answered)
    after = await asyncio.to_thread(figures, browser)
    assert (after["recipients"], after["not_answered"], after["responses.safe"]) == ("4", "3", "0")
    first = await asyncio.to_thread(first_in_need, browser)
    assert first is not None
    assert first[:2] == (HELPER, f"tel:{HELPER_PHONE}")
    assert await asyncio.to_thread(still_marked, browser)  # the same page, updated in place
    assert not await asyncio.to_thread(browser.find_element(By.ID, "help-none").is_displayed)


async def test_another_stations_alert_is_not_found(browser: WebDriver, served: Served) -> None:
    """The NBO officer opening GVA's alert (raised through the API) gets the 404 page."""
    gva_alert = await served.raise_by_api("Fire in the Palais des Nations", "GVA")
    await asyncio.to_thread(sign_in, browser, served.base, served.nbo_officer)
    await asyncio.to_thread(browser.get, f"{served.base}/alerts/{gva_alert}")
    assert (_heading(browser), _status(browser)) == ("Not found", 404)
    assert "Fire in the Palais" not in browser.page_source


async def test_viewer_has_no_way_to_raise(browser: WebDriver, served: Served) -> None:
    """A viewer's home page has no raise link, and /alerts/new is the 403 refusal."""
    await asyncio.to_thread(sign_in, browser, served.base, served.viewer)
    raising = "#raise, a[href='/alerts/new'], form[action^='/alerts/new']"
    assert await asyncio.to_thread(browser.find_elements, By.CSS_SELECTOR, raising) == []
    await asyncio.to_thread(browser.get, f"{served.base}/alerts/new")
    assert (_heading(browser), _status(browser)) == ("Not allowed", 403)
    assert browser.find_elements(By.CSS_SELECTOR, "form.raise") == []


async def test_a_form_without_its_csrf_value_is_refused(browser: WebDriver, served: Served) -> None:
    """The cancel form posted with its CSRF field removed is refused; the alert stays open."""
    alert_id = await served.raise_by_api("Flood in Gigiri", "NBO")
    await asyncio.to_thread(sign_in, browser, served.base, served.nbo_officer)
    await asyncio.to_thread(browser.get, f"{served.base}/alerts/{alert_id}/cancel")
    script = "document.querySelector('form.stack input[name=csrf]').remove();"
    await asyncio.to_thread(browser.execute_script, script)
    button = browser.find_element(By.CSS_SELECTOR, "form.stack button.danger")
    await asyncio.to_thread(_submit, browser, button)
    assert (_heading(browser), _status(browser)) == ("Not allowed", 403)
    assert await served.status_of(alert_id) == "dispatching"


async def test_an_expired_session_leads_back_to_sign_in(browser: WebDriver, served: Served) -> None:
    """Once [console] session_minutes (480) have passed, the next page load shows /login."""
    await asyncio.to_thread(sign_in, browser, served.base, served.nbo_officer)
    served.clock.at += timedelta(minutes=479)
    await asyncio.to_thread(browser.get, f"{served.base}/stations")
    assert _path(browser) == "/stations"
    served.clock.at += timedelta(minutes=2)
    await asyncio.to_thread(browser.get, f"{served.base}/stations")
    assert _path(browser) == "/login"
    assert browser.find_elements(By.ID, "token")


async def test_phone_pages_need_no_sideways_scrolling(browser: WebDriver, served: Served) -> None:
    """At 390 by 844, the raise form, its preview and the alert's page (long title, message,
    names and a help message) fit the window's width."""
    await asyncio.to_thread(browser.set_window_size, *PHONE)
    assert (await asyncio.to_thread(wider_than_the_window, browser))[1] == PHONE[0]
    await asyncio.to_thread(sign_in, browser, served.base, served.nbo_officer)
    await asyncio.to_thread(fill_raise_form, browser)
    assert await asyncio.to_thread(fits, browser), "the raise form"
    await asyncio.to_thread(preview, browser)
    assert await asyncio.to_thread(fits, browser), "the preview"
    alert_id = await asyncio.to_thread(send, browser)
    await served.materialise(alert_id)
    await served.sms_reply(HELPER_PHONE, "2")
    served.clock.at += timedelta(minutes=1)
    await served.sms_reply(HELPER_PHONE, HELP_WORDS)
    await asyncio.to_thread(browser.refresh)
    first = await asyncio.to_thread(first_in_need, browser)
    assert first is not None and HELP_WORDS in first[2]
    assert await asyncio.to_thread(fits, browser), "the alert's page"
