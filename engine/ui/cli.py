"""`evolve ui`: serve the dashboard until Ctrl-C."""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import socket
import sys
from pathlib import Path

from bilevel_evolve.ground.errors import UsageError

DEFAULT_HOST = "127.0.0.1"
UI_EXTRA = ("starlette", "uvicorn", "plotly")  # the `ui` extra of pyproject.toml


def add_ui_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ui", help="live web dashboard of a run, an ablation or an archive",
                       description="Serve a dashboard that follows a run (or an ablation, or an archive) live: "
                       "curves, trials, mechanisms with their diffs, research sessions.")
    p.add_argument("target", nargs="?", type=Path, metavar="RUN_DIR|ABLATION_DIR",
                   help="a run or ablation directory (omit to browse --archive alone)")
    p.add_argument("--archive", type=Path, help="mechanism archive (default: the one the run or ablation names)")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help="address to bind (127.0.0.1); any other needs the token printed in the URL")
    p.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    p.set_defaults(handler=_cmd_ui)


def _cmd_ui(args: argparse.Namespace) -> int:
    missing = [name for name in UI_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"the dashboard needs the `ui` extra ({', '.join(missing)} missing)",
                         "pip install 'bilevel-evolve[ui]'")
    import uvicorn

    from bilevel_evolve.engine.ui.app import create_app, new_token
    from bilevel_evolve.engine.ui.dashboard import Dashboard
    from bilevel_evolve.engine.ui.target import resolve_target

    dashboard = Dashboard(resolve_target(args.target, args.archive))
    token = None if is_loopback(args.host) else new_token()
    sock = bind(args.host, args.port)
    port = sock.getsockname()[1]
    url = f"http://{url_host(args.host)}:{port}/" + (f"?token={token}" if token else "")
    print(f"dashboard: {url}  (Ctrl-C stops it)", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(dashboard, token), log_level="warning", access_log=False))
    try:
        server.run(sockets=[sock])
    finally:
        dashboard.close()
        sock.close()
    return 0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """The host part of the URL to print: this machine's name for "all interfaces", IPv6 in brackets."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        return socket.gethostname()
    return f"[{host}]" if address.version == 6 else host


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}",
                         "pick another --port, or --port 0 for a free one") from None
    sock.listen(128)
    return sock
