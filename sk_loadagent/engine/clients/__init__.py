"""Clients: the unit of work a flow step runs, behind one small public interface.

A client connects once, then carries one call at a time (one step of an iteration, or one message) and
returns its ``Reply``; the engine keeps the clock (every call is timed from the moment its step was due),
classifies failures, counts checks and writes the artifacts. HTTP steps use the engine's own clients (the
fast HTTP/1.1 path, or httpx for HTTP/2 and proxies); a step with ``surface: mypkg.mod:MyClient`` uses yours:

    from sk_loadagent.engine.clients import Call, Client, ClientTarget, Reply

    class MyClient(Client):
        async def connect(self, target: ClientTarget) -> None:
            self.conn = await mylib.connect(target.base_url, timeout=target.timeout)

        async def call(self, call: Call) -> Reply:
            answer = await self.conn.send(call.params["message"])
            return Reply(status=200 if answer.ok else 500, body=answer.raw)

        async def close(self) -> None:
            await self.conn.close()

Raise ``ClientError("timeout")`` (or any error class name) to fail a call with that class; other exceptions
are classified (``TimeoutError`` → timeout, ``ConnectionRefusedError`` → connectRefused, ``ConnectionError``
→ reset, ``ssl.SSLError`` → tls) or counted as ``clientError`` with their message in the run's warnings.
"""

from sk_loadagent.engine.clients.base import Call, Client, ClientError, ClientTarget, Reply, load_client

__all__ = ["Call", "Client", "ClientError", "ClientTarget", "Reply", "load_client"]
