"""Secrets never leave the process: ``${env:…}`` values, ``user:password@`` in the base URL and the values of
secret headers are written as *** in every artifact, the memory store, the command's output and errors, and
the digest an LLM is shown. The test greps every output for each secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sk_loadagent import secrets
from sk_loadagent.cli.main import main
from sk_loadagent.models.metrics import PerfMetrics
from sk_loadagent.prompts import run_digest
from sk_loadagent.sample_service import SampleService, samples_dir

ENV_SECRET = "env-secret-4f1c9a"  # ${env:SESSION_SECRET}
PASSWORD = "url-pass-77c2e1"  # in the base URL
API_KEY = "literal-api-key-90ab"  # X-Api-Key, a default secret header
COOKIE = "session=cookie-secret-5d3e"  # Cookie, a default secret header
CUSTOM = "custom-secret-e83b11"  # X-Session-Token, named in the plan's secrets:
ALL = (ENV_SECRET, PASSWORD, API_KEY, COOKIE, CUSTOM)


def _plan(folder: Path) -> Path:
    users = samples_dir() / "vetclinic" / "users.csv"
    plan: dict[str, Any] = {
        "moduleId": "CheckoutService",
        "editionId": "vetclinic",
        "secrets": ["X-Session-Token"],
        "tests": [
            {
                "type": "load",
                "name": "submit",
                "endpoint": "/checkout/submit",
                "method": "POST",
                "rps": 5,
                "duration": "1s",
                "rampUp": "0s",
                "headers": {"X-Api-Key": API_KEY, "Cookie": COOKIE, "X-Session-Token": CUSTOM},
            },
            {
                "type": "load",
                "name": "checkout-flow",
                "rps": 5,
                "duration": "1s",
                "rampUp": "0s",
                "data": {"file": str(users)},
                "flow": [
                    {
                        "name": "login",
                        "request": {
                            "method": "POST",
                            "path": "/auth/login",
                            "headers": {"X-Session-Token": "${env:SESSION_SECRET}"},
                            "json": {"user": "${data.user}", "password": "${data.password}"},
                        },
                        "extract": {"token": "$.token"},
                    },
                    {
                        "name": "submit",
                        "request": {
                            "method": "POST",
                            "path": "/cart/submit",
                            "headers": {"Authorization": "Bearer ${token}", "X-Api-Key": API_KEY},
                        },
                        "check": {"status": 200},
                    },
                ],
            },
        ],
    }
    path = folder / "secret.plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def service() -> Iterator[SampleService]:
    with SampleService(seed=3) as svc:
        yield svc


@pytest.fixture(autouse=True)
def _fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SESSION_SECRET", ENV_SECRET)
    secrets.forget_all()
    yield
    secrets.forget_all()


def _leaks(data: bytes) -> list[str]:
    return [s for s in ALL if s.encode() in data]


def test_no_output_of_a_run_holds_a_secret(
    service: SampleService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan(tmp_path)
    url = service.url.replace("http://", f"http://ops:{PASSWORD}@")
    out, memory = tmp_path / "perf", tmp_path / "memory.sqlite"
    common = ["--plan", str(plan), "--target-url", url]
    code = main(["run", *common, "--out", str(out), "--memory", str(memory), "--workers", "0", "--quiet"])
    run_output = capsys.readouterr()
    assert code == 0, run_output.err
    assert main(["plan", *common, "--json"]) == 0
    plan_json = capsys.readouterr().out
    assert main(["plan", *common]) == 0
    plan_text = capsys.readouterr().out

    written = sorted(p for p in out.rglob("*") if p.is_file())
    assert {p.name for p in written} >= {
        "perf-metrics.json",
        "load-trace-map.yaml",
        "performance-score.log.jsonl",
    }
    stores = sorted(tmp_path.glob("memory.sqlite*"))
    for path in [*written, *stores]:
        assert _leaks(path.read_bytes()) == [], path
    for text in (run_output.out, run_output.err, plan_json, plan_text):
        assert _leaks(text.encode()) == []
    assert f"ops:{secrets.MASK}@" in plan_json  # masked where it sits, the rest of the URL kept
    assert f'"X-Api-Key": "{secrets.MASK}"' in plan_json
    assert "${env:SESSION_SECRET}" in plan_json  # the reference is written, never its value
    metrics = json.loads((out / "perf-metrics.json").read_text(encoding="utf-8"))
    assert (
        metrics["tests"][0]["testTarget"]
        == f"http://ops:{secrets.MASK}@127.0.0.1:{url.rsplit(':', 1)[1]}/checkout/submit"
    )
    assert (
        metrics["tests"][1]["status"] == "pass"
    )  # the secrets were sent: the service let the journey through


def test_an_error_line_never_shows_a_url_password(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan(tmp_path)
    url = f"http://ops:{PASSWORD}@127.0.0.1:9"
    out = str(tmp_path / "perf")
    code = main(["run", "--plan", str(plan), "--target-url", url, "--no-memory", "--quiet", "--out", out])
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith(
        "sk-loadagent: error: target http://127.0.0.1:9/checkout/submit: connection refused"
    )
    assert _leaks(err.encode()) == []


def test_the_llm_digest_is_masked() -> None:
    secrets.register([ENV_SECRET])
    suite = PerfMetrics(test_name="checkout-flow", warnings=[f"a client said: token {ENV_SECRET} refused"])
    digest = json.dumps(run_digest(suite))
    assert ENV_SECRET not in digest
    assert f"token {secrets.MASK} refused" in digest


def test_a_bad_base_url_is_shown_without_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = _plan(tmp_path)
    code = main(["plan", "--plan", str(plan), "--target-url", f"ftp://ops:{PASSWORD}@127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2
    assert _leaks(err.encode()) == []
    assert f"ops:{secrets.MASK}@127.0.0.1:9" in err
