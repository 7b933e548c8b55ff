"""`evolve replay ID --trace RUN_DIR/trace.jsonl`: an archived mechanism, alone, over a recorded trace."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from bilevel_evolve.ground.errors import EXIT_FAILED, EXIT_OK
from bilevel_evolve.ground.untrusted import for_markup

if TYPE_CHECKING:
    from bilevel_evolve.engine.analysis.mechanism_replay import ReplayReport


def add_replay_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay an archived mechanism in a container over a recorded trace")
    p.add_argument("mechanism", help="mechanism id or unique prefix (see `evolve archive list`)")
    p.add_argument("--trace", type=Path, required=True, help="RUN_DIR/trace.jsonl (its own run or another)")
    p.add_argument("--archive", type=Path, help="archive directory (default: $EVOLVE_ARCHIVE or runs/archive)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.add_argument("--runtime", choices=["container", "host"], default="container",
                   help="container (default) or unconfined host processes, for trusted code only")
    p.set_defaults(handler=_cmd_replay)


def _cmd_replay(args: argparse.Namespace) -> int:
    from bilevel_evolve.engine.analysis.mechanism_replay import replay_mechanism
    from bilevel_evolve.engine.mechanisms.model import MechanismModel
    from bilevel_evolve.engine.wiring.assembly import HOST_RUNTIME_WARNING
    from bilevel_evolve.mechanism_archive.archive import Archive
    from bilevel_evolve.mechanism_archive.layout import default_archive_dir
    from bilevel_evolve.sandbox.hosts.base import LocalProcessHost, MechanismHost

    archive = Archive.open(args.archive or default_archive_dir())
    try:
        mech_id = archive.resolve(args.mechanism)
        record = archive.get(mech_id)
        source = archive.source(mech_id)  # the value a mechanism host loads, checked against its id
    finally:
        archive.close()
    host: MechanismHost
    with tempfile.TemporaryDirectory(prefix="evolve-replay-") as tmp:
        if args.runtime == "host":
            print(HOST_RUNTIME_WARNING, file=sys.stderr)
            host = LocalProcessHost(Path(tmp))
        else:
            from bilevel_evolve.sandbox.hosts.container import ContainerHost

            host = ContainerHost(run_id=f"replay-{mech_id[:12]}")
        # no model here: a ctx.llm request gets the offline stand-in's answer (engine/mechanisms/model.py)
        host.llm_service = lambda request: MechanismModel(None).answer(request).text
        try:
            report = replay_mechanism(mech_id, source, record.name, args.trace, host)
        finally:
            host.close()
    if args.json:
        print(json.dumps(report.model_dump(mode="json") | {"summary": report.summary(), "ok": report.ok},
                         indent=2))
    else:
        _print(report)
    return EXIT_OK if report.ok else EXIT_FAILED


def _print(report: ReplayReport) -> None:
    console = Console(width=None if Console().is_terminal else 160)
    # the name, the answers and the errors are the mechanism's: markup in them stays text
    table = Table(title=f"replay of {for_markup(report.name, 200)} ({report.mechanism[:12]}) — {report.mode}, "
                        f"{report.runtime}")
    for col in ("step", "hook", "recorded", "replayed", ""):
        table.add_column(col, overflow="fold")
    for c in report.calls:
        mark = "" if c.identical is None else ("[green]=[/]" if c.identical else "[red]≠[/]")
        replayed = c.error if c.error else json.dumps(c.replayed)
        recorded = "" if report.mode == "counterfactual" else json.dumps(c.recorded)
        table.add_row(str(c.step), for_markup(c.hook, 40), for_markup(recorded, 100), for_markup(replayed, 100), mark)
    console.print(table)
    console.print(report.summary())
