"""sk-loadagent as an MCP server, so that agents not built on Semantic Kernel can call the eight skills and
the LoadAgent plugin: Semantic Kernel's ``create_mcp_server_from_kernel`` over stdio, or over streamable
HTTP on loopback (the mcp SDK's session manager in Starlette, under uvicorn).

Tools are named ``<Plugin>-<function>`` (``PerformanceScorer-score_performance``, ``LoadAgent-run_suite``);
their input schemas are the skills' (``skills._schema``), and the MCP server validates arguments against them
before a call. The session's guard (``agent.guard``) applies to every call: the host's allow-list and
budget, ``interpret_plan`` reading only files inside the folder the server was started in, a refusal or an
invalid argument returned as an error result with its message, results as JSON text. One server process is
one session: the budget and the call cap count every client's calls.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semantic_kernel import Kernel

from sk_loadagent.agent._extras import require
from sk_loadagent.agent.guard import SessionGuard, guard_mcp_kernel
from sk_loadagent.agent.plugin import PLUGIN_NAME, LoadAgentPlugin
from sk_loadagent.agent.session import AgentConfig, Session
from sk_loadagent.planners.agent import build_kernel

if TYPE_CHECKING:
    from mcp.server.lowlevel import Server

SERVER_NAME = "sk-loadagent"
INSTRUCTIONS = (
    "Load and performance testing: LoadAgent-design_suite designs a plan, LoadAgent-run_suite runs and "
    "judges it (by planId) and returns a runId; the other LoadAgent tools read runs by id. The eight skill "
    "tools (TestPlanInterpreter-interpret_plan ... MemoryPusher-push_to_memory) are the steps of a run. "
    "Load goes only to loopback and the hosts this server allows, within its budget."
)


def mcp_kernel(config: AgentConfig) -> tuple[Kernel, SessionGuard]:
    """The eight skills and the LoadAgent plugin on one kernel, guarded for MCP clients."""
    kernel = build_kernel(store=config.store, out_dir=config.out_dir / "skills", options=config.options)
    session = Session(config)
    plugin = LoadAgentPlugin(session)
    kernel.add_plugin(plugin, plugin_name=PLUGIN_NAME)
    guard = SessionGuard(session, plugin, files_root=Path.cwd())
    guard_mcp_kernel(kernel, guard)
    return kernel, guard


def mcp_server(kernel: Kernel) -> Server[Any]:
    from semantic_kernel.connectors.mcp import create_mcp_server_from_kernel

    return create_mcp_server_from_kernel(
        kernel, server_name=SERVER_NAME, instructions=INSTRUCTIONS, use_plugin_names=True
    )


async def serve_stdio(server: Server[Any]) -> None:
    """Serve one client on this process's stdin and stdout until it closes them."""
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def loopback_socket(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (``port`` 0: a free one). The server never binds another address."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


async def serve_http(server: Server[Any], sock: socket.socket, ready: Callable[[str], None]) -> None:
    """Serve streamable HTTP at ``/mcp`` on ``sock`` until SIGINT or SIGTERM (uvicorn handles both)."""
    uvicorn = require("uvicorn", "mcp", "--http")
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.types import Receive, Scope, Send

    manager = StreamableHTTPSessionManager(app=server, stateless=True)

    async def handle(scope: Scope, receive: Receive, send: Send) -> None:
        await manager.handle_request(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            host, port = sock.getsockname()[:2]
            ready(f"http://{host}:{port}/mcp")
            yield

    app = Starlette(routes=[Mount("/mcp", app=handle)], lifespan=lifespan)
    http = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    await http.serve(sockets=[sock])
