"""The acknowledgement page in a real browser: headless Chromium answers safe, then help."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait
from sqlalchemy import select

from notifier import ack_tokens
from notifier.access import Principal
from notifier.alert_request import AlertRequest
from notifier.domain import Channel, Role
from notifier.settings import load_settings
from notifier.store import alerts, materialisation, schema
from notifier.store.engine import Database
from notifier.store.tables import PERSON, RECIPIENT, RESPONSE
from notifier.web.app import create_app
from tests.browser import browser_paths, serving, start_chromium
from tests.clock import HandClock
from tests.seeding import seed

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SECRET = "browser-test-secret-key-0123456789abcdef"
PHONE_SCREEN = (360, 640)
WAIT_SECONDS = 15


@dataclass(frozen=True, slots=True)
class Served:
    """The app listening on loopback, its database, and one person's acknowledgement link."""

    database: Database
    link: str


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """Headless Chromium with a cheap phone's screen."""
    chrome = start_chromium(browser_paths(), *PHONE_SCREEN)
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """The app on a free loopback port over SQLite, an e-mail alert sent to one person."""
    async with Database.open(f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}") as database:
        await schema.upgrade(database)
        pk = await alert_sent(database)
        settings = load_settings(None, {"NOTIFIER_SECURITY__SECRET_KEY": SECRET})
        app = create_app(database, settings, clock=HandClock(NOW))
        token = ack_tokens.issue(SECRET.encode(), 1, pk, NOW + timedelta(days=7))
        async with serving(app) as base:
            yield Served(database, f"{base}/ack/{token}")


async def alert_sent(database: Database) -> int:
    """Raise an e-mail alert (id 1) to the one person at NBO; their primary key."""
    await seed(database, ["E00001,Edward Kamau,e@example.org,,NBO,en,"])
    request = AlertRequest(
        title="Flood",
        message="Move to higher floors.",
        stations=("NBO",),
        channels=(Channel.EMAIL,),
    )
    async with database.session() as session:
        alert = await alerts.create_alert(session, request, Principal("admin", Role.ADMIN))
    assert alert.id == 1
    async with database.session() as session:
        await materialisation.materialise_batch(session, alert.id, 100, NOW)
        return int((await session.execute(select(PERSON.c.id))).scalar_one())


async def answers(database: Database) -> tuple[str | None, list[tuple[str, str]]]:
    """The person's current response and every (kind, channel) row recorded."""
    async with database.session() as session:
        current = (await session.execute(select(RECIPIENT.c.response))).scalar_one()
        rows = await session.execute(
            select(RESPONSE.c.kind, RESPONSE.c.channel).order_by(RESPONSE.c.id)
        )
        return current, [(row.kind, row.channel) for row in rows]


def open_page(browser: WebDriver, url: str) -> str:
    """Load the page; the text it shows."""
    browser.get(url)
    return browser.find_element(By.TAG_NAME, "body").text


def click(browser: WebDriver, label: str, then_shown: str) -> str:
    """Click the button with this label, wait until the next page shows `then_shown`; its text."""
    browser.find_element(By.XPATH, f"//button[normalize-space()='{label}']").click()
    shown = expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "body"), then_shown)
    WebDriverWait(browser, WAIT_SECONDS).until(shown)
    return browser.find_element(By.TAG_NAME, "body").text


def button_looks(browser: WebDriver, value: str) -> tuple[str, int, int]:
    """The computed background colour, width and height of a button, as the browser drew it."""
    button = browser.find_element(By.CSS_SELECTOR, f'button[value="{value}"]')
    size = button.size
    return button.value_of_css_property("background-color"), size["width"], size["height"]


async def test_answer_safe_then_help_in_a_browser(browser: WebDriver, served: Served) -> None:
    """In Chromium: the question, 'I am safe' records safe, then 'I need help' records help."""
    text = await asyncio.to_thread(open_page, browser, served.link)
    assert "Flood" in text and "Are you safe?" in text
    assert await answers(served.database) == (None, [])
    colour, width, height = await asyncio.to_thread(button_looks, browser, "safe")
    assert colour == "rgba(21, 128, 61, 1)"  # the inline style survived the CSP
    assert height >= 48 and width >= PHONE_SCREEN[0] - 64  # big, full-width on a phone

    text = await asyncio.to_thread(click, browser, "I am safe", "Recorded: safe")
    assert "You can change your answer" in text
    assert browser.current_url == served.link  # post, redirect, get: back on the same link
    assert await answers(served.database) == ("safe", [("safe", "email")])

    text = await asyncio.to_thread(click, browser, "I need help", "Recorded: you need help")
    assert "Recorded: safe" not in text
    assert await answers(served.database) == ("help", [("safe", "email"), ("help", "email")])
