"""The bench's own HTTP/1.1 targets on 127.0.0.1, run as a child process: ``python _engine_servers.py KIND``.

``fast``   answers every request at once with ``200 ok`` (uvloop + httptools): the fallback when nginx is
           missing, and the tiny target of the smoke test.
``delay``  answers after ``--delay`` seconds (the 1 ms server of the overhead check).
``freeze`` answers 1 ms after arrival except during [4, 5), [9, 10), ... s of uptime (``--period`` scales
           the cycle), when it answers
           nothing; a request that arrives in a freeze, or whose 1 ms would end in one, is answered when the
           freeze ends (+1 ms if it arrived in it). ``due`` is that schedule, shared with the closed-form
           truth.

Writes ``PORT T0`` (T0 = loop.time() at the server's start) to ``--state`` once it listens. With ``--cert``
(a PEM file holding the certificate and its key) it serves HTTPS instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import ssl
import sys
from typing import cast

import httptools

PERIOD, FREEZE_AT, BASE = 5.0, 4.0, 0.001  # the peer measurements' schedule: 1 s frozen in every 5 s
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


def due(arrival: float, period: float = PERIOD, freeze_at: float = FREEZE_AT) -> float:
    """Seconds since the freeze server's start at which a request arriving at ``arrival`` is answered."""
    k, phase = divmod(arrival, period)
    if phase >= freeze_at:
        return (k + 1) * period + BASE
    done = arrival + BASE
    k2, phase2 = divmod(done, period)
    return (k2 + 1) * period if phase2 >= freeze_at else done


class _Http(asyncio.Protocol):
    """Parses requests with httptools and hands each complete one to ``answer``."""

    def __init__(self, server: _Server) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_message_complete(self) -> None:
        self.server.answer(self)

    def respond(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(RESPONSE)


class _Server:
    def __init__(self, kind: str, delay: float, period: float, loop: asyncio.AbstractEventLoop) -> None:
        self.kind = kind
        self.delay = delay
        self.period = period
        self.freeze_at = period * FREEZE_AT / PERIOD
        self.loop = loop
        self.t0 = loop.time()

    def answer(self, conn: _Http) -> None:
        if self.kind == "fast":
            conn.respond()
        elif self.kind == "delay":
            self.loop.call_later(self.delay, conn.respond)
        else:
            arrival = self.loop.time() - self.t0
            self.loop.call_at(self.t0 + due(arrival, self.period, self.freeze_at), conn.respond)


async def serve(kind: str, port: int, delay: float, period: float, state: str, cert: str | None) -> None:
    loop = asyncio.get_running_loop()
    server = _Server(kind, delay, period, loop)
    context = None
    if cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert)
    listener = await loop.create_server(lambda: _Http(server), "127.0.0.1", port, backlog=4096, ssl=context)
    bound = listener.sockets[0].getsockname()[1]
    with open(state + ".tmp", "w") as out:
        out.write(f"{bound} {server.t0!r}\n")
    os.replace(state + ".tmp", state)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    loop.add_signal_handler(signal.SIGINT, stop.set_result, None)
    async with listener:
        await stop


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=("fast", "delay", "freeze"))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.001)
    parser.add_argument("--period", type=float, default=PERIOD, help="freeze cycle; the last fifth is frozen")
    parser.add_argument("--state", required=True)
    parser.add_argument("--cert", help="serve HTTPS with this PEM (certificate and key)")
    args = parser.parse_args(argv)
    served = serve(args.kind, args.port, args.delay, args.period, args.state, args.cert)
    if args.kind == "fast":
        import uvloop

        uvloop.run(served)
    else:
        # The stdlib loop for timed answers, as in the peer measurements (libuv timers have 1 ms steps).
        asyncio.run(served)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
