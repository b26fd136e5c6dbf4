"""Take the console screenshots the README shows: `docs/console-*.png`, in headless Chromium.

The example stations and the Africa and Middle East roster (`contacts/`) are imported into a
temporary SQLite database, as any roster is. An officer of Nairobi raises an emergency; some
people answer within minutes (a few needing help, some in their own words, most safe), the
rest have not answered yet. The real app is served on a loopback port with its clock twenty
minutes after the alert, the officer signs in, and Chromium draws the alert's page, the raise
form's preview and the stations, at a desktop's size and at a phone's.

Run: `.venv/bin/python docs/console_screenshots.py` (needs the chromium and chromium-driver
packages)
"""

from __future__ import annotations

import asyncio
import io
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait
from sqlalchemy import select

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))  # run as a script from anywhere in the checkout

from notifier.access import Principal  # noqa: E402
from notifier.alert_request import AlertRequest  # noqa: E402
from notifier.domain import AlertKind, Channel, ResponseKind, Role, Severity  # noqa: E402
from notifier.roster_import import import_roster, import_stations  # noqa: E402
from notifier.settings import Settings  # noqa: E402
from notifier.store import alerts, materialisation, responses, schema, tokens  # noqa: E402
from notifier.store.engine import Database  # noqa: E402
from notifier.store.responses import Answer  # noqa: E402
from notifier.store.tables import PERSON  # noqa: E402
from notifier.web.app import create_app  # noqa: E402
from tests.browser import chromium_paths, serving, start_chromium  # noqa: E402
from tests.clock import HandClock  # noqa: E402

CONTACTS = REPOSITORY / "contacts"
DOCS = REPOSITORY / "docs"
DESKTOP = (1280, 800)
PHONE = (390, 844)
OFFICER = Principal("Amina Wanjiru", Role.OFFICER, frozenset({"NBO"}))
ROSTERS = ("roster-africa-middle-east.csv", "roster-headquarters.csv", "roster-asia-americas.json")
EXAMPLE_PRICES = {  # made up for the example, as in docs/drill_report.py
    "currency": "USD",
    "sms_segment_price": "0.0330",
    "sms_segment_prices": {"KE": "0.0451", "CH": "0.0788"},
    "email_price": "0.0001",
}
TITLE = "Armed robbery at Gate 2, Gigiri: shelter in place"
MESSAGE = (
    "Security reports an armed robbery at Gate 2 of the Gigiri compound. Stay inside, away "
    "from windows, and lock your office door. Do not go to Gate 2 or the car parks.\n"
    "Reply 1 if you are safe, 2 if you need help."
)
# (person, minutes after the alert, answer, their words); everyone else has not answered
ANSWERS = (
    ("P200004", 2, ResponseKind.SAFE, "1"),
    ("P200003", 3, ResponseKind.HELP, "2"),
    ("P200003", 4, ResponseKind.OTHER, "In the Block M basement with two visitors, door jammed"),
    ("P200012", 4, ResponseKind.SAFE, "1"),
    ("P200009", 5, ResponseKind.SAFE, "1"),
    ("P200006", 6, ResponseKind.HELP, "2"),
    ("P200010", 7, ResponseKind.OTHER, "On mission in Mombasa, not on the compound"),
    ("P200002", 9, ResponseKind.SAFE, "1"),
    ("P200005", 11, ResponseKind.HELP, "2"),
    ("P200005", 12, ResponseKind.OTHER, "Colleague fainted at the cafeteria, need a nurse"),
    ("P200008", 14, ResponseKind.SAFE, "1"),
)
SHOWN_AFTER = timedelta(minutes=20)
SECRET_KEY = "an example key of at least thirty-two characters"


async def main() -> None:
    """Build the alert and its answers, serve the console, and take the screenshots."""
    paths = chromium_paths()
    if paths is None:
        raise SystemExit("the screenshots need Debian's chromium and chromium-driver packages")
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'notifier.db'}"
        settings = Settings.model_validate(
            {"security": {"secret_key": SECRET_KEY}, "costs": EXAMPLE_PRICES}
        )
        async with Database.open(url) as database:
            officer, raised_at = await _alert_answered(database)
            async with database.session() as session:
                viewer = await tokens.create_token(
                    session, "Duty room", Role.VIEWER, [], actor="docs"
                )
            app = create_app(database, settings, clock=HandClock(raised_at + SHOWN_AFTER))
            async with serving(app) as base:
                await asyncio.to_thread(_screenshots, paths, base, officer, viewer)


