"""The dashboard as a person sees it, in headless Chromium (Debian's, through Playwright): served by the
real command on loopback, it draws one tile per stored series, clicks through to a run's report and back to
the series, filters, and loads nothing from anywhere else. Screenshots go to $SK_LOADAGENT_SCREENSHOTS."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser_support import distinct_colours, launch_browser, open_page

from sk_loadagent.memory import open_store

if TYPE_CHECKING:
    from playwright.sync_api import Browser

COMMAND = [sys.executable, "-m", "sk_loadagent.cli.main", "dashboard"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_browser()


def serve(memory: str) -> Iterator[str]:
    """``sk-loadagent dashboard --memory memory --port 0`` in a child process: the URL it prints."""
    with subprocess.Popen(
        [*COMMAND, "--memory", memory, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            found = re.search(r"(http://\S+/)", line)
            assert found, f"no URL printed: {line!r}"
            yield found.group(1)
        finally:
            child.send_signal(signal.SIGINT)
            try:
                assert child.wait(timeout=15) == 0  # Ctrl-C is how a dashboard ends
            finally:
                child.kill()


@pytest.fixture(scope="module")
def dashboard(studio_store: str) -> Iterator[str]:
    yield from serve(studio_store)


def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SK_LOADAGENT_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_one_tile_per_series_and_a_click_through_to_a_run_and_back(
    dashboard: str, studio_store: str, browser: Browser, tmp_path: Path, scheme: str
) -> None:
    assert dashboard.startswith("http://127.0.0.1:")  # loopback unless --host says otherwise
    guarded = open_page(browser, dashboard, scheme)
    page = guarded.page

    shot = page.screenshot(path=str(shots(tmp_path) / f"dashboard-{scheme}.png"))
    page.screenshot(path=str(shots(tmp_path) / f"dashboard-{scheme}-full.png"), full_page=True)
    assert distinct_colours(browser, shot) > 50  # not blank
    with open_store(studio_store, create=False) as store:
        stored = len(store.keys())
    assert page.locator(".tile").count() == stored == 8
    assert page.locator("#attention li").count() == 1
    assert page.locator("#editions tr").count() == 5  # a header and four scopes
    assert page.locator("#retries td.k-red").count() == 1

    page.locator("#attention li a").first.click()
    page.wait_for_url(re.compile(r"/runs/CheckoutService-vetclinic-premium-spike-\d+$"))
    assert page.locator("h1").inner_text() == "CheckoutService performance report"
    assert "⚠ Regression detected" in page.locator(".tile").first.inner_text()
    page.screenshot(path=str(shots(tmp_path) / f"run-report-{scheme}.png"))

    page.locator("nav.back a").click()
    page.wait_for_url(re.compile(r"/series/"))
    assert page.locator("#trend svg.chart").count() == 2
    assert page.locator("#runs tr").count() == 13  # a header and twelve builds
    page.screenshot(path=str(shots(tmp_path) / f"series-{scheme}.png"), full_page=True)

    assert guarded.console_errors == []
    assert guarded.blocked == []
    page.close()


def test_filtering_by_edition_keeps_that_editions_tiles(dashboard: str, browser: Browser) -> None:
    guarded = open_page(browser, dashboard)
    page = guarded.page

    page.select_option("select[name=edition]", "vetclinic")
    page.select_option("select[name=group]", "testType")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"edition=vetclinic"))

    assert page.locator(".tile").count() == 4
    assert page.locator(".group-name").all_inner_texts() == ["load 2 series", "spike 2 series"]
    assert (guarded.console_errors, guarded.blocked) == ([], [])
    page.close()


def test_an_empty_store_is_an_empty_state_page(tmp_path: Path, browser: Browser) -> None:
    for url in serve(str(tmp_path / "nothing-yet.sqlite")):
        guarded = open_page(browser, url)
        assert "No memory store at" in guarded.page.locator("#empty").inner_text()
        guarded.page.screenshot(path=str(shots(tmp_path) / "dashboard-empty.png"))
        assert (guarded.console_errors, guarded.blocked) == ([], [])
        guarded.page.close()
