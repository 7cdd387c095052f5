"""The CLI's cluster flags: bad combinations and an unreachable cluster, each with its exit code."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from sk_loadagent.cli.main import main
from sk_loadagent.sample_service import SampleService

TEST = "{{type: load, rps: 60, rampUp: 0s, duration: 1s, endpoint: /checkout/submit, method: POST}}"
PLAN = "moduleId: CheckoutService\nbaseUrl: {url}\ntests:\n  - " + TEST + "\n"
TWO_TESTS = PLAN + "  - " + TEST.replace("load,", "soak,") + "\n"


@pytest.fixture(autouse=True)
def _local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def _run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, *flags: str, plan_text: str = PLAN
) -> tuple[int, str]:
    plan = tmp_path / "plan.yaml"
    plan.write_text(plan_text.format(url=url), encoding="utf-8")
    code = main(["run", "--plan", str(plan), "--out", str(tmp_path / "out"), "--no-memory", *flags])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--cluster-workers", "2"], ["--tolerate-node-loss"]])
def test_cluster_flags_without_a_cluster_are_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    code, err = _run(tmp_path, capsys, "http://127.0.0.1:9", *flags)
    assert code == 2
    assert f"command line: {flags[0]}: expected --cluster ray://HOST:PORT (or RAY_ADDRESS) with it" in err


def test_an_unreachable_cluster_exits_4_with_its_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")  # RAY_ADDRESS asks for the cluster too
    code, err = _run(tmp_path, capsys, "http://127.0.0.1:9")
    assert code == 4
    assert f"Ray cluster 127.0.0.1:{port} is unreachable: Connection refused" in err


def test_a_bad_cluster_worker_count_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _run(
            tmp_path, capsys, "http://127.0.0.1:9", "--cluster", "ray://127.0.0.1:1", "--cluster-workers", "0"
        )
    assert exited.value.code == 2
    assert (
        "argument --cluster-workers: expected a whole number of 1 or more, got '0'" in capsys.readouterr().err
    )


@pytest.mark.optin
def test_a_cluster_run_writes_a_generator_block_per_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ray_cluster: Any, service: SampleService
) -> None:
    # two tests: the second run reserves the cluster's CPUs again after the first released them
    code, err = _run(tmp_path, capsys, service.url, "--cluster", ray_cluster.address, plan_text=TWO_TESTS)
    assert code == 0, err
    for test in json.loads((tmp_path / "out" / "perf-metrics.json").read_text())["tests"]:
        assert test["requests"] == 60
        nodes = test["cluster"]["nodes"]
        assert len(nodes) == 3
        assert sum(n["generator"]["requests"] for n in nodes) == 60
        assert {"node", "address", "workers", "clockOffsetMs", "roundTripMs"} <= set(nodes[0])