async def _alert_answered(database: Database) -> tuple[str, datetime]:
    """The roster, the officer's token, and the alert with its answers; the token and the
    time the alert was raised."""
    await schema.upgrade(database)
    await import_stations(database, CONTACTS / "stations.csv", actor="docs")
    for roster in ROSTERS:
        await import_roster(database, CONTACTS / roster, actor="docs")
    async with database.session() as session:
        token = await tokens.create_token(
            session, OFFICER.name, OFFICER.role, sorted(OFFICER.stations), actor="docs"
        )
    request = AlertRequest(
        title=TITLE,
        message=MESSAGE,
        severity=Severity.SEVERE,
        kind=AlertKind.EMERGENCY,
        stations=("NBO",),
        channels=(Channel.SMS, Channel.EMAIL),
    )
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, OFFICER)
    assert alert.id is not None
    finished = False
    while not finished:
        async with database.session() as session:
            batch = await materialisation.materialise_batch(
                session, alert.id, 100, alert.created_at
            )
        finished = batch.finished
    async with database.session(read_only=True) as session:
        rows = await session.execute(select(PERSON.c.person_id, PERSON.c.id))
        keys = {person_id: key for person_id, key in rows.all()}
    for person_id, minutes, kind, text in ANSWERS:
        answer = Answer(alert.id, keys[person_id], kind, Channel.SMS, text)
        async with database.session() as session:
            await responses.record_answer(
                session, answer, alert.created_at + timedelta(minutes=minutes)
            )
    return token, alert.created_at


def _screenshots(paths: tuple[str, str], base: str, officer: str, viewer: str) -> None:
    """Draw each page at each size: as the officer, then the stations as the duty room sees
    them."""
    browser = start_chromium(paths, *DESKTOP)
    try:
        _sign_in(browser, base, officer)
        for size, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
            _window(browser, *size)
            _load(browser, f"{base}/alerts/1")
            if size == PHONE:  # the figures and who needs help, below the message
                browser.execute_script("document.querySelector('dl.figures').scrollIntoView()")
            _save(browser, f"console-alert-{name}.png")
            _load(browser, f"{base}/alerts/new")
            browser.find_element(By.ID, "title").send_keys(TITLE)
            browser.find_element(By.ID, "message").send_keys(MESSAGE)
            _submit(browser, "form.raise button[type=submit]")
            _save(browser, f"console-preview-{name}.png")
        browser.delete_all_cookies()
        _window(browser, *DESKTOP)
        _sign_in(browser, base, viewer)
        _load(browser, f"{base}/stations")
        _save(browser, "console-stations-desktop.png")
    finally:
        browser.quit()


def _window(browser: WebDriver, width: int, height: int) -> None:
    """Size the window so that the page itself has `width` by `height` CSS pixels (headless
    Chromium keeps the height of a browser's bars out of the page, not their width)."""
    browser.set_window_size(width, height)
    bars = browser.execute_script("return window.outerHeight - window.innerHeight;")
    browser.set_window_size(width, height + int(bars))
    assert browser.execute_script("return [innerWidth, innerHeight];") == [width, height]


def _sign_in(browser: WebDriver, base: str, token: str) -> None:
    browser.get(f"{base}/login")
    browser.find_element(By.ID, "token").send_keys(token)
    _submit(browser, "form button[type=submit]")


def _load(browser: WebDriver, url: str) -> None:
    browser.get(url)
    assert "/login" not in browser.current_url, "not signed in"


def _submit(browser: WebDriver, selector: str) -> None:
    """Click the submit button and wait for the next page."""
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, selector).click()
    WebDriverWait(browser, 15).until(expected_conditions.staleness_of(page))


def _save(browser: WebDriver, name: str) -> None:
    """The window's contents as a PNG of 256 colours (text and flat colours lose nothing)."""
    drawn = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    drawn.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(DOCS / name, optimize=True)
    print(DOCS / name)


if __name__ == "__main__":
    asyncio.run(main())
