"""flamegraph.svg from the spans' call paths: self-contained, a tooltip per box with self and total time, and
readable in headless Chromium (screenshots under /tmp/shots-obs)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from browser_support import distinct_colours, launch_browser, open_page

from sk_loadagent.analysis.spans import summarize_spans
from sk_loadagent.measurements import SpanRecord
from sk_loadagent.publish.flamegraph import flamegraph_svg, write_flamegraph

if TYPE_CHECKING:
    from playwright.sync_api import Browser

MS = 1_000_000
SHOTS = Path(os.environ.get("SK_LOADAGENT_SHOTS", "/tmp/shots-obs"))


def _summary():  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    traces, traced = {}, []
    for i in range(60):
        trace = f"{i:032x}"
        charge = float(rng.uniform(20, 30))

        def span(
            sid: int, parent: int, service: str, name: str, a: float, b: float, trace: str = trace
        ) -> SpanRecord:
            return SpanRecord(
                trace,
                f"{sid:016x}",
                f"{parent:016x}" if parent else "",
                service,
                name,
                1,
                int(a * MS),
                int(b * MS),
            )

        traces[trace] = [
            span(1, 0, "checkout", "POST /checkout/submit", 0, charge + 12),
            span(2, 1, "checkout", "ValidateCart", 1, 5),
            span(3, 1, "checkout", "ChargeCard", 5, 5 + charge),
            span(4, 3, "payments", "POST /charge", 6, 4 + charge),
            span(5, 4, "payments", "fraud-check <score>", 7, 10),
            span(6, 1, "checkout", "SendConfirmationEmail", 5 + charge, 11 + charge),
        ]
        traced.append((trace, i * 0.01, (charge + 14) / 1000))
    return summarize_spans(
        traces, traced, trace_id="proj-888-checkout", bottleneck_limit=0.5, test_name="checkout-load"
    )


def test_boxes_tooltips_and_widths() -> None:
    summary = _summary()
    svg = flamegraph_svg(summary)
    root = ET.fromstring(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    tips = [t.text or "" for t in root.iterfind(".//s:g/s:title", ns)]
    assert len(tips) == 7  # "all" and six call paths
    charge = next(t for t in tips if t.startswith("checkout: ChargeCard"))
    assert "self " in charge
    assert "total " in charge
    assert "60 spans" in charge
    assert any(t.startswith("payments: fraud-check <score>") for t in tips)  # escaped, read back intact
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # nothing fetched from elsewhere
    rects = {
        g.find("s:title", ns).text.split("\n")[0]: float(g.find("s:rect", ns).get("width"))  # type: ignore[union-attr]
        for g in root.iterfind(".//s:g", ns)
    }
    assert rects["checkout: ChargeCard"] > rects["checkout: ValidateCart"] * 4


def test_nothing_without_call_paths(tmp_path: Path) -> None:
    summary = _summary().model_copy(update={"call_paths": None})
    assert write_flamegraph(tmp_path / "flamegraph.svg", summary) is None
    assert not (tmp_path / "flamegraph.svg").exists()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_browser()


def test_it_reads_in_chromium(browser: Browser, tmp_path: Path) -> None:
    path = write_flamegraph(tmp_path / "flamegraph.svg", _summary())
    assert path is not None
    guarded = open_page(browser, path.as_uri())
    page = guarded.page
    SHOTS.mkdir(parents=True, exist_ok=True)
    png = page.screenshot(path=str(SHOTS / "flamegraph.png"))
    # the tooltips are the boxes' <title> elements: one per box, and the page's own
    assert page.locator("svg > g > title").count() == 7
    assert page.title() == "Span time by call path: checkout-load"
    assert guarded.console_errors == []
    assert guarded.blocked == []
    assert distinct_colours(browser, png) > 6
    page.close()


def test_cpu_flamegraph_from_py_spy_stacks(browser: Browser, tmp_path: Path) -> None:
    from sk_loadagent.observability._pyspy import collapsed_paths
    from sk_loadagent.publish.flamegraph import write_cpu_flamegraph

    raw = (
        "<module> (app.py:900);run (uvicorn/server.py:60);_business (app.py:580);serve (app.py:760) 120\n"
        "<module> (app.py:900);run (uvicorn/server.py:60);_business (app.py:580);_respond (app.py:480) 40\n"
        "<module> (app.py:900);run (uvicorn/server.py:60);on_body (httptools/parser.py:10) 25\n"
        "not a stack line\n"
    )
    paths = collapsed_paths(raw)
    assert [p.count for p in paths] == [120, 40, 25]
    assert paths[0].self_ms == 1200.0  # 100 samples a second
    path = write_cpu_flamegraph(tmp_path / "cpu-flamegraph.svg", "checkout-load", paths)
    assert path is not None
    guarded = open_page(browser, path.as_uri())
    guarded.page.screenshot(path=str(SHOTS / "cpu-flamegraph.png"))
    assert guarded.page.title() == "Target CPU by stack (py-spy): checkout-load"
    assert guarded.console_errors == []
    guarded.page.close()
