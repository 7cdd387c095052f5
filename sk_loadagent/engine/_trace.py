"""W3C trace context on the run's requests: one sampled ``traceparent`` every ``every`` requests.

Every request carries a ``traceparent``; between samples it is the run's own, unsampled one (flags ``00``),
written once into the prebuilt request bytes, so an unsampled request costs nothing extra. A sampled request
(flags ``01``) gets fresh random trace and span ids spliced into the same bytes, and its trace id is recorded
with its latency (``Transport.traced``) so the slowest requests can be found among the service's spans.
Sampling is by counter, not by a random draw per request: the share is exact and the check is one decrement.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote

TRACEPARENT = "traceparent"
_VALUE_LENGTH = 55  # "00-" + 32 hex + "-" + 16 hex + "-" + 2 hex


@dataclass(frozen=True)
class TraceContext:
    """What the requests of one test carry: the unsampled traceparent and the run's scope as baggage.

    ``every``: one request in ``every`` is sampled (0: none). ``trace_id`` (the run's, e.g.
    ``proj-888-checkout``), ``test`` and ``step`` go into ``tracestate`` and ``baggage``.
    """

    every: int
    trace_id: str
    test: str
    run_trace: str  # 32 hex: the trace id of the unsampled traceparent
    step: str | None = None

    @classmethod
    def for_test(cls, sampling: float, trace_id: str, test: str) -> TraceContext:
        every = 0 if sampling <= 0 else max(1, round(1 / sampling))
        return cls(every=every, trace_id=trace_id, test=test, run_trace=os.urandom(16).hex())

    def headers(self, step: str | None = None) -> tuple[tuple[str, str], ...]:
        """The header lines of an unsampled request (``step``: a flow step's name)."""
        scope = [("traceId", self.trace_id), ("test", self.test)]
        if step is not None:
            scope.append(("step", step))
        baggage = ",".join(f"sk.{name}={quote(value, safe='')}" for name, value in scope)
        return (
            (TRACEPARENT, f"00-{self.run_trace}-{'0' * 15}1-00"),
            ("tracestate", f"skload={quote(self.trace_id, safe='')}"),
            ("baggage", baggage),
        )


def sampled_ids() -> bytes:
    """48 hex digits: a fresh trace id (32) and the client's span id (16)."""
    return os.urandom(24).hex().encode("ascii")


def sampled_value(ids: bytes) -> bytes:
    """The traceparent value of a sampled request with ``ids`` from ``sampled_ids``."""
    return b"00-" + ids[:32] + b"-" + ids[32:] + b"-01"


def split_request(request: bytes) -> tuple[bytes, bytes]:
    """Prebuilt request bytes around their traceparent value: what comes before it and after it."""
    name = TRACEPARENT.encode("ascii") + b": "
    at = request.index(name) + len(name)
    return request[:at], request[at + _VALUE_LENGTH :]
