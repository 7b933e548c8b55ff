"""One structlog setup: JSON lines into the run directory, short readable lines on the console."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn, TextIO

import structlog
from structlog.typing import EventDict

_file_handle: TextIO | None = None
_LEVELS = {"debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "exception": 40, "critical": 50}


def configure_logging(log_file: Path | None = None, *, console_level: str = "warning") -> None:
    """Route every structlog event to a JSON-lines file (all levels) and to stderr (>= console_level)."""
    global _file_handle
    if _file_handle is not None:
        _file_handle.close()
        _file_handle = None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        _file_handle = log_file.open("a", encoding="utf-8")
    console_min = _LEVELS[console_level]
    console = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    to_json = structlog.processors.JSONRenderer()

    def fan_out(_: Any, method: str, event: EventDict) -> NoReturn:
        if _file_handle is not None:
            line = to_json(None, method, dict(event))
            assert isinstance(line, str)  # the default serializer, json.dumps, makes text
            _file_handle.write(line + "\n")
            _file_handle.flush()
        if _LEVELS.get(method, 20) >= console_min:
            print(console(None, method, dict(event)), file=sys.stderr)
        raise structlog.DropEvent

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            fan_out,
        ],
        cache_logger_on_first_use=False,
    )


def close_logging() -> None:
    configure_logging(None)
