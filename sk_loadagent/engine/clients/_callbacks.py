"""What the engine's connections on callbacks share (HTTP/1.1, WebSocket, gRPC over HTTP/2).

A ``CallbackConnection`` carries one call at a time. Its owner writes a call with the connection's ``send``;
the connection keeps the reply's ``status``, ``body``, ``headers`` and byte counts, then calls
``answered()``, or ``failed(outcome)`` when the call ends without a reply. The callback flow driver
(``engine._flow_fast``) reads those attributes straight from the connection; ``FutureAnswers`` turns the two
callbacks into a future per call for the ``Client`` interface (flows on tasks).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sk_loadagent.engine.clients.base import Client, ClientError, Reply
from sk_loadagent.engine.result import OUTCOME_NAMES, Outcome

_perf_counter = time.perf_counter


class CallbackConnection(asyncio.Protocol):
    """The state of the call in flight and of its reply, and the owner's two callbacks."""

    def __init__(self, answered: Callable[[], None], failed: Callable[[Outcome], None]) -> None:
        self._answered = answered
        self._failed = failed
        self._tr: asyncio.Transport | None = None
        self.busy = False  # a call is in flight
        self.broken = False  # not to be used again: the owner closes it and opens another
        self.status: int | None = None
        self.body = b""
        self.headers: dict[str, str] = {}
        self.bytes_in = 0
        self.bytes_out = 0

    def drop(self) -> None:
        """Close the connection (nothing is in flight, or what is no longer matters)."""
        raise NotImplementedError


class FutureAnswers(CallbackConnection, Client):
    """A connection on callbacks as a ``Client``: ``call`` returns a future the callbacks settle.

    A subclass passes ``self._resolve`` and ``self._reject`` as the callbacks and sets ``_waiter`` when it
    sends; ``_want_headers`` says whether the reply carries the headers kept."""

    _waiter: asyncio.Future[Reply] | None = None
    _want_headers = False

    def _resolve(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(
                Reply(
                    status=self.status,
                    body=self.body,
                    headers=self.headers if self._want_headers else {},
                    bytes_in=self.bytes_in,
                    bytes_out=self.bytes_out,
                    received=_perf_counter(),
                )
            )

    def _reject(self, outcome: Outcome) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ClientError(OUTCOME_NAMES[outcome]))

    async def close(self) -> None:
        self.drop()


__all__ = ["CallbackConnection", "FutureAnswers"]
