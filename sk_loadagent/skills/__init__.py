"""The eight skills of spec cycle 6 as Semantic Kernel plugins. Each is a thin wrapper over SK-free
domain code, and each can be added to another agent's kernel on its own::

    kernel.add_plugin(PerformanceScorer(), plugin_name="PerformanceScorer")

A bad argument raises ``sk_loadagent.errors.InputError`` naming the argument, the field and what was
expected; ``kernel.invoke`` raises it wrapped in Semantic Kernel's ``KernelInvokeException``, and
``sk_loadagent.errors.root_cause(exc)`` returns it.
"""

from sk_loadagent.skills._runs import RunResultCache, RunResults
from sk_loadagent.skills.load_runner_executor import LoadRunnerExecutor
from sk_loadagent.skills.memory_pusher import MemoryPusher
from sk_loadagent.skills.perf_metric_collector import PerfMetricCollector
from sk_loadagent.skills.performance_scorer import PerformanceScorer
from sk_loadagent.skills.preview_publisher import PreviewPublisher
from sk_loadagent.skills.regression_comparer import RegressionComparer
from sk_loadagent.skills.test_plan_interpreter import TestPlanInterpreter
from sk_loadagent.skills.threshold_evaluator import ThresholdEvaluator

__all__ = [
    "LoadRunnerExecutor",
    "MemoryPusher",
    "PerfMetricCollector",
    "PerformanceScorer",
    "PreviewPublisher",
    "RegressionComparer",
    "RunResultCache",
    "RunResults",
    "TestPlanInterpreter",
    "ThresholdEvaluator",
]
