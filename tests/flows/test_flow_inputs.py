"""Bad flows are refused before any load, each with the file, the field and what was expected (exit 2)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sk_loadagent.cli.main import main
from sk_loadagent.errors import InputError
from sk_loadagent.memory import open_store
from sk_loadagent.suite.execution_plan import interpret
from sk_loadagent.suite.inputs import load_inputs

PLAN: dict[str, Any] = {
    "moduleId": "CheckoutService",
    "baseUrl": "http://127.0.0.1:9",
    "tests": [
        {
            "name": "checkout-flow",
            "type": "load",
            "rps": 5,
            "duration": "2s",
            "data": {"file": "users.csv", "mode": "sequential"},
            "flow": [
                {
                    "name": "login",
                    "request": {"method": "POST", "path": "/auth/login", "json": {"user": "${data.user}"}},
                    "extract": {"token": "$.token"},
                    "check": {"status": 200},
                },
                {
                    "name": "add-item",
                    "request": {
                        "method": "POST",
                        "path": "/cart/items",
                        "headers": {"Authorization": "Bearer ${token}"},
                    },
                },
            ],
        }
    ],
}
Edit = Callable[[dict[str, Any]], object]


def _step(i: int, key: str, value: object) -> Edit:
    return lambda t: t["flow"][i].__setitem__(key, value)


def _header(value: str, name: str = "Authorization") -> Edit:
    return lambda t: t["flow"][1]["request"]["headers"].__setitem__(name, value)


CASES: list[tuple[str, Edit, str]] = [
    (
        "a JSONPath that does not parse",
        _step(0, "extract", {"token": "$.items["}),
        "tests[0].flow[0].extract.token: expected a JSONPath such as $.token, header:NAME or regex:PATTERN "
        "(unbalanced brackets, line 1, column 8), got '$.items['",
    ),
    (
        "a check's JSONPath that does not parse",
        _step(0, "check", {"$.items[": 1}),
        "tests[0].flow[0].check.$.items[: expected a JSONPath such as $.items[0].sku (unbalanced brackets, "
        "line 1, column 8), got '$.items['",
    ),
    (
        "an unknown check",
        _step(0, "check", {"statuz": 200}),
        "tests[0].flow[0].check.statuz: expected a check key: status, bodyContains or a JSONPath such as "
        "$.items[0].sku, got 'statuz'",
    ),
    (
        "a status that is none",
        _step(0, "check", {"status": 999}),
        "tests[0].flow[0].check.status: expected an HTTP status code between 100 and 599, or a list of them, "
        "got 999",
    ),
    (
        "a regex that does not compile",
        _step(0, "extract", {"token": "regex:(("}),
        "tests[0].flow[0].extract.token: expected regex:PATTERN with a valid regular expression (missing ), "
        "unterminated subpattern at position 1), got 'regex:(('",
    ),
    (
        "a ${var} that no earlier step extracts",
        _header("Bearer ${tokn}"),
        "tests[0].flow[1].request.headers.Authorization: expected a value an earlier step extracts (login "
        "extracts token), got ${tokn}",
    ),
    (
        "a reference that is none",
        _header("${data}", "X-User"),
        "tests[0].flow[1].request.headers.X-User: expected a reference such as ${token}, ${data.user}, "
        "${env:API_KEY}, ${uuid}, ${iteration} or ${vu}, got ${data}",
    ),
    (
        "an unknown data mode",
        lambda t: t["data"].__setitem__("mode", "uniq"),
        "tests[0].data.mode: expected one of 'sequential', 'random' or 'unique', got 'uniq'",
    ),
    (
        "a data file that is missing",
        lambda t: t["data"].__setitem__("file", "missing.csv"),
        "tests[0].data.file: expected a CSV file (an existing file), got {dir}/missing.csv (no file at this "
        "path)",
    ),
    (
        "a data file that is empty",
        lambda t: t["data"].__setitem__("file", "empty.csv"),
        "tests[0].data.file: expected a CSV file with a header row and at least one row, got "
        "{dir}/empty.csv: "
        "an empty file",
    ),
    (
        "a data file that lacks a named column",
        lambda t: t["data"].__setitem__("file", "names.csv"),
        "tests[0].data.file: expected a CSV file whose header names every column the flow reads (user "
        "missing), "
        "got {dir}/names.csv with columns name",
    ),
    (
        "${data.col} without a data file",
        lambda t: t.pop("data"),
        "tests[0].flow[0].request.json.user: expected a data file to read ${data.user} from (data: {file: "
        "users.csv})",
    ),
    (
        "an ${env:NAME} that is unset",
        _header("${env:SK_TEST_UNSET_VARIABLE}", "X-Api-Key"),
        "tests[0].flow[1].request.headers.X-Api-Key: expected the environment variable "
        "SK_TEST_UNSET_VARIABLE to "
        "be set (${env:SK_TEST_UNSET_VARIABLE}), got no SK_TEST_UNSET_VARIABLE in the environment",
    ),
    (
        "a step with neither request nor surface",
        lambda t: t["flow"][1].pop("request"),
        "tests[0].flow[1].request: expected a request (method and path) or a surface (a client class by "
        "import "
        "path, such as mypkg.clients:MyClient)",
    ),
    (
        "a surface that is no import path",
        lambda t: t["flow"].append({"name": "s", "surface": "not a path"}),
        "tests[0].flow[2].surface: expected a built-in surface (websocket, grpc, amqp, nats, redis, webhook, "
        "job) or a client class by import path, such as mypkg.clients:MyClient, got 'not a path'",
    ),
    (
        "a surface whose module cannot be imported",
        lambda t: t["flow"].append({"name": "s", "surface": "no_such_module.clients:Client"}),
        "tests[0].flow[2].surface: expected a client class by import path (package.module:ClassName) whose "
        "module can be imported, with async connect, call and close (see "
        "sk_loadagent.engine.clients.Client), "
        "got 'no_such_module.clients:Client': no module no_such_module.clients can be imported (No module "
        "named 'no_such_module')",
    ),
    (
        "a flow without a name",
        lambda t: t.pop("name"),
        "tests[0].name: expected a name for the flow, such as checkout-flow (its memory and step series are "
        "keyed by it)",
    ),
    (
        "a flow with an endpoint",
        lambda t: t.__setitem__("endpoint", "/x"),
        "tests[0].endpoint: expected no endpoint in a flow test (each step has its request and checks), got "
        "'/x'",
    ),
    (
        "two steps of one name",
        _step(1, "name", "login"),
        "tests[0].flow[1].name: expected a step name used once in the flow, got 'login'",
    ),
    (
        "an unknown onFail",
        _step(1, "onFail", "skip"),
        "tests[0].flow[1].onFail: expected one of 'continue' or 'stop', got 'skip'",
    ),
    (
        "unique data the schedule outruns",
        lambda t: t["data"].__setitem__("mode", "unique"),
        "tests[0].data.file: expected a row for each of the 11 iterations the schedule starts (unique mode "
        "uses "
        "each row once), got {dir}/users.csv with 2 rows",
    ),
    (
        "a data file over the file cap",
        lambda t: t["data"].__setitem__("file", "big.csv"),
        "tests[0].data.file: expected a CSV file (a file of at most 32 MiB (the file cap: the default; --cap "
        "file=SIZE changes it)), got {dir}/big.csv (a larger file)",
    ),
    (
        "a step body over the body cap",
        lambda t: t["flow"][1]["request"].__setitem__("body", "x" * (16 * 1024 * 1024 + 1)),
        "tests[0].flow[1].request.body: expected a request body of at most 16 MiB (the body cap: the "
        "default; "
        "--cap body=SIZE changes it), got 16 MiB",
    ),
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "users.csv").write_text("user,password\nu1,pw-u1\nu2,pw-u2\n", encoding="utf-8")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    (tmp_path / "names.csv").write_text("name\nx\n", encoding="utf-8")
    with open(tmp_path / "big.csv", "wb") as big:
        big.truncate(32 * 1024 * 1024 + 1)
    return tmp_path


def _written(folder: Path, edit: Edit) -> Path:
    plan = copy.deepcopy(PLAN)
    edit(plan["tests"][0])
    path = folder / "flow.plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False, width=10_000_000), encoding="utf-8")
    return path


@pytest.mark.parametrize(("case", "edit", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_bad_flow_input_names_file_field_and_expected_value(
    folder: Path, case: str, edit: Edit, message: str
) -> None:
    path = _written(folder, edit)
    with pytest.raises(InputError) as caught:
        interpret(load_inputs(path), target_url="http://127.0.0.1:9")
    assert str(caught.value) == f"{path}: " + message.replace("{dir}", str(folder))


def test_a_bad_flow_exits_2_with_one_line_and_stores_nothing(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _written(folder, _header("Bearer ${tokn}"))
    memory = folder / "memory.sqlite"
    code = main(
        ["run", "--plan", str(path), "--out", str(folder / "perf"), "--memory", str(memory), "--quiet"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        f"sk-loadagent: bad input: {path}: tests[0].flow[1].request.headers.Authorization: expected a value "
        f"an "
        "earlier step extracts (login extracts token), got ${tokn}\n"
    )
    with open_store(memory) as store:
        assert store.keys() == []
    assert not (folder / "perf" / "perf-metrics.json").exists()


def test_secret_header_names_must_be_header_names(folder: Path) -> None:
    plan = copy.deepcopy(PLAN)
    plan["secrets"] = ["X Session"]
    path = folder / "secrets.plan.yaml"
    path.write_text(yaml.safe_dump(plan), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_inputs(path)
    assert str(caught.value) == (
        f"{path}: secrets: expected header names such as X-Session-Token (whose values are written as ***), "
        'got ["X Session"]'
    )
