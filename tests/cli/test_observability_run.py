"""The sample service instrumented for real (OTel SDK, OTLP/HTTP): a run with --observability receives its
spans, writes trace-summary.json, and a slow release names ChargeCard as the new bottleneck."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from sk_loadagent.sample_service import SampleService

Cli = Callable[..., Any]


class _Collector(BaseHTTPRequestHandler):
    received: list[bytes]

    def do_POST(self) -> None:
        type(self).received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_spans_to_trace_summary_and_a_new_bottleneck(
    cli: Cli, write_plan: Callable[..., Path], closed_port: int, tmp_path: Path
) -> None:
    receiver = f"http://127.0.0.1:{closed_port}"
    exported: list[bytes] = []
    collector = ThreadingHTTPServer(("127.0.0.1", 0), type("C", (_Collector,), {"received": exported}))
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    config = tmp_path / "observability.config.yaml"
    config.write_text(
        f"sampling: 0.5\nspans:\n  - source: otlp\n    url: {receiver}\n"
        "serveMetrics: 127.0.0.1:0\ncpuProfile: py-spy\n"
        f"exportMetrics: http://127.0.0.1:{collector.server_address[1]}\n"
    )
    with SampleService(release="stable", latency_ms=20, jitter=0.05, otlp_endpoint=receiver) as service:
        plan = write_plan(service.url, test="type: load\n    rps: 20\n    duration: 2s\n    rampUp: 0s")
        first = cli("run", "--plan", str(plan), "--observability", str(config), "--quiet", "--out", "before")
        assert first.code == 0, first.err
        first_metrics = json.loads((Path("before") / "perf-metrics.json").read_text())
        assert first_metrics["status"] == "pass", first_metrics.get("reasons")
        before = json.loads((Path("before") / "trace-summary.json").read_text())
        service.configure(release="slow")
        second = cli("run", "--plan", str(plan), "--observability", str(config), "--quiet", "--out", "after")
        after = json.loads((Path("after") / "trace-summary.json").read_text())
        metrics = json.loads((Path("after") / "perf-metrics.json").read_text())
        assert (Path("after") / "regression-alert.yaml").exists(), (
            metrics.get("reasons"),
            json.dumps(after)[:3000],
            json.dumps(before)[:3000],
        )
        alert = yaml.safe_load((Path("after") / "regression-alert.yaml").read_text())
    assert before["traceId"] == "cli-run"
    assert before["sampledRequests"] == 20
    assert before["tracesWithSpans"] >= 18
    assert before["spanCount"] == 4 * before["tracesWithSpans"]
    names = {op["name"] for op in before["operations"]}
    assert names == {"POST /checkout/submit", "ValidateCart", "ChargeCard", "SendConfirmationEmail"}
    assert next(step["name"] for step in before["criticalPath"]) == "POST /checkout/submit"
    assert "selfHistogram" not in before["operations"][0]
    # ValidateCart takes 45 % of the stable time, ChargeCard 20 %: not the bottleneck (timer noise aside)
    first_bottleneck = before["bottleneck"]["name"]
    assert first_bottleneck in {"ValidateCart", "SendConfirmationEmail"}
    assert before["bottleneckDetected"] is False
    assert after["bottleneck"]["name"] == "ChargeCard"  # the slow release's extra time is all in it
    assert after["bottleneck"]["newVsBaseline"] is True
    assert after["bottleneck"]["baselineBottleneck"] == f"vetclinic / {first_bottleneck}"
    charge = next(op for op in after["operations"] if op["name"] == "ChargeCard")
    assert charge["selfRegressed"] is True
    assert after["spanDeltaVsBaseline"] == charge["selfDeltaVsBaseline"]
    assert after["bottleneckDetected"] is True  # its share passed 0.5 with the slow release
    collector.shutdown()
    collector.server_close()
    assert len(exported) == 2  # each run's results went out as OTLP metrics
    assert (Path("after") / "flamegraph.svg").read_text().startswith("<svg")
    cpu_graph = Path("before") / "cpu-flamegraph.svg"
    if cpu_graph.exists():
        cpu = cpu_graph.read_text()
        assert "Target CPU by stack (py-spy): tiny" in cpu
        assert "(app.py:" in cpu  # the sample service's own frames
    else:  # py-spy could not sample here (a busy machine, no ptrace): the run says why
        assert any(w.startswith("py-spy") for w in first_metrics.get("warnings", [])), first_metrics

    assert second.code == 1
    preview = json.loads((Path("after") / "studio.performance.preview.json").read_text())
    assert "view-trace" in preview["actions"]
    assert alert["newBottleneck"]["service"] == "vetclinic"
    assert alert["newBottleneck"]["span"] == "ChargeCard"
    assert alert["newBottleneck"]["selfDeltaVsBaseline"] == charge["selfDeltaVsBaseline"]
    assert alert["newBottleneck"]["previousBottleneck"] == f"vetclinic / {first_bottleneck}"
    assert any(
        a.startswith(
            "Analyze flamegraph or span trace: new bottleneck span vetclinic / ChargeCard: self time p95 +"
        )
        for a in alert["suggestedActions"]
    )
    assert any(a.startswith("Notify ResiliencyAgent") for a in alert["suggestedActions"])
