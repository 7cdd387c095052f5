"""Issue 8: memory survives outages, errors fail, and only runs of the same load are compared.

- An outage (every connection reset) fails and is alerted, but never becomes a baseline nor counts toward an
  obsolete one: after three outages a release 50× slower still fails against the untouched baseline, on
  every kind of store.
- A service answering 503 to everything fails, whatever the gate's degraded setting.
- A 5 rps run after a 50 rps baseline is compared with nothing and says why.
"""

from __future__ import annotations

from typing import Any

import pytest

from sk_loadagent.analysis import gate
from sk_loadagent.cli.report import summary_table
from sk_loadagent.errors import InputError
from sk_loadagent.memory import MemoryStore, SeriesKey
from sk_loadagent.models.metrics import LatencySummary, PerfMetrics, TimelinePoint
from sk_loadagent.publish.artifacts import alert
from sk_loadagent.suite.assemble import suite_metrics
from sk_loadagent.suite.remember import push_test
from sk_loadagent.suite.sources import Sources


def _failing(kit, errors: dict[str, int], *, seed: int, latency: LatencySummary | None = None) -> PerfMetrics:
    """A 10 s run at 100 rps (the load of ``kit.measured``) in which every request failed as ``errors``
    say."""
    requests = sum(errors.values())
    return PerfMetrics(
        trace_id=f"failing-{seed}",
        module_id=kit.MODULE,
        edition_id=kit.EDITION,
        test_type="load",
        test_index=0,
        endpoint=kit.ENDPOINT,
        latency=latency,
        rps=0.0,
        failed_rps=requests / 10,
        target_rps=100.0,
        requests=requests,
        error_rate=1.0,
        errors=errors,
        timeline=[TimelinePoint(t=float(i), rps=0.0, errors=requests // 10) for i in range(10)],
        test_duration=10.0,
    )


def test_an_outage_never_erases_the_baseline_on_any_store(kit, any_store: MemoryStore) -> None:
    def run(test: PerfMetrics) -> tuple[PerfMetrics, dict[str, Any]]:
        verdict = kit.judged(test, any_store, Sources())
        return verdict, push_test(verdict, any_store)

    good, pushed = run(kit.measured(20, seed=1))
    assert (good.status, pushed["baseline"]) == ("pass", True)

    outages = [run(_failing(kit, {"reset": 1000}, seed=10 + i)) for i in range(3)]
    for verdict, stored in outages:
        assert verdict.status == "fail"
        assert verdict.infrastructure_failure is not None
        assert verdict.infrastructure_failure.startswith(
            "infrastructure failure: 1,000 of 1,000 requests failed"
        )
        assert verdict.regression is False
        assert (stored["infrastructureFailure"], stored["baseline"], stored["baselineObsolete"]) == (
            True,
            False,
            False,
        )
    baseline = any_store.baseline(kit.KEY)
    assert baseline is not None
    assert baseline.run_id == pushed["runId"]
    # The printed table does not call an outage a regression: it was not judged against the baseline.
    assert summary_table(outages[0][0]).splitlines()[2].endswith("not judged (infrastructure failure)")
    raised = alert(suite_metrics([outages[0][0]]))  # reported and alerted as what it is
    assert raised is not None
    assert raised.triggered_by == "infrastructure-failure"
    assert raised.cause().startswith("infrastructure failure: 1,000 of 1,000 requests failed (100 %)")

    # The next release is 50× slower: it is compared with the untouched baseline and fails.
    slow, stored = run(kit.measured(1000, seed=2))
    comparison = slow.baseline_comparison
    assert comparison is not None
    assert (comparison.exploratory, comparison.regressed, comparison.baseline_run_id) == (
        False,
        True,
        pushed["runId"],
    )
    assert comparison.delta_latency_p95 is not None
    assert int(comparison.delta_latency_p95.strip("+%")) > 4000
    assert comparison.previous_run_id == pushed["runId"]  # the outages are no previous build
    assert (slow.status, slow.regression, stored["baseline"]) == ("fail", True, False)
    assert not gate([slow], fail_on_degraded=False).passed
    assert [(r.status, r.infrastructure_failure, r.is_baseline) for r in any_store.series(kit.KEY)] == [
        ("pass", False, True),
        ("fail", True, False),
        ("fail", True, False),
        ("fail", True, False),
        ("fail", False, False),
    ]


def test_a_service_failing_every_request_fails_even_when_degraded_may_pass(kit) -> None:
    fast_503s = LatencySummary(p50=2.0, p95=3.0, p99=4.0)
    for errors in ({"http5xx": 1000}, {"http4xx": 1000}):
        failing = _failing(kit, errors, seed=1, latency=fast_503s).model_copy(update={"cpu_usage_pct": 20.0})
        verdict = kit.judged(failing, None, Sources())
        assert (verdict.status, verdict.infrastructure_failure) == ("fail", None)
        assert "no request succeeded (error rate 100 %): fail" in (verdict.reasons or [])
        # The score alone would say degraded (no throughput, no error budget): the error rule decides.
        assert (verdict.performance_score, verdict.score_status) == (0.55, "degraded")
        result = gate([verdict], fail_on_degraded=False)
        assert (result.passed, result.reasons[-1]) == (False, "load /checkout/submit: status fail")


def test_a_run_under_another_load_is_compared_with_nothing_and_says_why(
    kit, store: MemoryStore, judge_and_push
) -> None:
    fifty, pushed = judge_and_push(kit.measured(20, seed=1, rps=50.0))
    assert (fifty.status, pushed["baseline"], fifty.load_profile) == ("pass", True, "open 50 rps; under 15 s")

    five, stored = judge_and_push(kit.measured(20, seed=2, rps=5.0))
    comparison = five.baseline_comparison
    assert comparison is not None
    assert (comparison.exploratory, comparison.regressed, comparison.metrics) == (True, False, None)
    assert comparison.notes == [
        "no baseline: exploratory",
        "no baseline under this load (open 5 rps; under 15 s); the scope's baseline under open 50 rps; under "
        "15 s is a different load: not comparable, so not compared",
    ]
    assert (five.status, five.regression) == ("pass", False)
    # Each load keeps its own baseline.
    assert (stored["baseline"], stored["key"]["loadProfile"]) == (True, "open 5 rps; under 15 s")
    fifty_key = SeriesKey(kit.EDITION, kit.MODULE, "load", kit.ENDPOINT, "open 50 rps; under 15 s")
    baseline = store.baseline(fifty_key)
    assert baseline is not None
    assert baseline.run_id == pushed["runId"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("failedRps", -1, "perfMetrics: failedRps: expected a number greater than or equal to 0, got -1"),
        ("infrastructureFailure", True, "perfMetrics: infrastructureFailure: expected text, got true"),
        ("loadProfile", 50, "perfMetrics: loadProfile: expected text, got 50"),
    ],
)
def test_bad_new_perf_metrics_fields_are_refused_by_name(field: str, value: object, message: str) -> None:
    from sk_loadagent.skills._coerce import perf_metrics

    with pytest.raises(InputError) as caught:
        perf_metrics({"moduleId": "CheckoutService", field: value})
    assert str(caught.value) == message
