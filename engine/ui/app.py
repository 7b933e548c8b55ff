"""The web app: the page and its three files, and a JSON API the page polls.

On loopback it answers only requests addressed to a loopback name (so a web page elsewhere cannot
reach it through DNS rebinding); bound elsewhere, every request must carry the token printed at start
(in the URL once, then in a cookie the first answer sets).
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Awaitable, Callable
from functools import cache
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bilevel_evolve.engine.ui.dashboard import Dashboard
from bilevel_evolve.ground.errors import EvolveError, UsageError

TOKEN_COOKIE = "evolve_ui_token"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
NO_STORE = {"Cache-Control": "no-store"}  # the page and its data change as the run goes; the scripts do not
STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
SECURITY_HEADERS = {
    # Scripts only from this server; Plotly sets inline styles on what it draws.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def create_app(dashboard: Dashboard, token: str | None = None) -> Starlette:
    """`token`: required on every request (binding beyond loopback); None: loopback Host names only."""

    async def index(request: Request) -> Response:
        return Response(_static_text("index.html"), media_type="text/html; charset=utf-8", headers=NO_STORE)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name == "plotly.min.js":
            return Response(_plotly_js(), media_type="text/javascript; charset=utf-8")
        if name not in STATIC:
            return PlainTextResponse("not found", status_code=404)
        return Response(_static_text(name), media_type=f"{STATIC[name]}; charset=utf-8")

    def state(request: Request) -> Response:
        snapshot = dashboard.state(request.query_params.get("run") or None)
        if request.query_params.get("since") == snapshot["version"]:
            return json_response({"version": snapshot["version"], "unchanged": True})
        return json_response(snapshot)

    def trial(request: Request) -> Response:
        step = request.query_params.get("step", "")
        if not step.isdigit():
            raise UsageError(f"step {step!r} is not a trial step", "pass ?step=N")
        return json_response(dashboard.trial(int(step), request.query_params.get("run") or None))

    def mechanism(request: Request) -> Response:
        return json_response(dashboard.mechanism(request.query_params.get("id", "")))

    routes = [Route("/", index), Route("/static/{name}", static), Route("/api/state", state),
              Route("/api/trial", trial), Route("/api/mechanism", mechanism)]
    return Starlette(routes=routes, middleware=[Middleware(BaseHTTPMiddleware, dispatch=_guard(token))],
                     exception_handlers={EvolveError: _error})


def new_token() -> str:
    return secrets.token_urlsafe(24)


def json_response(payload: Any, status_code: int = 200) -> Response:
    body = json.dumps(_finite(payload), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(body, status_code=status_code, media_type="application/json", headers=NO_STORE)


def _guard(token: str | None) -> Callable[[Request, RequestResponseEndpoint], Awaitable[Response]]:
    async def dispatch(request: Request, call_next: RequestResponseEndpoint) -> Response:
        given = request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE) or ""
        if token is not None and not secrets.compare_digest(given.encode(), token.encode()):
            return PlainTextResponse("forbidden: open the URL with the token that `evolve ui` printed",
                                     status_code=403)
        if token is None and _host_name(request.headers.get("host", "")) not in LOOPBACK_NAMES:
            return PlainTextResponse("forbidden: this dashboard answers on a loopback address only",
                                     status_code=403)
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        if token is not None and request.query_params.get("token"):
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    return dispatch


def _host_name(host: str) -> str:
    """The name in a Host header, without its port ("[::1]:8000" -> "::1")."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


async def _error(request: Request, exc: Exception) -> Response:
    status = 404 if isinstance(exc, UsageError) else 500
    text = exc.render() if isinstance(exc, EvolveError) else str(exc)
    return json_response({"error": text}, status_code=status)


def _finite(value: Any) -> Any:
    """Strict JSON: a non-finite float (a diverged metric) becomes null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _static_text(name: str) -> str:
    return resources.files("bilevel_evolve.engine.ui.static").joinpath(name).read_text(encoding="utf-8")


@cache
def _plotly_js() -> str:
    """Plotly's bundle from the installed wheel (what plotly.offline.get_plotlyjs reads): no CDN."""
    return resources.files("plotly").joinpath("package_data", "plotly.min.js").read_text(encoding="utf-8")
