"""SampleService: finding the samples, starting, configuring and stopping the child process."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx
import psutil
import pytest

from sk_loadagent import sample_service
from sk_loadagent.errors import InputError
from sk_loadagent.sample_service import SampleService, SampleServiceError, samples_dir, wire_knobs


def test_samples_dir_is_the_checkout_samples_folder() -> None:
    root = samples_dir()
    assert root == Path(sample_service.__file__).resolve().parents[1] / "samples"
    assert (root / "service" / "app.py").is_file()
    assert (root / "vetclinic" / "test-suite.plan.yaml").is_file()


def test_bundled_samples_of_a_wheel_come_first(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "sk_loadagent"
    for root in (package / "_bundled_samples", tmp_path / "site-packages" / "samples"):
        (root / "service").mkdir(parents=True)
        (root / "service" / "app.py").write_text("")
    assert sample_service._find_samples(package) == package / "_bundled_samples"
    (package / "_bundled_samples" / "service" / "app.py").unlink()
    assert sample_service._find_samples(package) == tmp_path / "site-packages" / "samples"


def test_missing_samples_name_where_they_were_looked_for(tmp_path: Path) -> None:
    with pytest.raises(SampleServiceError) as caught:
        sample_service._find_samples(tmp_path / "sk_loadagent")
    assert str(caught.value) == (
        f"the sample files are missing: looked for service/app.py in {tmp_path}/sk_loadagent/_bundled_samples"
        f" and {tmp_path}/samples"
    )


def test_missing_uvicorn_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "uvicorn" else real(name))
    with pytest.raises(
        SampleServiceError, match=r"^the sample service needs uvicorn: pip install 'sk-loadagent\[samples\]'$"
    ):
        SampleService().start()


def test_wire_knobs_are_camel_case_inside_endpoints_too() -> None:
    assert wire_knobs(
        {
            "latency_ms": 5,
            "queue_limit": None,
            "endpoints": {"/checkout/submit": {"error_rate": 1}, "/x": None},
        }
    ) == {"latencyMs": 5, "queueLimit": None, "endpoints": {"/checkout/submit": {"errorRate": 1}, "/x": None}}


def test_start_applies_the_knobs_and_stop_reaps_the_child() -> None:
    service = SampleService(
        release="slow", latency_ms=5, capacity=None, endpoints={"/checkout/submit": {"error_rate": 1}}
    )
    with service:
        assert psutil.pid_exists(service.pid)
        assert service.url.startswith("http://127.0.0.1:")
        pid = service.pid
        knobs = httpx.get(f"{service.url}/admin/config", trust_env=False).json()
        assert (knobs["release"], knobs["latencyMs"], knobs["capacity"]) == ("slow", 5.0, None)
        assert knobs["endpoints"] == {"/checkout/submit": {"errorRate": 1.0}}
    assert not service.running
    assert not psutil.pid_exists(pid)  # reaped, not a zombie
    service.stop()  # idempotent
    with pytest.raises(SampleServiceError, match="not running"):
        _ = service.url
    with pytest.raises(SampleServiceError, match="not running"):
        _ = service.pid


def test_configure_changes_knobs_and_reports_rejected_ones_as_input_errors() -> None:
    with SampleService() as service:
        config = service.configure(release="slow", endpoints={"/appointments/book": {"latency_ms": 2}})
        assert config["release"] == "slow"
        assert config["endpoints"] == {"/appointments/book": {"latencyMs": 2.0}}
        with pytest.raises(InputError) as caught:
            service.configure(error_rate=2, capacity=0)
    assert str(caught.value) == (
        "sample service knobs: 2 problems\n"
        "  - errorRate: expected a number from 0 to 1, got 2\n"
        "  - capacity: expected an integer ≥ 1 or null (unlimited), got 0"
    )


async def test_async_context_and_configure_async() -> None:
    async with SampleService(latency_ms=1) as service:
        config = await service.configure_async(error_rate=0.5, queue_limit=4)
        assert (config["errorRate"], config["queueLimit"], config["latencyMs"]) == (0.5, 4, 1.0)
        async with httpx.AsyncClient(trust_env=False) as client:
            assert (await client.get(f"{service.url}/health")).status_code == 200
        pid = service.pid
    assert not psutil.pid_exists(pid)


def test_a_child_that_refuses_to_start_is_reported_with_its_stderr() -> None:
    service = SampleService(port=6379)
    with pytest.raises(SampleServiceError) as caught:
        service.start()
    assert str(caught.value) == (
        "the sample service exited with status 2 before it was ready:\n"
        "app.py: error: refusing port 6379: it belongs to Redis on this machine; use --port 0 for a free port"
    )
    assert not service.running


def test_a_child_that_is_not_ready_in_time_is_killed() -> None:
    service = SampleService(ready_timeout=0.0)
    with pytest.raises(SampleServiceError, match=r"^the sample service printed no READY line within 0 s:\n"):
        service.start()
    assert not service.running


def test_starting_twice_is_an_error() -> None:
    with SampleService() as service, pytest.raises(SampleServiceError, match="already started"):
        service.start()


def test_stop_kills_a_child_that_does_not_exit_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sample_service, "STOP_GRACE_S", 0.0)  # no grace: SIGKILL follows SIGTERM at once
    service = SampleService()
    service.start()
    pid = service.pid
    service.stop()
    assert not psutil.pid_exists(pid)
