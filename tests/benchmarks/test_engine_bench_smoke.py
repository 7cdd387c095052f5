"""A seconds-long run of `make bench` (engine_bench.py --tiny): the script runs end to end against its
bundled target only and prints its tables, the closed-form truth beside the engine's figures."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
from bench_scripts import BENCHMARKS
from bench_scripts import import_bench_module as _import

pytestmark = pytest.mark.skipif(
    shutil.which("taskset") is None, reason="the bench pins processes with taskset"
)


def test_closed_form_truth_matches_the_peer_measurements() -> None:
    bench = _import("engine_bench")
    truth = bench.truth(200, 20, 5.0)
    assert truth["p50"] == pytest.approx(1.0, abs=1e-6)
    assert truth["p90"] == pytest.approx(501.0, abs=0.01)
    assert truth["p99"] == pytest.approx(951.0, abs=0.01)
    assert truth["max"] == pytest.approx(1001.0, abs=0.01)


def tiny_run(parts: str) -> str:
    """The output of ``engine_bench.py --tiny --only PARTS`` (which must succeed)."""
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "engine_bench.py"), "--tiny", "--only", parts],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_tiny_run_prints_both_tables() -> None:
    out = tiny_run("saturation,accuracy")
    assert "## 1. Saturation" in out
    assert re.search(r"\|\s+engine \(sk-loadagent\) \|\s+[\d,]+ \|", out), out
    assert "engine's own generator block:" in out
    assert "## 2. Accuracy" in out
    accuracy = out.split("## 2. Accuracy", 1)[1]
    truth = re.search(r"\|\s+closed-form truth \|\s+1\.0 \|\s+101\.0 \|\s+191\.0 \|\s+201\.0 \|", accuracy)
    assert truth, out
    row = re.search(r"\|\s+engine \(sk-loadagent\) \|\s+([\d.]+) \|\s+([\d.]+) \|\s+([\d.]+) \|", accuracy)
    assert row, out
    assert float(row.group(3)) > 100.0  # the freeze shows in the tail: timed from the intended start


def test_tiny_run_prints_the_https_rows() -> None:
    out = tiny_run("https,accuracy")
    https = out.split("## 1b. Saturation over HTTPS", 1)[1]
    assert re.search(r"\|\s+engine \(sk-loadagent\) \|\s+[\d,]+ \|", https), out
    handshakes = out.split("## 1c. TLS handshake cost", 1)[1]
    assert re.search(r"\|\s+engine, https \|\s+[\d,]+ \|\s+[\d.]+ \|\s+[\d.]+ % \|", handshakes), out
    assert re.search(r"engine: a TLS handshake costs \d+ µs of generator CPU per new connection", handshakes)
    accuracy = out.split("## 2. Accuracy", 1)[1]
    row = re.search(r"\|\s+engine, https \|\s+([\d.]+) \|\s+([\d.]+) \|\s+([\d.]+) \|", accuracy)
    assert row, out
    assert float(row.group(3)) > 100.0  # over TLS too, the freeze shows in the tail


def test_tiny_run_prints_the_flow_section() -> None:
    out = tiny_run("flow")
    flows = out.split("## 5. Flows", 1)[1]
    for label in ("3,000 calls/s", "9,000 calls/s", "saturation, 50 VUs"):
        assert re.search(
            rf"{label}\s+single request\s+[\d.]+ µs, flow step\s+[\d.]+ µs of generator CPU: [\d.]+× "
            r"\(target ≤ 1.5×: (met|NOT met)\)",
            flows,
        ), out
    held = r"1,000 iterations/s \(3,000 steps/s\) for 1 s, one worker: 1,000 of 1,000 started"
    assert re.search(held, flows)
    assert re.search(r"iteration rate held by one worker: [\d,]+ iterations/s of 3 steps", flows)


def test_tiny_run_prints_the_trace_section() -> None:
    out = tiny_run("trace")
    section = out.split("## 7. Trace context", 1)[1]
    assert re.search(
        r"without trace context\s+[\d.]+ µs, with it\s+[\d.]+ µs of generator CPU per request: [\d.]+× "
        r"\(target ≤ 1.10×: (met|NOT met)\); sampled requests recorded per run: 100\b",
        section,
    ), out


def test_the_freezing_consumer_has_the_freeze_servers_closed_form() -> None:
    truth = _import("_engine_surfaces").truth(100, 20)
    assert truth["p50"] == pytest.approx(1.0, abs=1e-6)
    assert truth["p90"] == pytest.approx(501.0, abs=0.01)
    assert truth["p99"] == pytest.approx(951.0, abs=0.01)


@pytest.mark.optin
def test_tiny_run_prints_the_surfaces_section() -> None:
    out = tiny_run("surfaces")
    surfaces = out.split("## 6. Surfaces", 1)[1]
    assert re.search(r"\|\s+hold \|\s+2\d\.\d\d \|", surfaces), out
    assert re.search(r"hold: p50 [\d.]+ ms against 20 ms \+ the broker round trip", surfaces), out
    assert re.search(r"freeze: p90 and p99 within 3% of the closed form: (met|NOT met)", surfaces), out


def test_tiny_run_prints_the_surface_peer_tables() -> None:
    out = tiny_run("surface-peers")
    section = out.split("## 8. Surfaces against k6", 1)[1]
    for surface, unit in (("websocket", "messages"), ("grpc-fast", "calls"), ("grpc", "calls")):
        part = section.split(f"### {surface}:", 1)[1].split("###", 1)[0]
        row = re.search(r"\|\s+engine \(sk-loadagent\) \|\s+([\d,]+) \|", part)
        assert row, out
        assert int(row.group(1).replace(",", "")) > 0
        assert f"| {unit} per CPU-s |" in part
        assert f"{surface} ratio engine ÷ k6: n/a (k6 absent)" in part  # --tiny runs no peers


@pytest.mark.optin
def test_the_dead_brokers_part_judges_each_behaviour_of_a_surface() -> None:
    part = _import("_engine_dead_brokers")
    lines: list[str] = []
    cases = part.dead_brokers_section(
        say=lines.append,
        table=_import("engine_bench").table,
        target_cpu=0,
        generator_cpu="1",
        surfaces=("websocket",),
    )
    assert [c.behaviour for c in cases] == ["healthy", "refused", "closed mid-run", "silent"]
    refused, closed, silent = cases[1:]
    assert refused.exit_code == 3  # unreachable
    assert silent.exit_code == 3
    assert closed.exit_code in (0, 1)  # the run ends with its errors counted, whatever the gate says
    assert closed.cut_at is not None
    assert 0.5 < closed.cut_at < 2.5  # the proxy cut inside the 3 s schedule
    assert "every surface ended within its bound: yes" in lines
