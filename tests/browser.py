"""A real browser against the real app: uvicorn on a loopback port and headless Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from starlette.types import ASGIApp

MISSING = "the browser tests need Debian's chromium and chromium-driver packages"


class QuietServer(uvicorn.Server):
    """uvicorn, minus its own signal handling: Ctrl-C stays with whoever runs it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port in this event loop; its base URL, no trailing slash."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", access_log=False, log_level="warning")
    server = QuietServer(config)
    running = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started and not running.done():  # uvicorn offers only this flag
            await asyncio.sleep(0.02)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await running
        listener.close()


def chromium_paths() -> tuple[str, str] | None:
    """Chromium and chromedriver on the PATH, or None without them."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    return None if chromium is None or driver is None else (chromium, driver)


def browser_paths() -> tuple[str, str]:
    """Chromium and chromedriver; a skip without them, a failure in CI (which installs them)."""
    paths = chromium_paths()
    if paths is None:
        if os.environ.get("CI"):
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    return paths


def start_chromium(paths: tuple[str, str], width: int, height: int) -> WebDriver:
    """Headless Chromium with a window of `width` by `height` CSS pixels; quit it when done."""
    chromium, driver = paths
    options = Options()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service(driver), options=options)
