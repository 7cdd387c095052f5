"""``run --dashboard``: the live view's feed and event stream, and the page updating in headless Chromium
during a real two-second run against the sample service, then showing the final figures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser_support import distinct_colours, launch_browser, open_page
from starlette.testclient import TestClient

from sk_loadagent.dashboard import LiveFeed, live_app
from sk_loadagent.engine import Progress
from sk_loadagent.sample_service import SampleService

if TYPE_CHECKING:
    from playwright.sync_api import Browser

COMMAND = [sys.executable, "-m", "sk_loadagent.cli.main", "run"]


def progress(elapsed: float, rps: float, errors: int = 0) -> Progress:
    return Progress(
        elapsed=elapsed,
        remaining=4.0 - elapsed,
        phase="steady",
        rps=rps,
        p95_ms=12.5,
        errors=errors,
        requests=int(rps * elapsed),
        in_flight=3,
        late_starts=0,
    )


def test_the_feed_keeps_each_tests_latest_figures() -> None:
    feed = LiveFeed("plan.yaml")
    feed("checkout-load", progress(1.0, 20.0))
    feed("checkout-spike", progress(1.0, 50.0))
    feed("checkout-load", progress(2.0, 21.0, errors=1))

    snapshot = feed.snapshot()

    assert [t["test"] for t in snapshot["tests"]] == ["checkout-load", "checkout-spike"]
    assert snapshot["tests"][0] == {
        "test": "checkout-load",
        "phase": "steady",
        "elapsed": 2.0,
        "remaining": 2.0,
        "progress": 0.5,
        "rps": 21.0,
        "p95Ms": 12.5,
        "errors": 1,
        "requests": 42,
        "inFlight": 3,
        "lateStarts": 0,
    }
    assert (snapshot["updates"], snapshot["finished"]) == (3, False)


def test_the_event_stream_ends_with_the_run() -> None:
    feed = LiveFeed("plan.yaml")
    feed("checkout-load", progress(1.0, 20.0))
    threading.Timer(1.5, lambda: feed.finish("gate passed")).start()

    with TestClient(live_app(feed)) as client, client.stream("GET", "/events") as events:
        lines = [line for line in events.iter_lines() if line.startswith("event:")]
        headers = events.headers

    assert headers["content-type"].startswith("text/event-stream")
    assert "default-src 'none'" in headers["content-security-policy"]
    assert lines[0] == "event: progress"
    assert lines[-1] == "event: end"
    assert len(lines) in (2, 3)  # one a second until the run ends


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_browser()


def plan(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "live.plan.yaml"
    path.write_text(
        "traceId: live-view\nmoduleId: CheckoutService\neditionId: vetclinic\n"
        f"baseUrl: {base_url}\nendpoint: /checkout/submit\nmethod: POST\n"
        "tests:\n  - name: checkout-load\n    type: load\n    rps: 20\n    duration: 2s\n"
        "    body: {clinicId: c-1, petId: p-1, items: [{sku: EXAM-STD, quantity: 1}]}\n",
        encoding="utf-8",
    )
    return path


def wait_until(check: Callable[[], bool], seconds: float) -> None:
    """Poll from here: the page's policy forbids the string evaluation Playwright's waits use."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_the_live_view_updates_during_a_run_and_stops_with_it(tmp_path: Path, browser: Browser) -> None:
    shots = Path(os.environ.get("SK_LOADAGENT_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with SampleService(release="stable", latency_ms=5, jitter=0.1) as service:
        argv = [
            *COMMAND,
            "--plan",
            str(plan(tmp_path, service.url)),
            "--out",
            str(tmp_path / "perf"),
            "--memory",
            str(tmp_path / "memory.sqlite"),
            "--workers",
            "1",
            "--quiet",
            "--dashboard-port",
            "0",
        ]
        with subprocess.Popen(
            argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as run:
            assert run.stdout is not None
            line = run.stdout.readline()
            found = re.search(r"Live view: (http://127\.0\.0\.1:\d+/)", line)
            assert found, line
            pages = {scheme: open_page(browser, found.group(1), scheme) for scheme in ("light", "dark")}
            light = pages["light"].page
            card = light.locator(".live-test[data-test='checkout-load'] .figures")
            wait_until(lambda: card.count() == 1, 30)  # the first figures of the load, while it runs
            shot = light.screenshot(path=str(shots / "live-running-light.png"))
            seen = []
            until = time.monotonic() + 60  # the run is bounded; so is this wait
            while light.evaluate("document.body.dataset.state") != "finished":
                assert time.monotonic() < until, "the live view never said the run ended"
                seen.append(card.inner_text().replace("\n", " "))
                time.sleep(0.2)
            seen.append(card.inner_text().replace("\n", " "))
            out, err = run.communicate(timeout=60)

        for scheme, guarded in pages.items():
            page = guarded.page
            wait_until(lambda page=page: page.evaluate("document.body.dataset.state") == "finished", 10)
            page.screenshot(path=str(shots / f"live-finished-{scheme}.png"))
            assert "The run has ended: gate passed" in page.locator("#status-line").inner_text()
            assert page.locator(".live-test").count() == 1
            assert (guarded.console_errors, guarded.blocked) == ([], [])
            page.close()

    assert run.returncode == 0, err
    assert len(set(seen)) >= 2  # the figures (rps, p95, errors, in flight, done) changed as the load ran
    assert not seen[0].endswith("100% done")
    assert seen[-1].endswith("100% done")
    assert distinct_colours(browser, shot) > 50
    assert "checkout-load" in out
