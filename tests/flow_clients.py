"""Users' own clients for the flow tests (``surface: clients:EchoClient``): importable by the workers too."""

from __future__ import annotations

import asyncio
import json

from sk_loadagent.engine.clients import Call, Client, ClientError, ClientTarget, Reply


class EchoClient(Client):
    """Answers each call with its params as a JSON body after ``params.delay`` seconds (default none)."""

    connects = 0

    async def connect(self, target: ClientTarget) -> None:
        type(self).connects += 1
        self.target = target

    async def call(self, call: Call) -> Reply:
        delay = float(call.params.get("delay", 0))
        if delay:
            await asyncio.sleep(delay)
        body = json.dumps({"params": call.params, "step": call.step, "vu": call.vu}).encode()
        return Reply(status=int(call.params.get("status", 200)), body=body, bytes_in=len(body))


class FailingClient(Client):
    """Fails every call: with the error class in ``params.raise`` (a ClientError), or a ValueError."""

    async def call(self, call: Call) -> Reply:
        kind = call.params.get("raise")
        if kind:
            raise ClientError(str(kind))
        raise ValueError("the client broke")


class StatuslessClient(Client):
    """A protocol without statuses: passes unless a check fails."""

    async def call(self, call: Call) -> Reply:
        return Reply(body=b"queued")
