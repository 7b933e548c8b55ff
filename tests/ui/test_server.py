"""The dashboard's server without a browser: who may ask, and what its answers are."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from ui_support import WAIT_S, Level2Run

from bilevel_evolve.engine.ui.app import TOKEN_COOKIE, create_app, new_token
from bilevel_evolve.engine.ui.cli import bind, is_loopback, url_host
from bilevel_evolve.engine.ui.dashboard import Dashboard
from bilevel_evolve.engine.ui.target import resolve_target
from bilevel_evolve.ground.errors import UsageError


@contextmanager
def serving(run_dir: Path, token: str | None = None) -> Iterator[int]:
    """The app on a free loopback port in this process; yields the port."""
    sock = bind("127.0.0.1", 0)
    dashboard = Dashboard(resolve_target(run_dir, None))
    server = uvicorn.Server(uvicorn.Config(create_app(dashboard, token), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(WAIT_S)
        dashboard.close()
        sock.close()


def ask(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[http.client.HTTPResponse, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_S)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    return response, response.read()


def status(port: int, path: str, headers: dict[str, str] | None = None) -> int:
    return ask(port, path, headers)[0].status


def test_state_is_json_with_its_content_type_and_unchanged_when_nothing_moved(command_run: Path) -> None:
    with serving(command_run) as port:
        response, raw = ask(port, "/api/state")
        assert response.status == 200 and response.getheader("content-type") == "application/json"
        state = json.loads(raw)
        assert state["kind"] == "run" and state["run"]["status"] == "completed"
        _, raw = ask(port, f"/api/state?since={state['version']}")
        assert json.loads(raw) == {"version": state["version"], "unchanged": True}


def test_the_page_loads_scripts_from_this_server_only(command_run: Path) -> None:
    with serving(command_run) as port:
        response, page = ask(port, "/")
        assert response.status == 200 and (response.getheader("content-type") or "").startswith("text/html")
        assert b"http" not in page  # no CDN, no other origin
        assert "script-src 'self'" in (response.getheader("content-security-policy") or "")
        response, plotly = ask(port, "/static/plotly.min.js")
        assert response.status == 200 and len(plotly) > 1_000_000
        assert (response.getheader("content-type") or "").startswith("text/javascript")
        assert status(port, "/static/app.py") == 404


def test_on_loopback_a_request_for_another_host_name_is_refused(command_run: Path) -> None:
    """A page elsewhere reaching the port through DNS rebinding sends its own host name."""
    with serving(command_run) as port:
        assert status(port, "/api/state", {"Host": f"localhost:{port}"}) == 200
        assert status(port, "/api/state", {"Host": f"evil.example:{port}"}) == 403


def test_with_a_token_every_request_needs_it_then_the_cookie_carries_it(command_run: Path) -> None:
    token = new_token()
    with serving(command_run, token) as port:
        assert status(port, "/") == 403
        assert status(port, "/api/state?token=wrong") == 403
        response, _ = ask(port, f"/?token={token}")
        assert response.status == 200
        cookie = response.getheader("set-cookie") or ""
        assert cookie.startswith(f"{TOKEN_COOKIE}={token}") and "HttpOnly" in cookie
        assert status(port, "/api/state", {"Cookie": f"{TOKEN_COOKIE}={token}"}) == 200


def test_bad_names_are_refused_as_json_errors(level2_run: Level2Run) -> None:
    with serving(level2_run.run_dir) as port:
        response, raw = ask(port, "/api/mechanism?id=../../etc/passwd")
        assert response.status == 404 and response.getheader("content-type") == "application/json"
        assert "not a mechanism id" in json.loads(raw)["error"]
        assert status(port, "/api/state?run=../other") == 404
        assert status(port, "/api/trial?step=-1") == 404


def test_only_loopback_addresses_go_without_a_token() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("myhost")
    assert url_host("::1") == "[::1]" and url_host("0.0.0.0") == socket.gethostname()


def test_a_folder_that_is_neither_run_nor_ablation_nor_archive_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="neither a run"):
        resolve_target(tmp_path, None)
    with pytest.raises(UsageError, match="no mechanism archive"):
        resolve_target(None, tmp_path)
