"""Headless Chromium for the tests that look at report.html as a person does: Debian's ``chromium`` driven
by Playwright through ``executable_path`` (no browser download), one browser per test session.

Every page records its console errors and guards its requests: anything that is not a ``file:`` URL of the
page or a loopback address is aborted and recorded. On a machine without Chromium (``make test`` installs
it) a test skips, or fails under ``CI=true``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlparse

from local_services import service_missing

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

CHROMIUM = os.environ.get("SK_LOADAGENT_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
VIEWPORT = {"width": 1280, "height": 800}


def launch_browser() -> Iterator[Browser]:
    """A started Chromium, closed after use (a session fixture wraps this)."""
    if not Path(CHROMIUM).exists():
        service_missing(f"Chromium is not installed at {CHROMIUM} (make test installs Debian's chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class GuardedPage:
    page: Page
    console_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


def open_page(browser: Browser, url: str, scheme: Literal["light", "dark"] = "light") -> GuardedPage:
    """``url`` in a fresh 1280×800 page of the given colour scheme, with the console and request guard."""
    page = browser.new_page(viewport=VIEWPORT, color_scheme=scheme)
    guarded = GuardedPage(page)

    def on_console(message: object) -> None:
        if getattr(message, "type", "") == "error":
            guarded.console_errors.append(str(getattr(message, "text", message)))

    def guard(route: Route) -> None:
        target = urlparse(route.request.url)
        if target.scheme == "file" or (target.hostname or "") in LOOPBACK:
            route.continue_()
        else:
            guarded.blocked.append(route.request.url)
            route.abort()

    page.on("console", on_console)
    # An uncaught exception (a script that does not even parse) is no console message: record it too.
    page.on("pageerror", lambda error: guarded.console_errors.append(f"uncaught: {error}"))
    page.route("**/*", guard)
    page.goto(url)
    return guarded


_COUNT_COLOURS = """async (dataUrl) => {
  const image = new Image();
  image.src = dataUrl;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, image.width, image.height).data;
  const seen = new Set();
  for (let i = 0; i < pixels.length; i += 4) {
    seen.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
  }
  return seen.size;
}"""


def distinct_colours(browser: Browser, png: bytes) -> int:
    """How many distinct colours a screenshot holds (a blank page has one), counted by the browser."""
    page = browser.new_page()
    try:
        return int(page.evaluate(_COUNT_COLOURS, "data:image/png;base64," + base64.b64encode(png).decode()))
    finally:
        page.close()
