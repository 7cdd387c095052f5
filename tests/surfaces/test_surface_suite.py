"""A broker surface through the whole suite: perf-metrics.json with its lag, errors and ``surface`` figures,
the trace map, the score and memory keyed by what it publishes to and reads from; a second run is judged
against the first."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from broker_echo import AmqpEcho, in_thread
from local_services import rabbitmq_server

from sk_loadagent.cli.main import main
from sk_loadagent.memory import open_store


def _plan(folder: Path, echo: AmqpEcho) -> Path:
    plan = {
        "moduleId": "NotificationService",
        "baseUrl": "http://127.0.0.1:9",
        "tests": [
            {
                "name": "notification-lag",
                "type": "load",
                "surface": "amqp",
                "rps": 20,
                "duration": "500ms",
                "rampUp": "0s",
                "amqp": {
                    "url": echo.url,
                    "publish": {"exchange": "", "routingKey": echo.inq, "json": {"client": "${uuid}"}},
                    "consume": {"queue": echo.outq},
                },
            }
        ],
    }
    path = folder / "surface.plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    return path


def test_an_amqp_test_is_measured_judged_and_remembered(tmp_path: Path) -> None:
    memory = tmp_path / "memory.sqlite"
    with in_thread(AmqpEcho(rabbitmq_server(), delay=0.005)) as echo:
        path = _plan(tmp_path, echo)
        codes = [
            main(
                [
                    "run",
                    "--plan",
                    str(path),
                    "--out",
                    str(tmp_path / f"run{n}"),
                    "--memory",
                    str(memory),
                    "--quiet",
                    "--no-report",
                ]
            )
            for n in (1, 2)
        ]
    assert codes[0] == 0
    assert codes[1] in (0, 1)  # judged against the first: on a busy machine 10 messages may regress
    metrics = json.loads((tmp_path / "run2" / "perf-metrics.json").read_text(encoding="utf-8"))
    assert metrics["endpoint"] == f"amqp:{echo.inq}>{echo.outq}"
    assert "method" not in metrics
    assert metrics["requests"] == 10
    assert metrics["errorRate"] == 0
    assert metrics["measurement"]["timedFrom"] == "intended-start"
    surface = metrics["surface"]
    assert surface["kind"] == "amqp"
    assert surface["lagFrom"] == "intended-publish"
    assert surface["published"] == 10
    assert surface["received"] == 10
    assert surface["timeToAck"]["p50"] > 0
    assert [d["name"] for d in surface["depth"]] == [echo.inq, echo.outq]
    assert metrics["baselineComparison"] is not None
    assert "guest:guest" not in json.dumps(metrics)
    with open_store(memory) as store:
        keys = store.keys()
    assert [key.endpoint for key in keys] == [f"amqp:{echo.inq}>{echo.outq}"]
