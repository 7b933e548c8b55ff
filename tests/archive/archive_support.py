"""Helpers shared by the archive tests (also imported by the subprocesses some tests start)."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import Any

from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.errors import EvolveError
from bilevel_evolve.mechanism_archive.archive import Archive
from bilevel_evolve.mechanism_archive.models import MechanismRecord

GATE_OK = {"ok": True, "filename": "m.py", "sha256": "", "violations": [], "hooks": ["propose"]}
BOX_OK = {"status": "PASSED", "reasons": [], "device": "cpu", "duration_s": 1.5}


def mechanism_source(tag: str, body: str = "        return None") -> str:
    return (f"class M{tag}:\n    name = 'm-{tag}'\n\n    def propose(self, ctx):\n{body}\n\n"
            f"MECHANISM = M{tag}\n")


def add(archive: Archive, tag: str, *, parents: tuple[str, ...] = (), status: str = "accepted",
        run_id: str = "run-a", source: str | None = None, **kw: Any) -> MechanismRecord:
    options: dict[str, Any] = {
        "name": f"m-{tag}", "class_name": f"M{tag}", "origin": "offline-recipe", "parents": parents,
        "run_id": run_id, "session": {"recipe": f"recipe-{tag}", "diagnosis": "stagnation"},
        "gate_report": GATE_OK, "box_report": BOX_OK, "status": status,
    }
    options.update(kw)
    return archive.add(MechanismSource.from_text(source if source is not None else mechanism_source(tag)), **options)


def raw_db(root: Path) -> sqlite3.Connection:
    """A connection that can tamper with the index: no foreign keys, append-only triggers dropped."""
    conn = sqlite3.connect(root / "index.sqlite", isolation_level=None)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    return conn


def object_dirs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "objects").glob("*/*") if p.is_dir())


def run_archive_cli(argv: list[str]) -> int:
    """Run `evolve archive ...` the way the `evolve` CLI does: through the CLI's main when it registers
    the archive command, else through our own add_archive_parser on a throwaway parser."""
    from bilevel_evolve.engine.cli import main as cli  # the module

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "archive" in sub.choices:
        return cli.main(argv)
    from bilevel_evolve.engine.cli.archive import add_archive_parser

    parser = argparse.ArgumentParser(prog="evolve")
    add_archive_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except EvolveError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return exc.exit_code
