"""``sk-loadagent dashboard``: the Studio dashboard over a memory store, served on loopback until Ctrl-C;
and the pieces ``run --dashboard`` uses to serve the live view of its suite."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sk_loadagent.agent._extras import require
from sk_loadagent.memory import MissingStoreError, NewerStoreError, check_store_url, open_store, redact

if TYPE_CHECKING:
    from sk_loadagent.dashboard import LiveServer

FEATURE = "sk-loadagent dashboard"
LIVE_FEATURE = "run --dashboard"


def add_dashboard_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--memory", metavar="URL", help="memory store (as for run)")
    p.add_argument(
        "--port", type=int, default=8765, metavar="P", help="port to serve on (default 8765; 0: a free one)"
    )
    p.add_argument(
        "--host",
        metavar="H",
        help="address to serve on (default 127.0.0.1: this machine only; name another to share it)",
    )


def require_extra(feature: str) -> None:
    """Starlette and uvicorn, or bad input naming ``pip install 'sk-loadagent[dashboard]'``."""
    require("starlette", "dashboard", feature)
    require("uvicorn", "dashboard", feature)


def check_store(url: str) -> str | None:
    """Bad input for what is no store URL or no store; a note for a store that is missing or newer (the
    dashboard then shows an empty state or says so, and reads the store once it is there)."""
    check_store_url(url)
    try:
        open_store(url, create=False).close()
    except (MissingStoreError, NewerStoreError) as exc:
        return str(exc)
    return None


def dashboard_command(args: argparse.Namespace, memory: str) -> int:
    require_extra(FEATURE)
    from sk_loadagent.dashboard import create_app
    from sk_loadagent.dashboard._serve import bind, server, url_of

    note = check_store(memory)
    sock = bind(args.host, args.port)
    app = create_app(memory)
    print(f"Dashboard of {redact(memory)}: {url_of(sock)}  (Ctrl-C stops it)", flush=True)
    if note:
        print(f"  note: {note}", flush=True)
    try:
        asyncio.run(server(app, own_signals=True).serve(sockets=[sock]))
    finally:
        app.state.store.close()
        sock.close()
    print("Dashboard stopped.", file=sys.stderr)
    return 0


def live_view_wanted(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "dashboard", False) or getattr(args, "dashboard_port", None) is not None)


async def start_live_view(args: argparse.Namespace) -> LiveServer:
    """The live view of this run, serving on 127.0.0.1 before any load is sent; its URL printed."""
    require_extra(LIVE_FEATURE)
    from sk_loadagent.dashboard import LiveFeed, LiveServer
    from sk_loadagent.dashboard._serve import bind

    port = args.dashboard_port if args.dashboard_port is not None else 0
    live = LiveServer(LiveFeed(f"{Path(args.plan).name}"), bind(None, port, "--dashboard-port"))
    await live.start()
    print(f"Live view: {live.url}  (updates each second; stops when the run ends)", flush=True)
    return live
