"""`sk-loadagent design`: the plan it writes is accepted by `plan` and `run` (which apply the edition's
traffic model to it), and bad input is one line with exit 2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from sk_loadagent.sample_service import SampleService, samples_dir

Cli = Callable[..., Any]
VETCLINIC = samples_dir() / "vetclinic"
INPUTS = [
    "--openapi",
    str(VETCLINIC / "generated.api.yaml"),
    "--metadata",
    str(VETCLINIC / "service.metadata.yaml"),
]


def test_design_writes_a_plan_that_plan_accepts(cli: Cli, workdir: Path) -> None:
    designed = cli(
        "design", *INPUTS, "--editions", str(VETCLINIC / "edition.config.json"), "--thresholds-out", "t.yaml"
    )

    assert (designed.code, designed.err) == (0, "")
    assert designed.out == (
        "Wrote test-suite.plan.yaml: 3 test(s) for CheckoutService / vetclinic\n"
        "  submitCheckout-load: POST /checkout/submit\n"
        "  submitCheckout-spike: POST /checkout/submit\n"
        "  login-load: POST /auth/login\n"
        "  left out: POST /cart/items: needs credentials (bearerAuth); a flow that obtains them first can "
        "test it (see Flows in the README)\n"
        "  left out: POST /cart/submit: needs credentials (bearerAuth); a flow that obtains them first can "
        "test it (see Flows in the README)\n"
        "  left out: queue CheckoutSubmitted (servicebus): the engine drives HTTP only\n"
        "Wrote t.yaml: the SLOs of edition vetclinic\n"
    )
    shown = cli("plan", "--plan", "test-suite.plan.yaml", "--thresholds", "t.yaml", "--json")
    assert shown.code == 0, shown.err
    plan = json.loads(shown.out)
    assert [(t["testType"], t["method"], t["endpoint"]) for t in plan["tests"]] == [
        ("load", "POST", "/checkout/submit"),
        ("spike", "POST", "/checkout/submit"),
        ("load", "POST", "/auth/login"),
    ]
    assert plan["thresholdFiles"][0]["document"]["thresholds"]["latencyP95"] == 800


def test_a_designed_plan_runs_scaled_by_the_editions_traffic_model(
    cli: Cli, workdir: Path, service: SampleService
) -> None:
    editions = {
        "editions": [
            {"editionId": "vetclinic", "trafficModel": {"rpsScale": 0.4, "durationScale": 0.05}},
        ]
    }
    (workdir / "editions.json").write_text(json.dumps(editions))
    assert cli("design", *INPUTS, "--editions", "editions.json", "--test-type", "load").code == 0

    ran = cli(
        "run",
        "--plan",
        "test-suite.plan.yaml",
        "--editions",
        "editions.json",
        "--target-url",
        service.url,
        "--no-memory",
        "--quiet",
        "--max-retries",
        "0",  # a retry (a saturated generator on a busy machine) would throttle the rate
        "--out",
        "out",
    )

    assert ran.code == 0, ran.err
    assert "Plan: edition vetclinic trafficModel: rates x0.4, durations x0.05\n" in ran.out
    metrics = json.loads((workdir / "out" / "perf-metrics.json").read_text())
    test, _login = metrics["tests"]
    # Designed at 50 rps for 1 min (ramp 10 s); the edition runs 20 rps for 3 s (ramp 0.5 s).
    assert test["targetRps"] == 20.0
    assert [(p["name"], p["start"], p["end"]) for p in test["phases"]] == [
        ("ramp-up", 0.0, 0.5),
        ("steady", 0.5, 3.5),
    ]
    assert test["requests"] == 20 * 3


def test_design_does_not_replace_a_plan_without_force(cli: Cli, workdir: Path) -> None:
    (workdir / "test-suite.plan.yaml").write_text("moduleId: mine\n")

    refused = cli("design", *INPUTS)

    assert (refused.code, refused.out) == (2, "")
    assert refused.err == (
        "sk-loadagent: bad input: --out: test-suite.plan.yaml: expected a path with no file yet (--force "
        "replaces it), got an existing file\n"
    )
    assert (workdir / "test-suite.plan.yaml").read_text() == "moduleId: mine\n"
    assert cli("design", *INPUTS, "--force").code == 0


def test_a_malformed_openapi_document_is_one_line_with_exit_2(cli: Cli, workdir: Path) -> None:
    (workdir / "api.yaml").write_text("openapi: 3.0.3\npaths:\n  /x: [unclosed\n")

    refused = cli("design", "--openapi", "api.yaml", "--metadata", str(VETCLINIC / "service.metadata.yaml"))

    assert (refused.code, refused.out) == (2, "")
    assert refused.err == (
        "sk-loadagent: bad input: api.yaml: line 4 column 1: expected valid YAML, got a syntax error "
        "(expected ',' or ']', but got '<stream end>')\n"
    )
    assert not (workdir / "test-suite.plan.yaml").exists()


def test_an_edition_that_does_not_cover_the_module_is_refused(cli: Cli, workdir: Path) -> None:
    refused = cli(
        "design",
        *INPUTS,
        "--editions",
        str(VETCLINIC / "edition.config.json"),
        "--edition",
        "multitenant-lite",
    )

    assert (refused.code, refused.out) == (2, "")
    assert refused.err == (
        "sk-loadagent: bad input: edition: multitenant-lite: expected an edition that covers "
        "CheckoutService (this one covers AppointmentsService, NotificationService)\n"
    )


def test_thresholds_out_needs_an_edition_with_slos(cli: Cli, workdir: Path) -> None:
    (workdir / "editions.yaml").write_text(yaml.safe_dump({"editions": [{"editionId": "vetclinic"}]}))

    refused = cli("design", *INPUTS, "--editions", "editions.yaml", "--thresholds-out", "t.yaml")

    assert refused.err == (
        "sk-loadagent: bad input: --thresholds-out: t.yaml: expected an edition with slos in --editions to "
        "take the limits from, got no SLOs for the edition\n"
    )
    assert not (workdir / "test-suite.plan.yaml").exists()


def test_an_edition_the_edition_file_does_not_know_is_refused(cli: Cli, workdir: Path) -> None:
    editions = str(VETCLINIC / "edition.config.json")

    refused = cli("design", *INPUTS, "--editions", editions, "--edition", "vetclinic-gold")

    assert (refused.code, refused.out) == (2, "")
    assert refused.err == (
        f"sk-loadagent: bad input: edition: vetclinic-gold: expected an edition of {editions} (vetclinic, "
        "vetclinic-premium, multitenant-lite)\n"
    )


def test_a_memory_store_that_does_not_exist_is_refused(cli: Cli, workdir: Path) -> None:
    refused = cli("design", *INPUTS, "--memory", "nowhere.sqlite")

    assert (refused.code, refused.out) == (2, "")
    assert refused.err == (
        "sk-loadagent: bad input: nowhere.sqlite: no memory store there (nothing stored yet, or a mistyped "
        "path)\n"
    )
