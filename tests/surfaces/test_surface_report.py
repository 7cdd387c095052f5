"""report.html shows a surface test's own figures (perf-metrics ``surface``) in a table of its section, and a
flow's steps' on surfaces (``steps[i].surface``) in a table each."""

from __future__ import annotations

from sk_loadagent.models.metrics import (
    CountFigures,
    DepthFigures,
    LatencySummary,
    PerfMetrics,
    StepMetrics,
    SurfaceFigures,
)
from sk_loadagent.publish.report.build import type_tables


def test_a_broker_tests_table_has_its_acks_depth_and_counts() -> None:
    surface = SurfaceFigures(
        kind="amqp",
        target="in>out",
        lag_from="intended-publish",
        time_to_ack=LatencySummary(p50=0.71, p99=2.05),
        acks=200,
        published=225,
        received=224,
        dead_letters=1,
        depth=[DepthFigures(name="in", samples=8, max=12.0, last=0.0)],
    )
    (table,) = type_tables(PerfMetrics(surface=surface))
    assert table.title == "amqp in>out: latency from the intended publish"
    assert table.rows == [
        ["time to ack", "p50 0.7 ms, p99 2.0 ms"],
        ["in", "depth max 12, last 0"],
        ["acks", "200"],
        ["published", "225"],
        ["received", "224"],
        ["deadLetters", "1"],
    ]


def test_a_unary_grpc_test_says_it_has_nothing_more() -> None:
    unary = SurfaceFigures(kind="grpc", target="svc/Book", lag_from="intended-call")
    streaming = unary.model_copy(
        update={"stream_messages": CountFigures(units=10, total=40, mean=4.0, max=4)}
    )
    assert type_tables(PerfMetrics(surface=unary))[0].rows == [
        ["figures", "none beyond the latency and errors above (a unary method)"]
    ]
    assert type_tables(PerfMetrics(surface=streaming))[0].rows == [
        ["streamMessages", "40 over 10 (mean 4.0, max 4)"]
    ]


def test_a_flows_steps_on_surfaces_each_have_their_table() -> None:
    """After the flow's own tables: one per step on a surface (an HTTP step has none), timed from the
    moment the step was due."""
    unary = SurfaceFigures(kind="grpc", target="svc/Book", lag_from="step-due")
    broker = SurfaceFigures(kind="nats", target=">booked", lag_from="step-due", received=10, published=0)
    steps = [
        StepMetrics(name="book", target="grpc svc/Book", requests=10, surface=unary),
        StepMetrics(name="pay", target="POST /pay", requests=10),
        StepMetrics(name="booked-event", target="nats >booked", requests=10, surface=broker),
    ]
    tables = type_tables(PerfMetrics(steps=steps))
    assert [(t.title, t.rows) for t in tables] == [
        (
            "Step book, grpc svc/Book: latency from the moment the step was due",
            [["figures", "none beyond the step's latency and errors (a unary method)"]],
        ),
        (
            "Step booked-event, nats >booked: latency from the moment the step was due",
            [["published", "0"], ["received", "10"]],
        ),
    ]
