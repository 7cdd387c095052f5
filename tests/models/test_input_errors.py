"""Bad input never crashes: load_document names the file, the field, what was expected and what it got."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from sk_loadagent.errors import InputError
from sk_loadagent.models import (
    CustomWeighting,
    EditionConfig,
    LoadTraceMap,
    ObservabilityConfig,
    PerfThresholds,
    RegressionAlert,
    ScoreLogLine,
    ServiceMetadata,
    StudioAnnotations,
    TestSpec,
    TestSuitePlan,
    load_document,
    load_score_log,
)
from sk_loadagent.models.loading import problems_from


def _error(tmp_path: Path, name: str, text: str, model: type[BaseModel]) -> tuple[Path, InputError]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_document(path, model)
    return path, caught.value


def _plan(test: str) -> str:
    return "moduleId: CheckoutService\ntests:\n  - " + test.replace("\n", "\n    ") + "\n"


def test_unknown_test_type(tmp_path: Path) -> None:
    path, err = _error(tmp_path, "plan.yaml", _plan("type: lod\nrps: 10\nduration: 5m"), TestSuitePlan)
    assert str(err) == (
        f"{path}: tests[0].type: expected one of 'load', 'spike', 'soak', 'stress', 'concurrency', "
        "'latency' or 'custom', got 'lod'"
    )
    assert err.problems[0].field == "tests[0].type"
    assert err.exit_code == 2


def test_negative_rps(tmp_path: Path) -> None:
    path, err = _error(tmp_path, "plan.yaml", _plan("type: load\nrps: -5\nduration: 5m"), TestSuitePlan)
    assert str(err) == f"{path}: tests[0].rps: expected a number greater than 0, got -5"


def test_missing_duration(tmp_path: Path) -> None:
    path, err = _error(tmp_path, "plan.yaml", _plan("type: load\nrps: 10"), TestSuitePlan)
    assert (
        str(err)
        == f"{path}: tests[0].duration: expected a duration such as 30s or 5m (a load test needs one)"
    )
    assert err.problems[0].got is None


def test_unknown_field_suggests_the_nearest_name(tmp_path: Path) -> None:
    path, err = _error(tmp_path, "plan.yaml", _plan("type: load\nrps: 10\ndurtion: 5m"), TestSuitePlan)
    assert str(err) == (
        f"{path}: tests[0].durtion: expected a known field name (did you mean 'duration' or 'stepDuration'?)"
    )


def test_unknown_field_with_no_near_name(tmp_path: Path) -> None:
    path, err = _error(
        tmp_path,
        "plan.yaml",
        "moduleId: M\nxyzzy: 1\ntests:\n  - type: latency\n    duration: 5s\n",
        TestSuitePlan,
    )
    assert str(err) == f"{path}: xyzzy: expected a known field name (this one is not part of the contract)"


def test_wrong_duration_string(tmp_path: Path) -> None:
    path, err = _error(
        tmp_path, "plan.yaml", _plan("type: load\nrps: 10\nduration: 5 minutes"), TestSuitePlan
    )
    assert str(err) == (
        f"{path}: tests[0].duration: expected a duration such as 30s, 5m, 1h or a number of seconds, "
        "got '5 minutes'"
    )


def test_document_that_is_not_a_mapping(tmp_path: Path) -> None:
    path, err = _error(tmp_path, "plan.yaml", "- type: load\n- type: spike\n", TestSuitePlan)
    assert (
        str(err) == f"{path}: <document>: expected a mapping of fields (a TestSuitePlan document), got a list"
    )


def test_invalid_yaml_names_line_and_column(tmp_path: Path) -> None:
    path, err = _error(tmp_path, "plan.yaml", _plan("type: load\nrps: 10: 5"), TestSuitePlan)
    assert str(err) == (
        f"{path}: line 4 column 12: expected valid YAML, "
        "got a syntax error (mapping values are not allowed here)"
    )
    assert err.problems[0].field == "line 4 column 12"


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path, err = _error(tmp_path, "plan.json", '{"moduleId": "M",\n "tests": [}\n', TestSuitePlan)
    assert str(err) == f"{path}: line 2 column 12: expected valid JSON, got a syntax error (Expecting value)"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(InputError) as caught:
        load_document(path, TestSuitePlan)
    assert str(caught.value) == f"{path}: <file>: expected an existing file, got no file at this path"


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_document(tmp_path, TestSuitePlan)
    assert str(caught.value) == f"{tmp_path}: <file>: expected a file, got a directory"


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(InputError) as caught:
        load_document(path, TestSuitePlan)
    assert str(caught.value) == f"{path}: <file>: expected UTF-8 text, got binary data"


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path, err = _error(tmp_path, "plan.yaml", text, TestSuitePlan)
    assert str(err) == f"{path}: <document>: expected a TestSuitePlan document, got an empty file"


def test_thresholds_with_an_empty_list(tmp_path: Path) -> None:
    path, err = _error(tmp_path, "perf-thresholds.yaml", "module: M\nthresholds: []\n", PerfThresholds)
    assert str(err) == (
        f"{path}: thresholds: expected at least one entry (an empty list sets no limits), got an empty list"
    )


def test_thresholds_with_a_negative_limit(tmp_path: Path) -> None:
    text = "module: M\nthresholds:\n  latencyMs:\n    p95: -500\n"
    path, err = _error(tmp_path, "perf-thresholds.yaml", text, PerfThresholds)
    # One problem: the list shape the thresholds could also have takes no part in the message.
    assert str(err) == f"{path}: thresholds.latencyMs.p95: expected a number greater than 0, got -500"


def test_thresholds_list_with_a_negative_limit(tmp_path: Path) -> None:
    text = (
        "module: M\nthresholds:\n  - editionId: vetclinic\n    latencyP95: 500\n"
        "  - editionId: vetclinic-premium\n    errorRateMax: -0.01\n"
    )
    path, err = _error(tmp_path, "perf-thresholds.yaml", text, PerfThresholds)
    assert (
        str(err)
        == f"{path}: thresholds[1].errorRateMax: expected a number greater than or equal to 0, got -0.01"
    )


def test_thresholds_of_neither_shape(tmp_path: Path) -> None:
    path, err = _error(tmp_path, "perf-thresholds.yaml", "module: M\nthresholds: 5\n", PerfThresholds)
    assert str(err) == f"{path}: thresholds: expected a mapping of fields or a list, got 5"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = "tests:\n  - type: load\n    rps: 0\n  - type: soak\n    rps: 5\n    window: 0s\n"
    path, err = _error(tmp_path, "plan.yaml", text, TestSuitePlan)
    assert str(err) == (
        f"{path}: 3 problems\n"
        "  - moduleId: expected a value (this field is required)\n"
        "  - tests[0].rps: expected a number greater than 0, got 0\n"
        "  - tests[1].window: expected a duration greater than 0, got '0s'"
    )


def test_annotation_flag_typo(tmp_path: Path) -> None:
    text = "annotations:\n  - moduleId: M\n    excludeFromGates: true\n"
    path, err = _error(tmp_path, "studio.annotation.yaml", text, StudioAnnotations)
    assert str(err) == (
        f"{path}: annotations[0].excludeFromGates: expected a known field name "
        "(did you mean 'excludeFromGate' or 'excludeFromScore'?)"
    )


def test_annotation_score_override_needs_a_status(tmp_path: Path) -> None:
    text = "annotations:\n  - moduleId: M\n    scoreOverride: true\n"
    path, err = _error(tmp_path, "studio.annotation.yaml", text, StudioAnnotations)
    assert str(err) == (
        f"{path}: annotations[0].overrideStatus: "
        "expected the status to force (pass, warning, degraded or fail)"
    )


def test_metadata_path_and_name(tmp_path: Path) -> None:
    path, err = _error(tmp_path, "service.metadata.yaml", "endpoints:\n  - path: checkout\n", ServiceMetadata)
    assert str(err) == (
        f"{path}: endpoints[0].path: expected a path starting with '/', such as /checkout/submit, "
        "got 'checkout'"
    )
    path, err = _error(tmp_path, "service.metadata.yaml", "endpoints: []\n", ServiceMetadata)
    assert str(err) == f"{path}: moduleId: expected the service's moduleId (or serviceName)"


def test_edition_ids_are_unique(tmp_path: Path) -> None:
    text = '{"editions": [{"editionId": "a"}, {"editionId": "a"}]}'
    path, err = _error(tmp_path, "edition.config.json", text, EditionConfig)
    assert str(err) == (
        f"{path}: editions: expected each editionId once (a repeats), "
        'got [{"editionId": "a"}, {"editionId": "a"}]'
    )


def test_weights_bounded_and_spelled(tmp_path: Path) -> None:
    text = "weightings:\n  - moduleId: M\n    weights: {latency: 1.5, errorrate: 0.1}\n"
    path, err = _error(tmp_path, "customWeighting.yaml", text, CustomWeighting)
    assert str(err) == (
        f"{path}: 2 problems\n"
        "  - weightings[0].weights.latency: expected a number less than or equal to 1, got 1.5\n"
        "  - weightings[0].weights.errorrate: expected a known field name (did you mean 'errorRate'?)"
    )


def test_weights_entry_must_set_one(tmp_path: Path) -> None:
    path, err = _error(tmp_path, "customWeighting.yaml", "weightings:\n  - weights: {}\n", CustomWeighting)
    assert str(err) == (
        f"{path}: weightings[0].weights: expected at least one of latency, throughput, errorRate, "
        "resourceUtilization, baselineDelta, got an empty mapping"
    )


def test_trace_map_spellings_must_agree(tmp_path: Path) -> None:
    text = "tests:\n  - endpoint: /a\n    status: pass\n    result: fail\n"
    path, err = _error(tmp_path, "load-trace-map.yaml", text, LoadTraceMap)
    assert str(err) == (
        f"{path}: tests[0].result: expected the same value as status (pass) when both are given, got 'fail'"
    )


def test_alert_needs_a_reason(tmp_path: Path) -> None:
    path, err = _error(tmp_path, "regression-alert.yaml", "traceId: t\nstatus: degraded\n", RegressionAlert)
    assert str(err) == f"{path}: reason: expected a sentence saying what regressed (reason, or trigger)"


def test_observability_process_and_interval(tmp_path: Path) -> None:
    path, err = _error(
        tmp_path, "observability.config.yaml", "process: {}\nsamplingInterval: 0s\n", ObservabilityConfig
    )
    assert str(err) == (
        f"{path}: 2 problems\n"
        "  - process: expected at least one of pid, name, port, got an empty mapping\n"
        "  - samplingInterval: expected a sampling interval between 10ms and 60s, got '0s'"
    )


def test_score_line_of_unknown_event(tmp_path: Path) -> None:
    path, err = _error(tmp_path, "line.json", '{"event": "scroe", "finalScore": 1}', ScoreLogLine)
    assert str(err) == (
        f"{path}: <document>: expected a line whose event is score, retry, step or threshold, "
        'got {"event": "scroe", "finalScore": 1}'
    )


def test_score_log_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "performance-score.log.jsonl"
    good = (
        '{"finalScore": 0.9, "latencyScore": 1, "throughputScore": 1, "errorRateScore": 1, '
        '"resourceUtilizationScore": 1, "baselineDeltaScore": 1}'
    )
    bad_step = (
        '{"event": "step", "step": "LoadRunnerExecutor.run_load_tests", "durationMs": -1, "outcome": "ok"}'
    )
    path.write_text(f"{good}\n\nnot json\n{bad_step}\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_score_log(path)
    assert str(caught.value) == (
        f"{path}: 2 problems\n"
        "  - line 3: expected a JSON object, got a syntax error (Expecting value)\n"
        "  - line 4: durationMs: expected a number greater than or equal to 0, got -1"
    )


@pytest.mark.parametrize(
    ("value", "expected", "got"),
    [
        # Any .inf or .nan in a file is refused before a model reads it, with the same words everywhere.
        (".inf", "a finite number", "Infinity"),
        (".nan", "a finite number", "NaN"),
        ("-1", "a duration that is not negative", "-1"),
    ],
)
def test_duration_must_be_finite_and_not_negative(
    tmp_path: Path, value: str, expected: str, got: str
) -> None:
    path, err = _error(tmp_path, "plan.yaml", _plan(f"type: load\nrps: 10\nduration: {value}"), TestSuitePlan)
    assert str(err) == f"{path}: tests[0].duration: expected {expected}, got {got}"


def test_problems_from_a_part_of_a_document() -> None:
    data = {"type": "load", "rps": -1, "duration": "5m", "body": 5}
    with pytest.raises(ValidationError) as caught:
        TestSpec.model_validate(data)
    problems = problems_from(caught.value, "tests[3]", data=data, model=TestSpec)
    assert [p.describe() for p in problems] == [
        "tests[3].body: expected text or a mapping or a list, got 5",
        "tests[3].rps: expected a number greater than 0, got -1",
    ]


def test_a_bad_value_inside_the_mapping_form_of_thresholds_is_the_only_problem(tmp_path: Path) -> None:
    # `thresholds` is a mapping or a list of scopes; the mapping got past its shape check, so the list form's
    # "expected a list" would only mislead.
    text = "module: CheckoutService\nthresholds:\n  latencyMs:\n    p95: fast\n"
    path, err = _error(tmp_path, "perf-thresholds.yaml", text, PerfThresholds)
    assert str(err) == f"{path}: thresholds.latencyMs.p95: expected a number, got 'fast'"
