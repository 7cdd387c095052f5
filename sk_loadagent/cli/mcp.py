"""``sk-loadagent mcp``: the skills and the LoadAgent plugin served over MCP, on stdio (default) or on
streamable HTTP at ``http://127.0.0.1:PORT/mcp`` (``--http``); loopback only."""

from __future__ import annotations

import argparse
import logging
import sys

from sk_loadagent.cli.session_args import add_session_arguments, session_config


def add_mcp_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--http", action="store_true", help="serve streamable HTTP on 127.0.0.1 instead of stdio")
    p.add_argument("--port", type=int, default=0, metavar="N", help="the HTTP port (default: a free one)")
    add_session_arguments(p, out="perf/mcp", budget_seconds=1800.0, max_calls=500)


async def mcp_command(args: argparse.Namespace, memory: str) -> int:
    from sk_loadagent.agent.mcp_server import loopback_socket, mcp_kernel, mcp_server, serve_http, serve_stdio
    from sk_loadagent.errors import InputError
    from sk_loadagent.memory import open_store

    # Every failing tool call is already the client's error result; Semantic Kernel would also log each one.
    logging.getLogger("semantic_kernel").setLevel(logging.CRITICAL)
    if not 0 <= args.port <= 65535:
        raise InputError.single("--port", str(args.port), "a port from 0 (a free one) to 65535")
    store = None if args.no_memory else open_store(memory)
    try:
        kernel, _ = mcp_kernel(session_config(args, store))
        server = mcp_server(kernel)
        if not args.http:
            await serve_stdio(server)
            return 0
        try:
            sock = loopback_socket(args.port)
        except OSError as exc:
            raise InputError.single(
                "--port", str(args.port), "a free port on 127.0.0.1", exc.strerror
            ) from None

        def ready(url: str) -> None:
            print(f"sk-loadagent mcp: streamable HTTP at {url}", file=sys.stderr, flush=True)

        with sock:
            await serve_http(server, sock, ready)
        return 0
    finally:
        if store is not None:
            store.close()
