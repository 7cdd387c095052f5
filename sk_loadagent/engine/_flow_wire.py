"""A flow step's HTTP/1.1 request compiled to bytes: what the callback path writes for each step.

The request line, the headers and the body are laid out once, in the order the fast client writes a ``Call``
(``clients._http.request_head``: the step's headers, then its trace context, then the length), as one
template whose reference-free pieces are literal text. A step without references is its bytes, built once;
the others render only their references. A sampled iteration's step puts its own traceparent value in.
"""

from __future__ import annotations

from collections.abc import Sequence

from sk_loadagent.engine._flow import CompiledStep, IterationState, Template
from sk_loadagent.engine._trace import TRACEPARENT
from sk_loadagent.engine.clients._http import BODY_METHODS, keeps


class RequestWire:
    """One step's request bytes, rendered per iteration (raises MissingValue or BadValue as ``call`` does)."""

    __slots__ = ("_around", "_body", "_body_method", "_head", "_length", "_one", "_static", "keeps", "traced")

    def __init__(self, step: CompiledStep, host_line: str, trace: Sequence[tuple[str, str]]) -> None:
        assert step.path is not None, "an HTTP step"
        self.keeps = keeps(step.want_body, step.want_headers)
        self.traced = bool(trace)
        self._body = step.body
        self._body_method = step.method in BODY_METHODS
        # Whether the head may say a length (a body, or a method that carries one, 0 then): it is known once
        # the body is rendered, so the blank line that ends the head is written then; otherwise it is the
        # template's last piece.
        self._length = step.body is not None or self._body_method
        pieces: list[str | Template] = [f"{step.method} ", step.path, host_line]
        for name, value in step.headers:
            pieces += (f"{name}: ", value, "\r\n")
        lines = [f"{name}: {value}\r\n" for name, value in trace]
        end = [] if self._length else ["\r\n"]
        self._head = Template.joined([*pieces, *lines, *end])
        self._one = self._head.one  # the usual head: one reference (a token, an id) between two texts
        # A sampled iteration's head: what comes before and after the traceparent value.
        self._around: tuple[Template, Template] | None = None
        for at, (name, _) in enumerate(trace):
            if name == TRACEPARENT:
                before = [*pieces, *lines[:at], f"{name}: "]
                self._around = (Template.joined(before), Template.joined(["\r\n", *lines[at + 1 :], *end]))
        self._static: bytes | None = None
        if self._head.static is not None and (step.body is None or step.body.static is not None):
            self._static = self.render(IterationState(0, 0, ()), None)

    def render(self, it: IterationState, traceparent: str | None) -> bytes:
        """The request of this step in iteration ``it``; ``traceparent``: a sampled iteration's span."""
        if traceparent is None or self._around is None:
            if self._static is not None:
                return self._static
            one = self._one
            if one is not None:
                text, read, rest = one
                head = text + read(it) + rest
            else:
                head = self._head.render(it)
        else:
            before, after = self._around
            head = before.render(it) + traceparent + after.render(it)
        if not self._length:
            return head.encode("latin-1")
        body = self._body.render(it).encode() if self._body is not None else b""
        if body or self._body_method:
            return (head + f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body
        return (head + "\r\n").encode("latin-1")


__all__ = ["RequestWire"]
