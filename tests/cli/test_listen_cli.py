"""`sk-loadagent listen`: bad options are one line with exit 2; SIGTERM during a run stops it cleanly (the
machine's NATS; the sample service as the target)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from local_services import nats_server

from sk_loadagent.cli.main import main
from sk_loadagent.sample_service import SampleService

Cli = Callable[..., Any]


def test_a_bus_url_of_another_kind_is_refused(cli: Cli, workdir: Path) -> None:
    (workdir / "plans").mkdir()

    result = cli("listen", "--bus", "redis://127.0.0.1:6379", "--plans", "plans", "--no-memory")

    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "sk-loadagent: bad input: --bus: redis://127.0.0.1:6379: expected a nats:// or amqp:// URL, such as "
        "nats://127.0.0.1:4222\n"
    )


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--drain-seconds", "-1", "expected a number of seconds, 0 or more, got -1"),
        ("--max-wait", "soon", "expected a number of seconds, 0 or more, got 'soon'"),
        ("--concurrency", "0", "expected a number greater than 0, got 0"),
    ],
)
def test_a_limit_of_the_wrong_kind_is_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, expected: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["listen", "--bus", "nats://127.0.0.1:4222", "--plans", ".", f"{option}={value}"])

    assert exited.value.code == 2
    assert (
        capsys.readouterr().err.splitlines()[-1]
        == f"sk-loadagent listen: error: argument {option}: {expected}"
    )


def test_the_plans_folder_must_exist(cli: Cli, workdir: Path) -> None:
    result = cli("listen", "--bus", "nats://127.0.0.1:4222", "--plans", "nowhere", "--no-memory")

    assert (result.code, result.err) == (
        2,
        "sk-loadagent: bad input: --plans: nowhere: expected a folder of plan files, got no folder there\n",
    )


def test_a_bus_that_does_not_answer_is_bad_input(cli: Cli, workdir: Path, closed_port: int) -> None:
    (workdir / "plans").mkdir()

    result = cli("listen", "--bus", f"nats://127.0.0.1:{closed_port}", "--plans", "plans", "--no-memory")

    assert result.code == 2
    assert result.err.startswith(
        f"sk-loadagent: bad input: --bus: nats://127.0.0.1:{closed_port}: expected a NATS server that "
        "accepts connections, got "
    )


async def publish(url: str, subject: str, event: dict[str, Any]) -> None:
    import nats

    connection = await nats.connect(url)
    await connection.publish(subject, json.dumps(event).encode())
    await connection.flush()
    await connection.close()


def test_sigterm_during_a_run_abandons_it_and_exits_0(workdir: Path, service: SampleService) -> None:
    url = nats_server()
    subject = f"skl-test-{uuid.uuid4().hex[:10]}"
    (workdir / "plans").mkdir()
    plan = {
        "moduleId": "CheckoutService",
        "endpoint": "/checkout/submit",
        "method": "POST",
        "tests": [{"type": "load", "rps": 10, "duration": "30s"}],
    }
    (workdir / "plans" / "long.plan.yaml").write_text(yaml.safe_dump(plan))
    command = [
        sys.executable, "-m", "sk_loadagent.cli.main", "listen", "--bus", url, "--subject", subject,
        "--plans", "plans", "--target-url", service.url, "--no-memory", "--drain-seconds", "0.5",
    ]  # fmt: skip
    listener = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=workdir
    )
    try:
        assert listener.stdout is not None
        assert listener.stdout.readline() == f"sk-loadagent listen: listening on {subject}\n"
        event = {"eventId": "e-1", "type": "BuildCompleted", "traceId": "t-1", "moduleId": "CheckoutService",
                 "planRef": "long.plan.yaml", "buildId": "b-42"}  # fmt: skip
        asyncio.run(publish(url, subject, event))
        time.sleep(2.0)  # the run is under way
        stopped_at = time.monotonic()
        listener.send_signal(signal.SIGTERM)
        out, err = listener.communicate(timeout=20)
        took = time.monotonic() - stopped_at
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()

    assert (listener.returncode, err) == (0, "")
    assert out.splitlines() == [
        "sk-loadagent listen: stopping: 1 run(s) in progress, up to 0.5 s",
        "sk-loadagent listen: a run was abandoned at shutdown; its event is given back to the broker",
        "sk-loadagent listen: stopped",
    ]
    assert took < 10
    assert not (workdir / "perf" / "listen" / "e-1").exists()
    assert not (workdir / ".sk-loadagent" / "events.json").exists()  # nothing was handled to the end
